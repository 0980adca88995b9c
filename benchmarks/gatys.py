"""Benchmark of optimisation-based transfer: painterly's defaults against the plain fp32 loop, in one run.

    .venv/bin/python benchmarks/gatys.py [--sizes 256,512] [--baseline-iterations 100] [--repeats 1]

Each variant runs in its own process (so peak RSS is its own). Final images are scored by one fp32 evaluator at the
output size with the default layers and weights: content loss, style loss and their weighted total.
Content/style pair: tubingen + starry_night from ../shared/data when present, else scikit-image's astronaut +
hubble_deep_field.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "benchmarks"))


def load_pair(size: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    from painterly.image.io import load_image, resize_long_side

    content_path, style_path = SHARED / "photos/test/tubingen.jpg", SHARED / "styles/starry_night.jpg"
    if content_path.is_file() and style_path.is_file():
        content, style, name = load_image(content_path), load_image(style_path), "tubingen + starry_night"
    else:
        from painterly.commands.transfer import demo_images
        from painterly.image.io import as_loaded_image

        arrays = demo_images()
        content, style, name = (
            as_loaded_image(arrays[0]).rgb,
            as_loaded_image(arrays[1]).rgb,
            "astronaut + hubble",
        )
    return resize_long_side(content, size), resize_long_side(style, size), name


def evaluate(image: torch.Tensor, content: torch.Tensor, style: torch.Tensor) -> dict[str, float]:
    """fp32 losses of ``image`` with the default layers and weights (the same scale for every variant)."""
    from painterly.config import GatysConfig
    from painterly.encoders.vgg import vgg16
    from painterly.losses import ContentLoss, StyleLoss, TotalVariationLoss

    config = GatysConfig()
    encoder = vgg16(layers=[*config.content_layers, *config.style_layers])
    content_loss, style_loss = ContentLoss(config.content_layers), StyleLoss(config.style_layers)
    with torch.no_grad():
        content_loss.set_target(encoder(content))
        style_loss.set_target([encoder(style)])
        features = encoder(image)
        c = float(sum(content_loss(features).values()))
        s = float(sum(style_loss(features).values()))
        tv = float(TotalVariationLoss()(image))
    total = config.content_weight * c + config.effective_style_weight * s + config.tv_weight * tv
    return {"content": config.content_weight * c, "style": config.effective_style_weight * s, "total": total}


def run_variant(variant: str, size: int, baseline_iterations: int) -> dict[str, Any]:
    """Runs in a child process: one variant at one size; prints a JSON line."""
    from painterly.config import GatysConfig
    from painterly.methods.gatys import GatysTransfer

    torch.manual_seed(0)
    content, style, pair = load_pair(size)
    config = GatysConfig(size=size)
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
        iterations = baseline_iterations
        precision = "fp32"
    else:
        transfer = GatysTransfer(config)
        started = time.perf_counter()
        result = transfer.run(content, [style])
        seconds = time.perf_counter() - started
        image, iterations, precision = result.image, sum(result.iterations_run), result.precision
    losses = evaluate(image, content, style)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "variant": variant,
        "size": size,
        "pair": pair,
        "seconds": seconds,
        "iterations": iterations,
        "s_per_it": seconds / max(1, iterations),
        "peak_mb": peak_mb,
        "precision": precision,
        **losses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--baseline-iterations", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=1, help="runs per cell; the table shows medians")
    parser.add_argument("--child", nargs=3, metavar=("VARIANT", "SIZE", "ITERS"), help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_variant(args.child[0], int(args.child[1]), int(args.child[2]))))
        return
    rows: list[dict[str, Any]] = []
    for size in [int(s) for s in args.sizes.split(",")]:
        for variant in ("baseline fp32", "painterly defaults"):
            runs = []
            for _ in range(args.repeats):
                done = subprocess.run(
                    [sys.executable, __file__, "--child", variant, str(size), str(args.baseline_iterations)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            row = dict(runs[0])
            for key in ("seconds", "s_per_it", "peak_mb", "content", "style", "total"):
                row[key] = statistics.median(run[key] for run in runs)
            rows.append(row)
            print(f"  done: {variant} at {size} px in {row['seconds']:.1f} s", file=sys.stderr)
    print(
        f"\npair: {rows[0]['pair']}; medians of {args.repeats} run(s); losses by one fp32 evaluator at the output size"
    )
    header = (
        f"{'size':>5} {'variant':<20} {'prec':<5} {'iters':>5} {'s/iter':>7} {'total s':>8} {'peak MB':>8} "
        f"{'content':>9} {'style':>9} {'total':>9}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['size']:>5} {row['variant']:<20} {row['precision']:<5} {row['iterations']:>5} "
            f"{row['s_per_it']:>7.3f} {row['seconds']:>8.1f} {row['peak_mb']:>8.0f} {row['content']:>9.4g} "
            f"{row['style']:>9.4g} {row['total']:>9.4g}"
        )
    for size in sorted({row["size"] for row in rows}):
        base = next(r for r in rows if r["size"] == size and r["variant"] == "baseline fp32")
        ours = next(r for r in rows if r["size"] == size and r["variant"] != "baseline fp32")
        print(
            f"{size} px: painterly s/iter is {base['s_per_it'] / ours['s_per_it']:.2f}x faster than the baseline; "
            f"total loss ratio painterly/baseline = {ours['total'] / base['total']:.3f}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
