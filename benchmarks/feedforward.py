"""Benchmark of the feed-forward presets: speed, memory and quality next to the Gatys result, in one run.

    .venv/bin/python benchmarks/feedforward.py [--models quality,fast,new=runs/x/model.safetensors] [--repeats 5]
        [--workdir out/bench_ff]

Speed rows: seconds per image (median of --repeats after one warm-up, the whole `NetworkStylizer.stylize` call:
padding, network, colour handling) and peak RSS, each cell in its own process, for each model of --models and for
untrained networks of other shapes (--architectures width/blocks/downsamplings/edge kernel): what the shape costs.
Quality rows: every painting of ../shared/data/styles (each model's preset of that name) on the photos of --photos
at 512 px, in bf16 where the CPU has it, scored by the fp32 VGG16 evaluator of benchmarks/gatys.py (default Gatys
layers and weights, the painting at the photo's size), next to `GatysConfig(size=512)`'s result for the same pair
(`painterly transfer` at default strength; computed once per --workdir, about 4 CPU-minutes each). The goals of
issue 13 are checked at the end: style loss <= 3x and content loss <= 4x Gatys for every pair, 1024 px <= 0.25 s.
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
from common import PRECISIONS, SHARED, gatys_reference, painting, peak_mb, photo, run_child  # noqa: E402

ARCHITECTURES = ("8/5/4/9", "16/5/2/9", "32/5/2/9")
PHOTOS = ("tubingen", "golden_gate", "chicago")
STYLE_GOAL, CONTENT_GOAL, SECONDS_GOAL = 3.0, 4.0, 0.25


def stylizer_for(architecture: str, precision: str) -> Any:
    """``shipped``/``quality`` or ``fast`` (the shipped pair), a model file's path, or an untrained
    ``width/blocks/downsamplings/edge_kernel`` network."""
    from painterly.methods.feedforward import NetworkSpec, StyleNetwork
    from painterly.methods.model_files import load_style_network
    from painterly.methods.stylizer import NetworkStylizer
    from painterly.presets import load_presets

    if architecture in ("shipped", "quality", "fast"):  # the shipped pair ("shipped": the default, quality)
        network, names = load_presets(network="fast" if architecture == "fast" else "quality")
    elif architecture.endswith(".safetensors"):
        network, names, _ = load_style_network(Path(architecture))
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


def model_list(text: str) -> dict[str, str]:
    """``quality,fast,new=runs/q/model.safetensors`` -> {label: quality, fast or path}."""
    models = {}
    for item in text.split(","):
        label, _, source = item.partition("=")
        models[label.strip()] = (source or label).strip()
    return models


def paintings() -> dict[str, str]:
    """{preset name: painting file stem} for every painting of ../shared/data/styles."""
    from painterly.training.data import image_files
    from painterly.training.feedforward import style_names_of

    stems = [file.stem for file in image_files(SHARED / "styles")]
    return dict(zip(style_names_of(stems), stems, strict=True))


def quality_rows(models: dict[str, str], photos: list[str], workdir: Path, precision: str) -> list[dict[str, Any]]:
    """For every photo x painting: the Gatys reference and each model's preset at 512 px, scored in fp32."""
    from gatys import evaluate
    from painterly.image.io import resize_long_side, save_image

    stylizers = {label: stylizer_for(source, precision) for label, source in models.items()}
    rows = []
    for photo_name in photos:
        content = photo(photo_name, 512)
        for preset, stem in paintings().items():
            style = resize_long_side(painting(stem), 512)
            reference = gatys_reference(photo_name, stem, workdir)
            row: dict[str, Any] = {
                "pair": f"{photo_name}:{preset}",
                "gatys": evaluate(reference["image"], content, style),
            }
            save_image(reference["image"], workdir / f"gatys_{photo_name}_{stem}_512.png")
            for label, stylizer in stylizers.items():
                started = time.perf_counter()
                image = stylizer.stylize(content, {preset: 1.0})
                row[label] = evaluate(image, content, style) | {"seconds": time.perf_counter() - started}
                save_image(image, workdir / f"{label}_{photo_name}_{preset}_512_{precision}.png")
            rows.append(row)
            print(f"  scored {row['pair']}", file=sys.stderr)
    return rows


