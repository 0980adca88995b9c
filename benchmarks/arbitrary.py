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
from common import PRECISIONS, SHARED, painting, peak_mb, photo, print_quality, quality_rows, run_child  # noqa: E402

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

    def stylize(content: Any, style_name: str, precision: str) -> Any:
        return stylizer_for(precision, None).stylize(content, [painting(style_name)])

    pairs = args.pairs.split(",")
    quality = quality_rows("adain", stylize, sizes, pairs, workdir)
    print("\nquality: fp32 VGG16 evaluator, Gatys default layers and weights (lower is closer); paintings held out")
    print("of the decoder's training. Gatys times are in benchmarks/gatys.py")
    print_quality("adain", quality, pairs, sizes)
    print(f"images: {workdir}")


if __name__ == "__main__":
    main()
