"""Benchmark of video stylisation: speed end to end, flicker (E_warp) against style loss, memory over length.

    .venv/bin/python benchmarks/video.py [--workdir out/bench_video] [--temporals 0,0.3,0.4,0.5,0.7]
                                         [--gatys-frames 6] [--skip-gatys]

Inputs: ../shared/data/video/bunny.mp4 (640x360, 240 frames, AAC) and a synthetic 854x480 clip made here (a slow
pan and zoom over a test photo, 300 frames). Every run goes through the same library calls as `painterly video`.

1. Speed: the preset method stabilised (default --temporal), end to end (decode, flow, stylise, blend, store
   frames, encode mp4 with the sound copied), at both sizes, with each stage's share; each cell its own process.
2. Flicker: E_warp (Lai et al. 2018; flow of the input frames, DIS medium, consistency-masked) per frame (temporal
   0) against stabilised, for presets, arbitrary style (AdaIN) and Gatys, with the mean style loss per frame
   (fp32 VGG16, the optimisation's default layers and weights, style image at the frame's size) to see what the
   stabilisation costs in style. Frames are scored from the lossless PNG work frames, not the mp4.
   Gatys: the first --gatys-frames frames of the synthetic clip at 854x480; "per frame" = each frame optimised
   from its own content with the video's per-frame iterations, "video" = the first frame with the full schedule,
   then each frame from the warped previous result with the temporal loss; scored on frames 2.. only.
3. Memory: peak RSS of the preset method stabilised at 30 and 300 frames of the synthetic clip.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import SHARED, peak_mb, photo, run_child  # noqa: E402

BUNNY = SHARED / "video" / "bunny.mp4"
PRESET = "starry_night"
ADAIN_STYLE = "the_scream"
GATYS_STYLE = "starry_night"
SCORE_EVERY = 8


def make_synthetic(path: Path, frames: int = 300) -> Path:
    """A 854x480 clip: a slow pan and zoom over a test photo (a camera move with parallax-free, known motion)."""
    if path.is_file():
        return path
    from fractions import Fraction

    import torch.nn.functional as F

    from painterly.video.io import VideoWriter

    source = photo("chicago", 1600)
    height, width = source.shape[-2:]
    with VideoWriter(path, width=854, height=480, fps=25.0, time_base=Fraction(1, 25), quality=12) as writer:
        for index in range(frames):
            progress = index / max(1, frames - 1)
            zoom = 1.0 - 0.25 * progress
            crop_h, crop_w = int(480 / 854 * width * 0.7 * zoom), int(width * 0.7 * zoom)
            top = int((height - crop_h) * (0.3 + 0.4 * math.sin(1.3 * progress)))
            left = int((width - crop_w) * progress)
            crop = source[..., top : top + crop_h, left : left + crop_w]
            frame = F.interpolate(crop, size=(480, 854), mode="bilinear", antialias=True, align_corners=False)
            writer.write(frame.clamp(0, 1), index)
    return path


def run_video(
    source: Path,
    output: Path,
    method_name: str,
    style: str,
    *,
    temporal: float,
    frames: int | None,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One `painterly video` run through the library; returns its timings."""
    from painterly.commands.selection import select
    from painterly.methods.registry import get_method
    from painterly.video.io import open_video
    from painterly.video.pipeline import VideoOptions, run_identity, stylize_video, work_dir_for, writer_like

    method = get_method(method_name)
    params: dict[str, Any] = {"method": method_name, "preset": None, "styles": ()}
    if method.style_kind == "presets":
        params["preset"] = style
    else:
        params["styles"] = (str(SHARED / "styles" / f"{style}.jpg"),)
    params |= options or {}
    duration = None if frames is None else (frames - 0.5) / 25.0
    video_options = VideoOptions(temporal=temporal, keep_frames=True)
    work = work_dir_for(output)
    shutil.rmtree(work, ignore_errors=True)
    with open_video(source, duration=duration) as reader:
        info = reader.info
        selection = select(params, size=max(info.width, info.height))
        stylizer = method.prepare(selection.styles, selection.options, weights=selection.weights, masks=selection.masks)
        writer = writer_like(reader, output, duration=duration)
        identity = run_identity(
            info, method, selection.options, video_options, styles=selection.labels, duration=duration
        )
        elapsed: list[float] = []
        result = stylize_video(
            reader,
            writer,
            stylizer,
            method,
            video_options,
            identity=identity,
            work_dir=work,
            progress=lambda progress: elapsed.append(progress.elapsed),
        )
    return {
        "frame_seconds": [later - earlier for earlier, later in zip([0.0, *elapsed], elapsed, strict=False)],
        "frames": result.frames,
        "seconds": result.seconds,
        "fps": result.fps,
        "stages": result.stage_seconds,
        "size": [info.width, info.height],
        "peak_mb": peak_mb(),
        "work": str(work),
        "audio": result.audio_note,
    }


