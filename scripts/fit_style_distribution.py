"""Fit the style distribution of style augmentation to a folder of paintings and write it with its card.

    .venv/bin/python scripts/fit_style_distribution.py [STYLES_DIR]
        [-o src/painterly/data/style_distribution.safetensors]
        [--crops 48] [--rank 16]

Default STYLES_DIR: ../shared/data/styles (painterly's ten paintings). The statistics are those painterly's AdaIN
method transfers: VGG16 relu4_1 channel means and log deviations of random crops (painterly.augment.distribution).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from painterly.augment.distribution import CROP_SCALES, fit_style_distribution
    from painterly.encoders.vgg import vgg16
    from painterly.image.io import load_image
    from painterly.training.data import image_files
    from painterly.training.feedforward import style_names_of
    from painterly.training.model_card import PAINTINGS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("styles", nargs="?", type=Path, default=ROOT.parent / "shared" / "data" / "styles")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "src/painterly/data/style_distribution.safetensors")
    parser.add_argument("--crops", type=int, default=48)
    parser.add_argument("--crop-size", type=int, default=256)
    parser.add_argument("--rank", type=int, default=16)
    args = parser.parse_args()
    files = image_files(args.styles)
    names = style_names_of([str(path) for path in files])
    encoder = vgg16(layers=["relu4_1"]).eval()
    started = time.perf_counter()
    distribution = fit_style_distribution(
        [load_image(path, max_pixels=None) for path in files],
        lambda image: encoder(image)["relu4_1"],
        names=names,
        crops_per_painting=args.crops,
        crop_size=args.crop_size,
        rank=args.rank,
        on_painting=lambda done, total: print(f"{done}/{total} paintings", flush=True),
    )
    distribution.save(args.output)
    explained = distribution.factors.square().sum() / (
        distribution.factors.square().sum() + distribution.residual.sum()
    )
    card = args.output.with_suffix(".md")
    lines = [
        "# painterly style distribution: card",
        "",
        "The Gaussian that `painterly.augment.StyleAugment` draws random styles from (Jackson et al. 2019, style",
        "augmentation), in the space painterly's AdaIN method transfers: VGG16 (ImageNet) relu4_1 channel means and",
        "log deviations, 1024 numbers per style. Made by `scripts/fit_style_distribution.py` (painterly's own code).",
        "",
        "## Data",
        "",
        *[f"- `{name}`: {PAINTINGS.get(name, 'user-supplied painting')}" for name in names],
        "",
        f"{args.crops} random square crops per painting, sides {', '.join(f'{s:g}' for s in CROP_SCALES)} of its",
        f"short side, each at {args.crop_size} px: {args.crops * len(names)} points, every painting weighing the same.",
        "",
        "## Fit",
        "",
        f"- Mean, the {distribution.rank} leading principal directions (scaled by their deviations: the low-rank",
        f"  covariance) and the variance they leave per dimension; they hold {100 * float(explained):.0f} % of the",
        "  total variance. fp32 safetensors.",
        f"- {time.perf_counter() - started:.0f} s on the CPU.",
        "",
        "## Limits",
        "",
        f"- {len(names)} paintings: the styles drawn are blends and variations of these, not the whole of art history",
        "  (Jackson et al. fitted 79,433 paintings). Fit your own folder with the script for other looks.",
        "",
    ]
    card.write_text("\n".join(lines))
    print(f"wrote {args.output} and {card}")


if __name__ == "__main__":
    main()
