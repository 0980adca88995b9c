"""docs/images/augment_grid.jpg: style augmentation on three CC0 photos of scikit-image, one row per photo.

    .venv/bin/python docs/make_augment_grid.py [--styles ../shared/data/styles] [-o docs/images/augment_grid.jpg]

Each row: the photo, five draws of `StyleAugment` from the shipped style distribution (p 1, strength 0.5-1, seed 0),
and three draws of the Stylized-ImageNet recipe (a random real painting of --styles at strength 1), at 256 px.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from skimage import data

from painterly.augment.transform import StyleAugment
from painterly.image.io import as_loaded_image, resize_long_side
from painterly.sheet import compose_grid

PHOTOS = {"astronaut": data.astronaut, "chelsea": data.chelsea, "coffee": data.coffee}
ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--styles", type=Path, default=ROOT.parent / "shared" / "data" / "styles")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "images" / "augment_grid.jpg")
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    random_styles = StyleAugment(p=1.0, strength=(0.5, 1.0), seed=0)
    paintings = StyleAugment(styles=args.styles, p=1.0, strength=1.0, seed=0) if args.styles.is_dir() else None
    rows: list[list[tuple[str, torch.Tensor]]] = []
    for label, make in PHOTOS.items():
        photo = resize_long_side(as_loaded_image(make()).rgb, args.size)[0]
        row = [(label, photo[None])]
        row += [(f"random style {index + 1}", random_styles(photo)[None]) for index in range(5)]
        if paintings is not None:
            row += [(f"painting {index + 1}", paintings(photo)[None]) for index in range(3)]
        rows.append(row)
    sheet = compose_grid(rows, tile_height=160)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.output, quality=88)
    print(f"{args.output}: {sheet.size[0]}x{sheet.size[1]}")


if __name__ == "__main__":
    main()