def score_frames(
    source: Path, work: Path, style: str | None, frames: int | None, first: int = 0, every: int = SCORE_EVERY
) -> dict[str, Any]:
    """E_warp of the stored output frames (from ``first`` on) and the mean style loss of every ``every``-th."""
    from painterly.image.io import load_image, resize_long_side
    from painterly.scoring import ImageScorer
    from painterly.video.flow import FlowEstimator
    from painterly.video.io import open_video
    from painterly.video.warping_error import WarpingErrorMeter

    meter = WarpingErrorMeter(FlowEstimator("medium"))
    scorer = ImageScorer(device="cpu")
    style_image = None if style is None else load_image(SHARED / "styles" / f"{style}.jpg", max_pixels=None)
    styles: list[float] = []
    duration = None if frames is None else (frames - 0.5) / 25.0
    with open_video(source, duration=duration) as reader:
        for frame in reader:
            if frame.index < first:
                continue
            stored = load_image(work / f"frame_{frame.index + 1:06d}.png")
            meter.update(frame.image, stored)
            if style_image is not None and (frame.index - first) % every == 0:
                target = resize_long_side(style_image, max(stored.shape[-2:]))
                styles.append(scorer.losses(stored, frame.image, [target])["style"])
    result = meter.result()
    return {"e_warp": result.mean, "pairs": result.pairs, "style": statistics.mean(styles) if styles else None}


def child(arguments: list[str]) -> None:
    kind, source, output, method, style, temporal, frames = arguments
    torch.set_num_threads(torch.get_num_threads())
    result = run_video(
        Path(source),
        Path(output),
        method,
        style,
        temporal=float(temporal),
        frames=None if frames == "all" else int(frames),
    )
    if kind == "speed":
        shutil.rmtree(result["work"], ignore_errors=True)
    print(json.dumps(result))


