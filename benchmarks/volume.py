"""Benchmark of volume style transfer (`painterly volume`): time and peak memory, seen against unseen views, mass,
and flicker over a sequence, in one run.

    .venv/bin/python benchmarks/volume.py [--workdir out/bench_volume] [--style starry_night]
                                          [--iterations-64 80,60] [--iterations-128 60,40,20] [--frames 4]

1. Speed: the built-in smoke plume at 64³ and 128³ (`painterly.volume.smoke.demo_density`), the default
   (incompressible transport) schedule at 64³ and a shorter one at 128³, each in its own process: wall time and peak
   RSS, total density before and after.
2. Seen against unseen views (64³ run): the style loss of 8 views like the ones optimised (azimuths all round,
   elevation within ±15°) against 8 views never sampled (elevation 30°, azimuths halfway between the seen ones),
   for the input and the result; the goal is unseen within 1.5x of seen.
3. Sequence: --frames frames of the plume simulation (64³), the first with the full schedule, each next one from the
   previous frame's velocity with --frame-iterations steps; the mean absolute change of a fixed view (azimuth 0,
   elevation 10°) from frame to frame, stylised against the input's.
Style: a painting of ../shared/data/styles (scikit-image's CC0 `coffee` picture where that folder is absent).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import SHARED, peak_mb, run_child  # noqa: E402


def style_image(name: str) -> torch.Tensor:
    from painterly.image.io import load_image

    path = SHARED / "styles" / f"{name}.jpg"
    if path.is_file():
        return load_image(path, max_pixels=None)
    from skimage import data

    return torch.from_numpy(data.coffee()).permute(2, 0, 1)[None].float() / 255.0  # type: ignore[no-untyped-call]


def seen_and_unseen() -> tuple[list[Any], list[Any]]:
    from painterly.volume.render import Camera

    seen = [Camera(azimuth=45.0 * index, elevation=(-15.0, -5.0, 5.0, 15.0)[index % 4]) for index in range(8)]
    unseen = [Camera(azimuth=45.0 * index + 22.5, elevation=30.0) for index in range(8)]
    return seen, unseen


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    from painterly.volume.smoke import demo_density
    from painterly.volume.stylize import VolumeOptions, VolumeStyleTransfer

    torch.set_num_threads(spec["threads"])
    density = demo_density(spec["size"])
    options = VolumeOptions(iterations=tuple(spec["iterations"]))
    transfer = VolumeStyleTransfer([style_image(spec["style"])], options)
    started = time.perf_counter()
    result = transfer.run(density)
    seconds = time.perf_counter() - started
    row: dict[str, Any] = {
        "size": spec["size"],
        "iterations": spec["iterations"],
        "seconds": seconds,
        "peak_mb": peak_mb(),
        "mass_before": float(density.sum()),
        "mass_after": float(result.density.sum()),
    }
    if spec["views"]:
        seen, unseen = seen_and_unseen()
        for name, grid in (("input", density), ("result", result.density)):
            row[f"{name}_seen"] = sum(transfer.view_losses(grid, density, seen)) / len(seen)
            row[f"{name}_unseen"] = sum(transfer.view_losses(grid, density, unseen)) / len(unseen)
    torch.save(result.density, Path(spec["workdir"]) / f"plume{spec['size']}_styled.pt")
    return row


def sequence(args: argparse.Namespace) -> dict[str, float]:
    from painterly.volume.render import Camera, RenderSettings, render
    from painterly.volume.smoke import DEMO_VORTICITY, SmokeSettings, simulate_smoke
    from painterly.volume.stylize import VolumeOptions, VolumeStyleTransfer

    frames = simulate_smoke(SmokeSettings(size=64, vorticity=DEMO_VORTICITY), frames=args.frames)
    transfer = VolumeStyleTransfer(
        [style_image(args.style)], VolumeOptions(iterations=tuple(int(v) for v in args.iterations_64.split(",")))
    )
    started = time.perf_counter()
    styled: list[torch.Tensor] = []
    previous: torch.Tensor | None = None
    for frame in frames:
        iterations: tuple[int, ...] | None = None if previous is None else (args.frame_iterations,)
        result = transfer.run(frame, start=previous, iterations=iterations)
        previous = result.parameters
        styled.append(result.density)
    seconds = time.perf_counter() - started
    camera, settings = Camera(azimuth=0.0, elevation=10.0), RenderSettings(resolution=128)
    with torch.no_grad():
        inputs = [render(frame, camera, settings) for frame in frames]
        outputs = [render(frame, camera, settings) for frame in styled]
    return {"frames": len(frames), "seconds": seconds, "input_change": change(inputs), "styled_change": change(outputs)}


def change(views: list[torch.Tensor]) -> float:
    """Mean absolute difference between consecutive views."""
    return sum(float((b - a).abs().mean()) for a, b in itertools.pairwise(views)) / (len(views) - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=ROOT / "out" / "bench_volume")
    parser.add_argument("--style", default="starry_night")
    parser.add_argument("--iterations-64", default="80,60")
    parser.add_argument("--iterations-128", default="60,40,20")
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--frame-iterations", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip", default="", help="Comma-separated parts to skip: 128, sequence.")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    skip = set(args.skip.split(","))
    rows = []
    for size, schedule in ((64, args.iterations_64), (128, args.iterations_128)):
        if str(size) in skip:
            continue
        spec = {
            "size": size,
            "iterations": [int(value) for value in schedule.split(",")],
            "style": args.style,
            "threads": args.threads,
            "views": size == 64,
            "workdir": str(args.workdir),
        }
        rows.append(run_child(__file__, ["--worker", json.dumps(spec)]))
        print(f"{size}³ done in {rows[-1]['seconds']:.0f} s", file=sys.stderr, flush=True)
    report: dict[str, Any] = {"runs": rows}
    if "sequence" not in skip:
        torch.set_num_threads(args.threads)
        report["sequence"] = sequence(args)
    (args.workdir / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{'grid':<6} {'steps per level':<16} {'time s':>7} {'peak MB':>8} {'mass change':>12}")
    for row in rows:
        change = abs(row["mass_after"] - row["mass_before"]) / row["mass_before"]
        steps = ",".join(str(v) for v in row["iterations"])
        print(f"{row['size']:>3}³   {steps:<16} {row['seconds']:7.0f} {row['peak_mb']:8.0f} {change:12.2e}")
    for row in rows:
        if "input_seen" in row:
            print(
                f"\n64³ style loss, mean of 8 views: input seen {row['input_seen']:.3e} "
                f"unseen {row['input_unseen']:.3e}; result seen {row['result_seen']:.3e} "
                f"unseen {row['result_unseen']:.3e} "
                f"(unseen/seen {row['result_unseen'] / row['result_seen']:.2f}, goal <= 1.5); "
                f"result/input seen {row['result_seen'] / row['input_seen']:.3f}, "
                f"unseen {row['result_unseen'] / row['input_unseen']:.3f}"
            )
    if "sequence" in report:
        seq = report["sequence"]
        print(
            f"sequence of {seq['frames']} frames in {seq['seconds']:.0f} s: mean frame-to-frame change of a fixed view "
            f"input {seq['input_change']:.4f}, stylised {seq['styled_change']:.4f} "
            f"(ratio {seq['styled_change'] / seq['input_change']:.2f})"
        )


if __name__ == "__main__":
    main()