def print_quality(rows: list[dict[str, Any]], labels: list[str]) -> None:
    header = f"{'photo:preset':<36} {'gatys c/s':>13}" + "".join(
        f" {label + ' c/s':>15} {'style x':>7} {'cont x':>6}" for label in labels
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        gatys = row["gatys"]
        line = f"{row['pair']:<36} {gatys['content']:>6.2f}/{gatys['style']:<6.2f}"
        for label in labels:
            ours = row[label]
            line += (
                f" {ours['content']:>7.2f}/{ours['style']:<7.2f} {ours['style'] / gatys['style']:>7.2f}"
                f" {ours['content'] / gatys['content']:>6.2f}"
            )
        print(line)
    for label in labels:
        style = [row[label]["style"] / row["gatys"]["style"] for row in rows]
        content = [row[label]["content"] / row["gatys"]["content"] for row in rows]
        met = sum(s <= STYLE_GOAL and c <= CONTENT_GOAL for s, c in zip(style, content, strict=True))
        print(
            f"{label}: style vs Gatys median {statistics.median(style):.2f}x, worst {max(style):.2f}x (goal <= "
            f"{STYLE_GOAL:g}x); content median {statistics.median(content):.2f}x, worst {max(content):.2f}x (goal <= "
            f"{CONTENT_GOAL:g}x); both goals met on {met} of {len(rows)} pairs"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="512,1024")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--models", default="quality,fast", help="label=file.safetensors, quality or fast (shipped), comma-separated"
    )
    parser.add_argument(
        "--architectures", default=",".join(ARCHITECTURES), help="untrained width/blocks/downsamplings/edge_kernel"
    )
    parser.add_argument("--photos", default=",".join(PHOTOS), help="test photos of ../shared/data")
    parser.add_argument("--large", type=int, default=4096, help="also time one tiled image this long (0: skip)")
    parser.add_argument("--workdir", type=Path, help="images go here; Gatys results here are reused")
    parser.add_argument("--gatys-only", action="store_true", help="only compute the Gatys references into --workdir")
    parser.add_argument("--reverse", action="store_true", help="with --gatys-only: the paintings in reverse order")
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
    photos = args.photos.split(",")
    models = model_list(args.models)
    if args.gatys_only:
        stems = list(paintings().values())
        for photo_name in photos:
            # a second process with --reverse shares the work from the other end (each reference is cached when done)
            for stem in reversed(stems) if args.reverse else stems:
                gatys_reference(photo_name, stem, workdir)
        return

    speed = []
    timed = [(label, source) for label, source in models.items()]
    timed += [(f"untrained {shape}", shape) for shape in args.architectures.split(",") if shape]
    for label, source in timed:
        for size in sizes:
            for precision in PRECISIONS:
                cell = run_child(__file__, ["--child", source, str(size), precision, str(args.repeats)])
                speed.append(cell | {"label": label})
                print(f"  timed {label} {size} {precision}: {cell['seconds']:.3f} s", file=sys.stderr)
    if args.large:
        label, source = timed[0]
        speed.append(run_child(__file__, ["--child", source, str(args.large), PRECISIONS[-1], "1"]) | {"label": label})
    print(f"\nspeed: median of {args.repeats} after a warm-up; photo tubingen; each cell in its own process")
    header = f"{'network (w/blocks/down/k)':<30} {'params':>8} {'size':>11} {'prec':<5} {'s/image':>8} {'peak MB':>8}"
    print(header)
    print("-" * len(header))
    for row in speed:
        spec = row["spec"]
        shape = f"{spec['width']}/{spec['residual_blocks']}/{spec['downsamplings']}/{spec['edge_kernel']}"
        name = row["label"] if row["label"].startswith("untrained") else f"{row['label']} {shape}"
        height, width = row["height_width"]
        print(
            f"{name:<30} {row['parameters']:>8} {f'{width}x{height}':>11} {row['precision']:<5} "
            f"{row['seconds']:>8.3f} {row['peak_mb']:>8.0f}"
        )

    precision = PRECISIONS[-1]
    rows = quality_rows(models, photos, workdir, precision)
    print(
        f"\nquality at 512 px ({precision}): fp32 VGG16 evaluator, Gatys default layers and weights (lower is closer);"
    )
    print("c/s = content/style loss; x = ratio to Gatys (painterly transfer at default strength) on the same pair")
    print_quality(rows, list(models))
    seconds = {(r["label"], r["size"], r["precision"]): r["seconds"] for r in speed}
    for label in models:
        if (label, 1024, precision) in seconds:
            value = seconds[(label, 1024, precision)]
            print(f"{label} at 1024 px {precision}: {value:.3f} s per image (goal <= {SECONDS_GOAL} s)")
    print(f"images: {workdir}")


if __name__ == "__main__":
    main()
