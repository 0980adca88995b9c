"""Benchmark of the arbitrary-style method (AdaIN): speed, where the time goes, memory, quality next to Gatys.

    .venv/bin/python benchmarks/arbitrary.py [--sizes 512,1024] [--repeats 5] [--workdir out/bench_adain]

Speed rows: seconds per image (median of --repeats after one warm-up, the whole `ArbitraryStylizer.stylize` call at
the photo's full resolution, the style's statistics cached by the warm-up as an app would) split into encoder,
AdaIN, decoder and colour handling, plus the uncached style pass, and peak RSS; each cell in its own process.
Quality rows: results for pairs of test photos with paintings the shipped decoder never saw in training, scored by
the fp32 VGG16 evaluator of benchmarks/gatys.py (default Gatys layers and weights, style image at the content's
size), next to `GatysConfig(size=512)`'s result for the same pair. Needs ../shared/data.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import PRECISIONS, SHARED, gatys_reference, painting, peak_mb, photo, run_child  # noqa: E402

PAIRS = ("tubingen:starry_night", "golden_gate:the_scream", "chicago:udnie")
STAGES = ("encode", "transfer", "decode", "colors")


def stylizer_for(precision: str, width: int | None) -> Any:
    """The shipped decoder, or an untrained one of another width (what the width costs)."""
    import torch

    from painterly.decoder_model import load_shipped_decoder
    from painterly.methods.arbitrary import ArbitraryStylizer, Decoder, DecoderSpec

    if width is None:
        decoder = load_shipped_decoder()
    else:
        torch.manual_seed(0)
        decoder = Decoder(DecoderSpec(width=width))
    return ArbitraryStylizer(decoder, device="cpu", precision=precision)


def measure_speed(size: int, precision: str, repeats: int, width: int | None) -> dict[str, Any]:
    """Runs in a child process: one size and precision."""
    from painterly.methods.feedforward import parameter_count

    stylizer = stylizer_for(precision, width)
    content, style = photo("tubingen", size), painting("starry_night")
    started = time.perf_counter()
    stylizer.stylize(content, [style])
    first = time.perf_counter() - started
    style_seconds = stylizer.timings["style"]
    times, stages = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        stylizer.stylize(content, [style])
        times.append(time.perf_counter() - started)
        stages.append(dict(stylizer.timings))
    return {
        "decoder": "shipped" if width is None else f"untrained w{width}",
        "parameters": parameter_count(stylizer.decoder),
        "size": size,
        "height_width": list(content.shape[-2:]),
        "precision": precision,
        "seconds": statistics.median(times),
        "first_call": first,
        "style_uncached": style_seconds,
        **{stage: statistics.median(row[stage] for row in stages) for stage in STAGES},
        "peak_mb": peak_mb(),
    }


def quality_rows(sizes: list[int], pairs: list[str], workdir: Path) -> list[dict[str, Any]]:
    from gatys import evaluate
    from painterly.image.io import resize_long_side, save_image

    rows = []
    for pair in pairs:
        content_name, style_name = pair.split(":")
        style_full = painting(style_name)
        gatys = gatys_reference(content_name, style_name, workdir)
        gatys_losses = evaluate(gatys["image"], photo(content_name, 512), resize_long_side(style_full, 512))
        rows.append({"pair": pair, "method": "gatys (defaults)", "size": 512, "precision": "auto", **gatys_losses})
        save_image(gatys["image"], workdir / f"gatys_{content_name}_{style_name}_512.png")
        for size in sizes:
            content = photo(content_name, size)
            for precision in PRECISIONS:
                stylizer = stylizer_for(precision, None)
                started = time.perf_counter()
                image = stylizer.stylize(content, [style_full])
                seconds = time.perf_counter() - started
                save_image(image, workdir / f"adain_{content_name}_{style_name}_{size}_{precision}.png")
                losses = evaluate(image, content, resize_long_side(style_full, size))
                rows.append(
                    {"pair": pair, "method": "adain", "size": size, "precision": precision, "seconds": seconds}
                    | losses
                    | {"image": image}
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="512,1024")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--widths", default="", help="also time untrained decoders of these widths, e.g. 16,48")
    parser.add_argument("--pairs", default=",".join(PAIRS), help="photo:painting names from ../shared/data")
    parser.add_argument("--large", type=int, default=4096, help="also time one tiled image this long (0: skip)")
    parser.add_argument("--workdir", type=Path, help="images go here; Gatys results here are reused")
    parser.add_argument("--speed-only", action="store_true")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        size, precision, repeats, width = args.child
        print(json.dumps(measure_speed(int(size), precision, int(repeats), int(width) or None)))
        return
    if not SHARED.is_dir():
        sys.exit(f"needs {SHARED} (test photos and paintings)")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="painterly-bench-adain-"))
    workdir.mkdir(parents=True, exist_ok=True)
    sizes = [int(size) for size in args.sizes.split(",")]

    speed = []
    widths = [0] + [int(width) for width in args.widths.split(",") if width]
    for width in widths:
        for size in sizes:
            for precision in PRECISIONS if width == 0 else PRECISIONS[-1:]:
                speed.append(run_child(__file__, ["--child", str(size), precision, str(args.repeats), str(width)]))
                print(
                    f"  timed {speed[-1]['decoder']} {size} {precision}: {speed[-1]['seconds']:.3f} s", file=sys.stderr
                )
    if args.large:
        speed.append(run_child(__file__, ["--child", str(args.large), PRECISIONS[-1], "1", "0"]))
    print(f"\nspeed: median of {args.repeats} after a warm-up (style statistics cached); photo tubingen, style")
    print("starry_night; full resolution; stage columns in seconds; each cell in its own process")
    header = (
        f"{'decoder':<16} {'params':>8} {'size':>10} {'prec':<5} {'s/image':>8} {'encode':>7} {'adain':>7} "
        f"{'decode':>7} {'colors':>7} {'style*':>7} {'peak MB':>8}"
    )
    print(header)
    print("-" * len(header))
    for row in speed:
        height, width = row["height_width"]
        print(
            f"{row['decoder']:<16} {row['parameters']:>8} {f'{width}x{height}':>10} {row['precision']:<5} "
            f"{row['seconds']:>8.3f} {row['encode']:>7.3f} {row['transfer']:>7.3f} {row['decode']:>7.3f} "
            f"{row['colors']:>7.3f} {row['style_uncached']:>7.3f} {row['peak_mb']:>8.0f}"
        )
    print("style*: the style image's own encoder pass (at the output's long side), paid once per style and size")
    if args.speed_only:
        return

    quality = quality_rows(sizes, args.pairs.split(","), workdir)
    print("\nquality: fp32 VGG16 evaluator, Gatys default layers and weights (lower is closer); paintings held out")
    print("of the decoder's training. Gatys times are in benchmarks/gatys.py")
    header = f"{'pair':<26} {'method':<17} {'size':>5} {'prec':<5} {'seconds':>8} {'content':>8} {'style':>8}"
    print(header)
    print("-" * len(header))
    for row in quality:
        print(
            f"{row['pair']:<26} {row['method']:<17} {row['size']:>5} {row['precision']:<5} "
            f"{row.get('seconds', float('nan')):>8.2f} {row['content']:>8.4g} {row['style']:>8.4g}"
        )
    for pair in args.pairs.split(","):
        gatys = next(r for r in quality if r["pair"] == pair and r["method"] != "adain")
        for row in (r for r in quality if r["pair"] == pair and r["method"] == "adain" and r["size"] == 512):
            print(
                f"{pair} 512 px {row['precision']}: AdaIN style loss = {row['style'] / gatys['style']:.2f}x "
                f"Gatys, content loss = {row['content'] / gatys['content']:.2f}x Gatys"
            )
        by_precision = {
            r["precision"]: r
            for r in quality
            if r["pair"] == pair and r["method"] == "adain" and r["size"] == max(sizes)
        }
        if "bf16" in by_precision:
            difference = float((by_precision["bf16"]["image"] - by_precision["fp32"]["image"]).abs().mean())
            print(f"{pair} {max(sizes)} px bf16 vs fp32: mean |pixel difference| {difference:.4f} (of 1)")
    print(f"images: {workdir}")


if __name__ == "__main__":
    main()
