"""Benchmark of optimisation-based transfer against the plain fp32 loop, all in one run.

    .venv/bin/python benchmarks/gatys.py [--sizes 256,512] [--iterations 100] [--baseline-iterations 500]

Variants, each in its own process so that its peak RSS is its own:
- ``baseline fp32``: benchmarks/baseline_gatys.py, the textbook loop (fp32, single scale, L-BFGS, from the content);
- ``painterly defaults``: GatysConfig(size=S) as users get it (WCT start, one level, bf16 where supported, early stop);
- ``single bf16`` / ``single fp32``: painterly at full size only from the default start, fixed iteration count, no
  early stop: the per-iteration speed, and bf16 against fp32 at equal iterations (loss, mean absolute pixel
  difference, LPIPS);
- ``single bf16 autograd``: the same with ``backward="autograd"`` (autocast + autograd, the reference path) instead
  of the hand-written backward;
- ``schedule:A/B/C[@INIT]``: painterly's defaults with another pyramid schedule (iterations per level, coarse to
  fine) and optionally another start (``@wct``, ``@adain``: the one-pass result; ``@noise``),
  for choosing the default by measurement.
Every final image is scored by one fp32 evaluator at the output size with the default layers and weights.
Also measured in the same run: the achieved GFLOP/s, over the whole run and over the encoder passes' own forward and
backward time (painterly's fused path times them; the others show the whole run's), next to bf16 and fp32 matmul
peaks;
with --profile, where an iteration's time goes (benchmarks/gatys_profile.py) at the largest size.
Pair: tubingen + starry_night from ../shared/data when present, else scikit-image's astronaut + its
immunohistochemistry image.
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import SHARED  # noqa: E402

if TYPE_CHECKING:
    from painterly.scoring import ImageScorer

VARIANTS = ("baseline fp32", "painterly defaults", "single bf16", "single fp32", "single bf16 autograd")


def load_pair(size: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    from painterly.image.io import as_loaded_image, load_image, resize_long_side

    content_path, style_path = SHARED / "photos/test/tubingen.jpg", SHARED / "styles/starry_night.jpg"
    if content_path.is_file() and style_path.is_file():
        content, style, name = load_image(content_path), load_image(style_path), "tubingen + starry_night"
    else:
        from painterly.commands.transfer import demo_images

        arrays = demo_images()
        content, style = as_loaded_image(arrays[0]).rgb, as_loaded_image(arrays[1]).rgb
        name = "astronaut + immunohistochemistry"
    return resize_long_side(content, size), resize_long_side(style, size), name


@functools.cache
def _scorer() -> ImageScorer:
    """The one fp32 evaluator of this process (built on first use)."""
    from painterly.scoring import ImageScorer

    return ImageScorer(device="cpu")


def evaluate(image: torch.Tensor, content: torch.Tensor, style: torch.Tensor) -> dict[str, float]:
    """fp32 losses of ``image`` with the default layers and weights (the same scale for every variant)."""
    return _scorer().losses(image, content, [style])


def encoder_gflop(height: int, width: int) -> float:
    """FLOPs of one encoder forward + input-gradient backward (VGG16 convs up to relu5_1), in GFLOP."""
    from painterly.encoders.layout import VGG_CONFIGS

    flops, channels, scale = 0.0, 3, 1
    for item in VGG_CONFIGS["vgg16"][:14]:  # up to conv5_1
        if item == "M":
            scale *= 2
            continue
        flops += 2 * channels * int(item) * 9 * (height // scale) * (width // scale)
        channels = int(item)
    return 2 * flops / 1e9  # the backward's input gradient costs about one forward


def matmul_peak(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - started)
    return 2 * n**3 / min(times) / 1e9


def run_variant(variant: str, size: int, iterations: int, baseline_iterations: int, image_path: Path) -> dict[str, Any]:
    """Runs in a child process: one variant at one size; returns its row."""
    from painterly.config import GatysConfig
    from painterly.methods.gatys import GatysTransfer, output_size

    torch.manual_seed(0)
    content, style, pair = load_pair(size)
    config = GatysConfig(size=size)
    gflop = 0.0
    if variant == "baseline fp32":
        from baseline_gatys import plain_gatys
        from painterly.encoders.vgg import vgg16

        encoder = vgg16(layers=[*config.content_layers, *config.style_layers])
        started = time.perf_counter()
        image = plain_gatys(
            encoder,
            content,
            style,
            content_layers=config.content_layers,
            style_layers=config.style_layers,
            content_weight=config.content_weight,
            style_weight=config.effective_style_weight,
            tv_weight=config.tv_weight,
            iterations=baseline_iterations,
        )
        seconds = time.perf_counter() - started
        done, precision = baseline_iterations, "fp32"
        gflop = done * encoder_gflop(*content.shape[-2:])
        encoder_seconds = seconds
    else:
        if variant.startswith("schedule:"):
            schedule, _, init = variant.removeprefix("schedule:").partition("@")
            config = config.replace(iterations=tuple(int(n) for n in schedule.split("/")), init=init or config.init)
        elif variant != "painterly defaults":
            precision_name = "fp32" if variant == "single fp32" else "bf16"
            backward = "autograd" if variant.endswith("autograd") else "fused"
            config = config.replace(
                iterations=(iterations,), tolerance=0.0, precision=precision_name, backward=backward
            )
        transfer = GatysTransfer(config)
        started = time.perf_counter()
        result = transfer.run(content, [style])
        seconds = time.perf_counter() - started
        image, done, precision = result.image, sum(result.iterations_run), result.precision
        for level_size, count in zip(result.level_sizes, result.iterations_run, strict=True):
            gflop += count * encoder_gflop(*level_size)
        encoder_seconds = result.timings.get("encoder_passes", seconds)
        assert result.level_sizes[-1] == output_size(content.shape[-2:], size)  # type: ignore[arg-type]
    torch.save(image, image_path)
    losses = evaluate(image, content, style)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "variant": variant,
        "size": size,
        "pair": pair,
        "seconds": seconds,
        "iterations": done,
        "s_per_it": seconds / max(1, done),
        "peak_mb": peak_mb,
        "precision": precision,
        "gflops": gflop / seconds,
        "encoder_gflops": gflop / encoder_seconds,
        **losses,
    }


def lpips_distance(first: Path, second: Path) -> float:
    from painterly.metrics import LPIPS

    with torch.no_grad():
        return float(LPIPS()(torch.load(first), torch.load(second))[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--iterations", type=int, default=100, help="iterations of the single-level variants")
    parser.add_argument("--baseline-iterations", type=int, default=500)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--repeats", type=int, default=1, help="runs per cell; the table shows medians")
    parser.add_argument(
        "--profile", action="store_true", help="also print where an iteration's time goes (gatys_profile.py)"
    )
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--workdir", type=Path, help="keep images and rows here; rows already there are reused")
    args = parser.parse_args()
    if args.child:
        variant, size, iterations, baseline, path = args.child
        print(json.dumps(run_variant(variant, int(size), int(iterations), int(baseline), Path(path))))
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="painterly-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    variants = args.variants.split(",")
    for size in [int(s) for s in args.sizes.split(",")]:
        for variant in variants:
            runs = []
            for repeat in range(args.repeats):
                slug = "".join(c if c.isalnum() else "_" for c in variant)
                path = workdir / f"{slug}_{size}_{args.iterations}_{args.baseline_iterations}_{repeat}.pt"
                saved_row = path.with_suffix(".json")
                if saved_row.is_file():  # measured by an earlier run with the same --workdir
                    runs.append(json.loads(saved_row.read_text()))
                    continue
                command = [
                    sys.executable,
                    __file__,
                    "--child",
                    variant,
                    str(size),
                    str(args.iterations),
                    str(args.baseline_iterations),
                    str(path),
                ]
                done = subprocess.run(command, capture_output=True, text=True, check=True)
                runs.append(json.loads(done.stdout.strip().splitlines()[-1]) | {"image": str(path)})
                saved_row.write_text(json.dumps(runs[-1]))
            row = dict(runs[0])
            for key in ("seconds", "s_per_it", "peak_mb", "gflops", "encoder_gflops", "content", "style", "total"):
                row[key] = statistics.median(run[key] for run in runs)
            rows.append(row)
            print(f"  done: {variant} at {size} px in {row['seconds']:.1f} s", file=sys.stderr)
    peaks = {"bf16": matmul_peak(torch.bfloat16), "fp32": matmul_peak(torch.float32)}
    print(
        f"\npair: {rows[0]['pair']}; medians of {args.repeats} run(s); losses by one fp32 evaluator at the "
        "output size; GFLOP/s of the encoder passes over the whole run's time (run) and over their own (enc)"
    )
    header = (
        f"{'size':>5} {'variant':<20} {'prec':<9} {'iters':>5} {'s/iter':>7} {'total s':>8} {'peak MB':>8} "
        f"{'GF/s run':>8} {'GF/s enc':>8} {'content':>8} {'style':>8} {'total':>8}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['size']:>5} {row['variant']:<20} {row['precision']:<9} {row['iterations']:>5} "
            f"{row['s_per_it']:>7.3f} {row['seconds']:>8.1f} {row['peak_mb']:>8.0f} {row['gflops']:>8.1f} "
            f"{row['encoder_gflops']:>8.1f} "
            f"{row['content']:>8.4g} {row['style']:>8.4g} {row['total']:>8.4g}"
        )
    print(f"matmul peak (2048^3, same run): bf16 {peaks['bf16']:.0f} GFLOP/s, fp32 {peaks['fp32']:.0f} GFLOP/s")

    def find(size: int, variant: str) -> dict[str, Any] | None:
        return next((r for r in rows if r["size"] == size and r["variant"] == variant), None)

    for size in sorted({row["size"] for row in rows}):
        base, default = find(size, "baseline fp32"), find(size, "painterly defaults")
        bf16, fp32 = find(size, "single bf16"), find(size, "single fp32")
        reference = find(size, "single bf16 autograd")
        if base and bf16:
            print(
                f"{size} px per iteration: single bf16 is {base['s_per_it'] / bf16['s_per_it']:.2f}x faster than "
                "the baseline"
            )
        if bf16:
            print(
                f"{size} px encoder passes in bf16: {bf16['encoder_gflops']:.0f} GFLOP/s = "
                f"{100 * bf16['encoder_gflops'] / peaks['bf16']:.0f} % of the bf16 matmul peak"
            )
        if bf16 and reference:
            print(
                f"{size} px hand-written backward vs autograd (bf16): {reference['s_per_it'] / bf16['s_per_it']:.2f}x "
                f"faster per iteration, total loss ratio {bf16['total'] / reference['total']:.4f}"
            )
        if base and default:
            print(
                f"{size} px time to quality: painterly defaults total loss {default['total']:.4g} vs baseline "
                f"{base['total']:.4g} after {base['iterations']} iterations (ratio "
                f"{default['total'] / base['total']:.3f}), in {default['seconds']:.1f} s vs {base['seconds']:.1f} s "
                f"= 1/{base['seconds'] / default['seconds']:.1f} of the baseline's time"
            )
        if bf16 and fp32:
            difference = float((torch.load(bf16["image"]) - torch.load(fp32["image"])).abs().mean())
            print(
                f"{size} px bf16 vs fp32 at {bf16['iterations']} iterations: total loss ratio "
                f"{bf16['total'] / fp32['total']:.4f}, mean |pixel difference| {difference:.4f} (of 1), "
                f"LPIPS {lpips_distance(Path(bf16['image']), Path(fp32['image'])):.4f}; per iteration "
                f"{fp32['s_per_it'] / bf16['s_per_it']:.2f}x faster"
            )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows, "matmul_peaks": peaks}, indent=2))
    if args.profile:
        from gatys_profile import breakdown_table

        print()
        print(breakdown_table(max(int(size) for size in args.sizes.split(",")), ["bf16", "bf16/autograd", "fp32"], 8))


if __name__ == "__main__":
    main()
