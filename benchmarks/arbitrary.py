"""Benchmark of the one-pass arbitrary-style methods: AdaIN, WCT (universal) and photo (photorealistic).

    .venv/bin/python benchmarks/arbitrary.py [--sizes 512,1024] [--repeats 3] [--workdir out/bench_arbitrary]
        [--sections speed,quality,photo,psnr,init]

Sections (all in one run, so ratios compare like with like on one machine):
- speed: seconds per image at --speed-size (median of --repeats after a warm-up; style statistics cached, as an
  app would have them), split into stages, and peak RSS; each method in its own process.
- quality: pairs of test photos with the three paintings held out of every decoder's training, plus scikit-image
  textures, scored by the fp32 VGG16 evaluator of benchmarks/gatys.py (default Gatys layers and weights, style at the
  content's size): AdaIN and WCT at each size, and for the paintings `GatysConfig(size=512)`'s result at 512 px.
  Ratios WCT/AdaIN and WCT/Gatys per pair.
- photo: test photos with train photos of other light: SSIM of the luminance to the photo, and the Gram style loss to
  the style photo next to the photo's own (how far the statistics moved), for photo, photo + smoothing and WCT.
- psnr: reconstruction PSNR of each shipped decoder on the test photos (never trained on) at 512 px.
- init: the optimisation from the defaults' start (content, 300 + 200 iterations) against one full-size level
  started from WCT's / AdaIN's result: iterations and seconds until the loss is at most the defaults' final loss.
Needs ../shared/data.
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
from common import SHARED, painting, peak_mb, photo, run_child  # noqa: E402

PAIRS = ("tubingen:starry_night", "golden_gate:the_scream", "chicago:udnie", "stata:brick", "dog:gravel")
PHOTO_PAIRS = ("tubingen:143090", "golden_gate:238011", "chicago:43083")
"""Test photos (daylight) with train photos of other light: dusk over a lake, a moonlit night, dark golden water."""
INIT_PAIRS = ("tubingen:starry_night", "golden_gate:the_scream")
TEXTURES = ("brick", "gravel", "grass")
METHODS = ("adain", "wct", "photo")
SECTIONS = ("speed", "quality", "photo", "psnr", "init")


def style_image(name: str) -> torch.Tensor:
    """A painting of ../shared/data, a scikit-image texture (grey, as RGB) or a train photo (by number)."""
    from painterly.image.io import load_image

    if name in TEXTURES:
        import skimage.data

        grey = torch.from_numpy(getattr(skimage.data, name)()).float() / 255
        return grey.expand(1, 3, *grey.shape).contiguous()
    if name.isdigit():
        return load_image(SHARED / "photos" / "train" / f"{name}.jpg", max_pixels=None)
    return painting(name)


def stylizer(method: str, precision: str = "auto", **values: Any) -> Any:
    from painterly.methods.registry import get_method

    chosen = get_method(method)
    return chosen, chosen.options(None, precision=precision, device="cpu", **values)


def prepared(method: str, style: torch.Tensor, **values: Any) -> Any:
    """The method prepared for one style (networks loaded): call it on a photo."""
    chosen, options = stylizer(method, **values)
    return chosen.prepare([style], options)


def stylize(method: str, content: torch.Tensor, style: torch.Tensor, **values: Any) -> torch.Tensor:
    return prepared(method, style, **values)(content)  # type: ignore[no-any-return]


def timed(method: str, content: torch.Tensor, style: torch.Tensor, **values: Any) -> tuple[torch.Tensor, float]:
    """The result and the seconds of the call alone (style pass included, network loading not)."""
    ready = prepared(method, style, **values)
    started = time.perf_counter()
    image = ready(content)
    return image, time.perf_counter() - started


def measure_speed(method: str, size: int, precision: str, repeats: int) -> dict[str, Any]:
    """Runs in a child process: one method, size and precision."""
    chosen, options = stylizer(method, precision)
    prepared = chosen.prepare([style_image("starry_night")], options)
    content = photo("tubingen", size)
    started = time.perf_counter()
    prepared(content)
    first = time.perf_counter() - started
    times, stages = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        prepared(content)
        times.append(time.perf_counter() - started)
        stages.append(dict(prepared.stylizer.timings))
    return {
        "method": method,
        "height_width": list(content.shape[-2:]),
        "precision": precision,
        "seconds": statistics.median(times),
        "first_call": first,
        "stages": {stage: statistics.median(row[stage] for row in stages) for stage in stages[0]},
        "peak_mb": peak_mb(),
    }


def speed_section(args: argparse.Namespace) -> None:
    from common import PRECISIONS

    rows = []
    for method in args.methods:
        for precision in PRECISIONS:
            rows.append(run_child(__file__, ["--child", method, str(args.speed_size), precision, str(args.repeats)]))
            print(f"  timed {method} {precision}: {rows[-1]['seconds']:.3f} s", file=sys.stderr)
    print(
        f"\nspeed: median of {args.repeats} after a warm-up (style statistics cached); tubingen at {args.speed_size} px"
    )
    print("long side with starry_night; each method in its own process; stage seconds and their share")
    header = f"{'method':<7} {'size':>9} {'prec':<5} {'s/image':>8} {'first':>7} {'peak MB':>8}  stages"
    print(header)
    print("-" * 100)
    for row in rows:
        height, width = row["height_width"]
        stages = row["stages"]
        total = sum(stages.values()) or 1.0
        shares = ", ".join(f"{name} {value:.3f} ({value / total:.0%})" for name, value in stages.items() if value)
        print(
            f"{row['method']:<7} {f'{width}x{height}':>9} {row['precision']:<5} {row['seconds']:>8.3f} "
            f"{row['first_call']:>7.2f} {row['peak_mb']:>8.0f}  {shares}"
        )


def quality_section(args: argparse.Namespace, workdir: Path) -> None:
    from gatys import evaluate
    from painterly.image.io import resize_long_side, save_image

    print("\nquality: fp32 VGG16 evaluator, Gatys default layers and weights (lower is closer); paintings held out of")
    print("every decoder's training, textures from scikit-image; each method at its one default")
    header = f"{'pair':<26} {'method':<7} {'size':>5} {'seconds':>8} {'content':>9} {'style':>9}"
    print(header)
    print("-" * len(header))
    summary = []
    for pair in args.pairs:
        content_name, style_name = pair.split(":")
        style = style_image(style_name)
        scores: dict[tuple[str, int], dict[str, float]] = {}
        # the optimisation reference for the paintings (the textures compare with AdaIN only)
        with_gatys = args.gatys and style_name not in TEXTURES
        gatys = gatys_reference_for(content_name, style_name, style, workdir) if with_gatys else None
        if gatys is not None:
            scores[("gatys", 512)] = evaluate(gatys["image"], photo(content_name, 512), resize_long_side(style, 512))
            print(
                f"{pair:<26} {'gatys':<7} {512:>5} {gatys['seconds']:>8.1f} {scores[('gatys', 512)]['content']:>9.4g} "
                f"{scores[('gatys', 512)]['style']:>9.4g}"
            )
        for size in args.sizes:
            content = photo(content_name, size)
            for method in ("adain", "wct"):
                image, seconds = timed(method, content, style)
                save_image(image, workdir / f"{method}_{content_name}_{style_name}_{size}.png")
                scores[(method, size)] = evaluate(image, content, resize_long_side(style, size))
                row = scores[(method, size)]
                print(f"{pair:<26} {method:<7} {size:>5} {seconds:>8.2f} {row['content']:>9.4g} {row['style']:>9.4g}")
        summary.append((pair, scores))
    print("\nratios (below 1: WCT lower):")
    for pair, scores in summary:
        for size in args.sizes:
            wct, adain = scores[("wct", size)], scores[("adain", size)]
            line = (
                f"{pair:<26} {size:>5} px  WCT/AdaIN content {wct['content'] / adain['content']:.2f}, style "
                f"{wct['style'] / adain['style']:.2f}"
            )
            if size == 512 and ("gatys", 512) in scores:
                gatys = scores[("gatys", 512)]
                line += (
                    f";  WCT/Gatys style {wct['style'] / gatys['style']:.2f}, content "
                    f"{wct['content'] / gatys['content']:.2f}"
                )
            print(line)
    print(f"images: {workdir}")


def run_gatys(config: Any, content: torch.Tensor, style: torch.Tensor) -> dict[str, Any]:
    """One optimisation with its loss trace on the last pyramid level: (total step, loss, seconds since start)."""
    from painterly.methods.gatys import GatysTransfer

    trace: list[tuple[int, float, float]] = []

    def record(progress: Any) -> None:
        if progress.level == config.levels - 1:
            trace.append((progress.total_step, progress.losses["total"], progress.elapsed))

    started = time.perf_counter()
    result = GatysTransfer(config).run(content, [style], progress=record)
    seconds = time.perf_counter() - started
    overhead = seconds - trace[-1][2]  # encoder set-up and any one-pass start, outside the loop's clock
    return {
        "image": result.image,
        "seconds": seconds,
        "trace": [(step, loss, at + overhead) for step, loss, at in trace],
    }


def gatys_reference_for(content_name: str, style_name: str, style: torch.Tensor, workdir: Path) -> dict[str, Any]:
    """``GatysConfig(size=512)`` for a pair with its loss trace, cached in the workdir."""
    from painterly.config import GatysConfig

    path = workdir / f"gatys_{content_name}_{style_name}_512_trace.pt"
    if not path.is_file():
        torch.save(run_gatys(GatysConfig(size=512), photo(content_name, 512), style), path)
    return dict(torch.load(path))


def photo_section(args: argparse.Namespace, workdir: Path) -> None:
    from skimage.metrics import structural_similarity

    from gatys import evaluate
    from painterly.image.color import luminance
    from painterly.image.io import resize_long_side, save_image

    def ssim_luminance(image: torch.Tensor, content: torch.Tensor) -> float:
        first, second = luminance(image)[0, 0].double().numpy(), luminance(content)[0, 0].double().numpy()
        return float(structural_similarity(first, second, data_range=1.0))  # type: ignore[no-untyped-call]

    print("\nphoto: SSIM of the luminance to the photo (structure), Gram style loss to the style photo (lower: the")
    print("statistics moved further), the photo's own style loss for scale")
    header = f"{'pair':<22} {'variant':<13} {'seconds':>8} {'SSIM(Y)':>8} {'style':>9} {'photo own':>10}"
    print(header)
    print("-" * len(header))
    for pair in args.photo_pairs:
        content_name, style_name = pair.split(":")
        content = photo(content_name, args.photo_size)
        style = style_image(style_name)
        reference = resize_long_side(style, args.photo_size)
        own = evaluate(content, content, reference)["style"]
        variants = {"photo": ("photo", {}), "photo+smooth": ("photo", {"smooth": True}), "wct": ("wct", {})}
        for label, (method, values) in variants.items():
            image, seconds = timed(method, content, style, **values)
            save_image(image, workdir / f"{label}_{content_name}_{style_name}.png")
            score = evaluate(image, content, reference)
            print(
                f"{pair:<22} {label:<13} {seconds:>8.2f} {ssim_luminance(image, content):>8.3f} "
                f"{score['style']:>9.4g} {own:>10.4g}"
            )


def psnr_section() -> None:
    import torch.nn.functional as F

    from painterly.decoder_model import load_shipped_photo_decoder, load_wct_decoders
    from painterly.image.io import load_image, resize_long_side
    from painterly.methods.photo import PhotoOptions, PhotoStylizer
    from painterly.methods.wct import WCTOptions, WCTStylizer
    from painterly.training.data import image_files
    from painterly.training.decoders import psnr

    files = image_files(SHARED / "photos" / "test")
    wct = WCTStylizer(load_wct_decoders(), device="cpu", precision="fp32")
    photo_stylizer = PhotoStylizer(load_shipped_photo_decoder(), device="cpu", precision="fp32")
    scores: dict[str, list[float]] = {}
    for file in files:
        image = resize_long_side(load_image(file, max_pixels=None), 512)
        for layer in wct.decoders:
            picture = wct.stylize(image, [image], options=WCTOptions(alpha=0.0, levels=(layer,)))
            scores.setdefault(f"wct {layer}", []).append(psnr(float(F.mse_loss(picture, image))))
        picture = wct.stylize(image, [image], options=WCTOptions(alpha=0.0))
        scores.setdefault("wct cascade (4 levels)", []).append(psnr(float(F.mse_loss(picture, image))))
        picture = photo_stylizer.stylize(image, [image], options=PhotoOptions(alpha=0.0))
        scores.setdefault("photo (wavelet)", []).append(psnr(float(F.mse_loss(picture, image))))
    print(f"\nreconstruction PSNR (fp32, alpha 0) on the {len(files)} test photos at 512 px, never trained on:")
    for name, values in scores.items():
        print(f"  {name:<24} {statistics.mean(values):6.2f} dB (min {min(values):.2f})")


def init_section(args: argparse.Namespace, workdir: Path) -> None:
    from painterly.config import GatysConfig

    print("\ninit: iterations (and seconds, the one-pass start included) until the loss is at most the final loss")
    print("of the defaults (content start, 300 + 200 iterations at 256 + 512 px); one-pass starts run one 512 px level")
    header = f"{'pair':<26} {'start':<8} {'iterations':>10} {'seconds':>8} {'final loss':>11} {'equal at':>9} {'s':>7}"
    print(header)
    print("-" * len(header))
    for pair in args.init_pairs:
        content_name, style_name = pair.split(":")
        content, style = photo(content_name, 512), style_image(style_name)
        runs = {"content": gatys_reference_for(content_name, style_name, style, workdir)}
        for start in ("wct", "adain"):
            config = GatysConfig(size=512, init=start, iterations=(args.init_iterations,))
            runs[start] = run_gatys(config, content, style)
        target = runs["content"]["trace"][-1][1]
        for start, run in runs.items():
            trace = run["trace"]
            equal = next(((step, at) for step, loss, at in trace if loss <= target), None)
            print(
                f"{pair:<26} {start:<8} {trace[-1][0]:>10} {run['seconds']:>8.1f} {trace[-1][1]:>11.5g} "
                f"{equal[0] if equal else '-':>9} {(f'{equal[1]:.1f}' if equal else '-'):>7}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--methods", default=",".join(METHODS), help="methods of the speed section")
    parser.add_argument("--sizes", default="512,1024")
    parser.add_argument("--speed-size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pairs", default=",".join(PAIRS), help="photo:style (painting, texture or train photo)")
    parser.add_argument("--photo-pairs", default=",".join(PHOTO_PAIRS))
    parser.add_argument("--photo-size", type=int, default=512)
    parser.add_argument("--init-pairs", default=",".join(INIT_PAIRS))
    parser.add_argument("--init-iterations", type=int, default=200)
    parser.add_argument("--no-gatys", dest="gatys", action="store_false", help="quality without the Gatys reference")
    parser.add_argument("--workdir", type=Path, help="images go here; Gatys results here are reused")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        method, size, precision, repeats = args.child
        print(json.dumps(measure_speed(method, int(size), precision, int(repeats))))
        return
    if not SHARED.is_dir():
        sys.exit(f"needs {SHARED} (test photos and paintings)")
    args.methods = [name for name in args.methods.split(",") if name]
    args.sizes = [int(size) for size in args.sizes.split(",")]
    for name in ("pairs", "photo_pairs", "init_pairs"):
        setattr(args, name, [pair for pair in getattr(args, name).split(",") if pair])
    sections = [name for name in args.sections.split(",") if name]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        sys.exit(f"unknown sections {sorted(unknown)}: choose from {', '.join(SECTIONS)}")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="painterly-bench-arbitrary-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if "speed" in sections:
        speed_section(args)
    if "psnr" in sections:
        psnr_section()
    if "quality" in sections:
        quality_section(args, workdir)
    if "photo" in sections:
        photo_section(args, workdir)
    if "init" in sections:
        init_section(args, workdir)


if __name__ == "__main__":
    main()
