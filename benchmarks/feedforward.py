"""Benchmark of the feed-forward presets: speed, memory and quality next to the Gatys result, in one run.

    .venv/bin/python benchmarks/feedforward.py [--sizes 512,1024] [--repeats 5] [--workdir out/bench_ff]

Speed rows: seconds per image (median of --repeats after one warm-up, the whole `NetworkStylizer.stylize` call:
padding, network, colour handling) and peak RSS, each cell in its own process, for the shipped network and for
untrained networks of other shapes (width/blocks/downsamplings/edge kernel): what the shape costs.
Quality rows: the shipped network's output for each pair scored by the fp32 VGG16 evaluator of benchmarks/gatys.py
(default Gatys layers and weights, style image at the content's size), next to `GatysConfig(size=512)`'s result.
Pairs default to test photos with paintings the presets were trained on; needs ../shared/data.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import PRECISIONS, SHARED, gatys_reference, peak_mb, photo, print_quality, quality_rows, run_child  # noqa: E402

ARCHITECTURES = ("shipped", "8/3/3/9", "12/5/3/9", "16/5/2/9", "32/5/2/9")
PAIRS = ("tubingen:starry_night", "golden_gate:the_scream", "chicago:udnie")


def stylizer_for(architecture: str, precision: str) -> Any:
    from painterly.methods.feedforward import NetworkSpec, StyleNetwork
    from painterly.methods.stylizer import NetworkStylizer
    from painterly.presets import load_presets

    if architecture == "shipped":
        network, names = load_presets()
    else:
        width, blocks, downsamplings, kernel = (int(part) for part in architecture.split("/"))
        torch.manual_seed(0)
        network = StyleNetwork(NetworkSpec(width, blocks, downsamplings, kernel, styles=10))
        names = [f"style{index}" for index in range(10)]
    return NetworkStylizer(network, names, device="cpu", precision=precision)


def measure_speed(architecture: str, size: int, precision: str, repeats: int) -> dict[str, Any]:
    """Runs in a child process: one network shape at one size and precision."""
    from painterly.methods.feedforward import parameter_count

    stylizer = stylizer_for(architecture, precision)
    content = photo("tubingen", size)
    blend = {stylizer.style_names[0]: 1.0}
    stylizer.stylize(content, blend)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        stylizer.stylize(content, blend)
        times.append(time.perf_counter() - started)
    return {
        "architecture": architecture,
        "spec": stylizer.network.spec.as_dict(),
        "parameters": parameter_count(stylizer.network),
        "size": size,
        "height_width": list(content.shape[-2:]),
        "precision": precision,
        "seconds": statistics.median(times),
        "peak_mb": peak_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="512,1024")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--architectures", default=",".join(ARCHITECTURES), help="'shipped' or width/blocks/downsamplings/edge_kernel"
    )
    parser.add_argument("--pairs", default=",".join(PAIRS), help="photo:painting names from ../shared/data")
    parser.add_argument("--large", type=int, default=4096, help="also time one tiled image this long (0: skip)")
    parser.add_argument("--workdir", type=Path, help="images go here; Gatys results here are reused")
    parser.add_argument("--gatys-only", action="store_true", help="only compute the Gatys references into --workdir")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        architecture, size, precision, repeats = args.child
        print(json.dumps(measure_speed(architecture, int(size), precision, int(repeats))))
        return
    if not SHARED.is_dir():
        sys.exit(f"needs {SHARED} (test photos and paintings)")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="painterly-bench-ff-"))
    workdir.mkdir(parents=True, exist_ok=True)
    sizes = [int(size) for size in args.sizes.split(",")]
    if args.gatys_only:
        for pair in args.pairs.split(","):
            content_name, style_name = pair.split(":")
            gatys_reference(content_name, style_name, workdir)
        return

    speed = []
    for architecture in args.architectures.split(","):
        for size in sizes:
            for precision in PRECISIONS:
                speed.append(run_child(__file__, ["--child", architecture, str(size), precision, str(args.repeats)]))
                print(f"  timed {architecture} {size} {precision}: {speed[-1]['seconds']:.3f} s", file=sys.stderr)
    if args.large:
        speed.append(run_child(__file__, ["--child", "shipped", str(args.large), PRECISIONS[-1], "1"]))
    print(f"\nspeed: median of {args.repeats} after a warm-up; photo tubingen; each cell in its own process")
    header = f"{'network (w/blocks/down/k)':<26} {'params':>8} {'size':>11} {'prec':<5} {'s/image':>8} {'peak MB':>8}"
    print(header)
    print("-" * len(header))
    for row in speed:
        spec = row["spec"]
        shape = f"{spec['width']}/{spec['residual_blocks']}/{spec['downsamplings']}/{spec['edge_kernel']}"
        name = f"{row['architecture']} {shape}" if row["architecture"] == "shipped" else f"untrained {shape}"
        height, width = row["height_width"]
        print(
            f"{name:<26} {row['parameters']:>8} {f'{width}x{height}':>11} {row['precision']:<5} "
            f"{row['seconds']:>8.3f} {row['peak_mb']:>8.0f}"
        )

    def stylize(content: torch.Tensor, style_name: str, precision: str) -> torch.Tensor:
        image: torch.Tensor = stylizer_for("shipped", precision).stylize(content, {style_name: 1.0})
        return image

    pairs = args.pairs.split(",")
    quality = quality_rows("preset", stylize, sizes, pairs, workdir)
    print("\nquality: fp32 VGG16 evaluator, Gatys default layers and weights (lower is closer); Gatys times are in")
    print("benchmarks/gatys.py (its references here may come from --workdir, computed under other load)")
    print_quality("preset", quality, pairs, sizes)
    shipped = {(r["size"], r["precision"]): r["seconds"] for r in speed if r["architecture"] == "shipped"}
    for size in sizes:
        if (size, "bf16") in shipped:
            print(
                f"shipped network at {size} px: bf16 {shipped[(size, 'bf16')]:.3f} s, fp32 "
                f"{shipped[(size, 'fp32')]:.3f} s per image"
            )
    print(f"images: {workdir}")


if __name__ == "__main__":
    main()