def print_speed(rows: list[dict[str, Any]]) -> None:
    stages = ("decode", "flow", "stylize", "blend", "store", "encode")
    header = f"{'clip':<22} {'size':>9} {'frames':>6} {'fps':>6} {'peak MB':>8}  " + " ".join(f"{s:>8}" for s in stages)
    print(header)
    print("-" * len(header))
    for row in rows:
        total = sum(row["stages"].values())
        shares = " ".join(f"{100 * row['stages'][stage] / total:>7.1f}%" for stage in stages)
        size = f"{row['size'][0]}x{row['size'][1]}"
        print(f"{row['clip']:<22} {size:>9} {row['frames']:>6} {row['fps']:>6.2f} {row['peak_mb']:>8.0f}  {shares}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=ROOT / "out" / "bench_video")
    parser.add_argument("--temporals", default="0,0.3,0.4,0.5,0.7", help="--temporal values for the one-pass methods")
    parser.add_argument("--frames", type=int, default=240, help="frames of bunny.mp4 for the flicker rows")
    parser.add_argument("--gatys-frames", type=int, default=6)
    parser.add_argument(
        "--gatys-iterations", default=None, help="per-frame iterations for Gatys (default: the method's)"
    )
    parser.add_argument(
        "--gatys-first-iterations", default="200,50", help="Gatys video: iterations per level of the first frame"
    )
    parser.add_argument("--skip-gatys", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-flicker", action="store_true")
    parser.add_argument("--child", nargs=7, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    if not BUNNY.is_file():
        sys.exit(f"needs {BUNNY} (../shared/data)")
    from painterly.devices import cpu_supports_bf16
    from painterly.video.temporal import DEFAULT_TEMPORAL

    args.workdir.mkdir(parents=True, exist_ok=True)
    synthetic = make_synthetic(args.workdir / "synthetic_854x480.mp4")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, bf16 native: {cpu_supports_bf16()}")

    if not args.skip_speed:
        print(f"\n1. Speed end to end, preset {PRESET} stabilised (--temporal {DEFAULT_TEMPORAL}), mp4 out")
        rows = []
        for clip, source, frames in (("bunny 640x360", BUNNY, "all"), ("synthetic 854x480", synthetic, "120")):
            output = args.workdir / f"speed_{source.stem}.mp4"
            output.unlink(missing_ok=True)
            row = run_child(
                __file__,
                ["--child", "speed", str(source), str(output), "preset", PRESET, str(DEFAULT_TEMPORAL), frames],
            )
            rows.append(row | {"clip": clip})
        print_speed(rows)
        print("\n3. Memory over length (preset stabilised, synthetic 854x480)")
        for length in (30, 300):
            output = args.workdir / f"memory_{length}.mp4"
            output.unlink(missing_ok=True)
            row = run_child(
                __file__,
                ["--child", "speed", str(synthetic), str(output), "preset", PRESET, str(DEFAULT_TEMPORAL), str(length)],
            )
            print(f"{length:>4} frames: peak RSS {row['peak_mb']:.0f} MB, {row['fps']:.2f} fps")

    if not args.skip_flicker:
        flicker_rows(args)
    if not args.skip_gatys:
        gatys_rows_for(args, synthetic)


def flicker_rows(args: argparse.Namespace) -> None:
    print(f"\n2. Flicker against style, bunny 640x360, first {args.frames} frames")
    header = (
        f"{'method':<8} {'temporal':>8} {'E_warp':>9} {'vs per-frame':>12} {'style':>9} {'vs per-frame':>12} {'fps':>6}"
    )
    print(header)
    print("-" * len(header))
    temporals = [float(value) for value in args.temporals.split(",")]
    for method, style in (("preset", PRESET), ("adain", ADAIN_STYLE)):
        baseline: dict[str, Any] = {}
        for temporal in temporals:
            output = args.workdir / f"flicker_{method}_{temporal}.mp4"
            output.unlink(missing_ok=True)
            run = run_video(BUNNY, output, method, style, temporal=temporal, frames=args.frames)
            scores = score_frames(BUNNY, Path(run["work"]), style, args.frames)
            baseline = baseline or scores
            print(
                f"{method:<8} {temporal:>8.2f} {scores['e_warp']:>9.5f} {scores['e_warp'] / baseline['e_warp']:>11.0%} "
                f"{scores['style']:>9.4g} {scores['style'] / baseline['style'] - 1:>+11.1%} {run['fps']:>6.2f}"
            )


def gatys_rows_for(args: argparse.Namespace, synthetic: Path) -> None:
    from painterly.video.temporal import DEFAULT_TEMPORAL

    gatys_frames = args.gatys_frames
    print(f"\n   Gatys, synthetic 854x480, first {gatys_frames} frames (scored on frames 2..{gatys_frames})")
    options = {"iterations": args.gatys_first_iterations}
    if args.gatys_iterations is not None:
        options["frame_iterations"] = args.gatys_iterations
    from painterly.config import GatysConfig

    per_frame_iterations = args.gatys_iterations or ",".join(map(str, GatysConfig().effective_frame_iterations))
    gatys_rows: dict[str, dict[str, Any]] = {}
    for label, temporal, extra in (
        ("per-frame", 0.0, {"iterations": per_frame_iterations}),
        ("video", DEFAULT_TEMPORAL, options),
    ):
        output = args.workdir / f"gatys_{label}.mp4"
        output.unlink(missing_ok=True)
        started = time.perf_counter()
        run = run_video(synthetic, output, "gatys", GATYS_STYLE, temporal=temporal, frames=gatys_frames, options=extra)
        seconds = time.perf_counter() - started
        gatys_rows[label] = score_frames(synthetic, Path(run["work"]), GATYS_STYLE, gatys_frames, first=1, every=1) | {
            "seconds": seconds,
            "run": run,
        }
    base = gatys_rows["per-frame"]
    for label, row in gatys_rows.items():
        print(
            f"{'gatys':<8} {label:>8} {row['e_warp']:>9.5f} {row['e_warp'] / base['e_warp']:>11.0%} "
            f"{row['style']:>9.4g} {row['style'] / base['style'] - 1:>+11.1%} "
            f"{row['seconds']:>6.0f} s total"
        )
    for label, row in gatys_rows.items():
        seconds = row["run"]["frame_seconds"]
        print(
            f"   {label}: first frame {seconds[0]:.1f} s, frames after it {statistics.median(seconds[1:]):.1f} s "
            f"(median; max {max(seconds[1:]):.1f} s)"
        )


if __name__ == "__main__":
    main()
