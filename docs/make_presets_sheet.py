"""docs/images/presets_sheet.jpg: three CC0 photos of scikit-image in every preset at strength 1, one row per photo.

    .venv/bin/python docs/make_presets_sheet.py [--model runs/x/model.safetensors | --network fast]
        [-o docs/images/presets_sheet.jpg]

Each photo is styled at 512 px long side (the size the benchmark scores) and shown scaled to the row's height.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from skimage import data

from painterly.image.io import as_loaded_image, resize_long_side
from painterly.methods.model_files import load_style_network
from painterly.methods.stylizer import NetworkStylizer
from painterly.presets import load_presets
from painterly.sheet import compose_grid

PHOTOS = {"astronaut": data.astronaut, "chelsea": data.chelsea, "coffee": data.coffee}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a trained model file (default: the shipped presets)")
    parser.add_argument("--network", choices=("quality", "fast"), default="quality", help="which shipped network")
    parser.add_argument("-o", "--output", type=Path, default=Path("docs/images/presets_sheet.jpg"))
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--tile-height", type=int, default=180)
    args = parser.parse_args()
    if args.model:
        network, names, _ = load_style_network(args.model)
    else:
        network, names = load_presets(network=args.network)
    stylizer = NetworkStylizer(network, names, device="cpu", precision="auto")
    rows: list[list[tuple[str, torch.Tensor]]] = []
    for label, make in PHOTOS.items():
        photo = resize_long_side(as_loaded_image(make()).rgb, args.size)
        rows.append([(label, photo)] + [(name, stylizer.stylize(photo, {name: 1.0})) for name in names])
    sheet = compose_grid(rows, tile_height=args.tile_height)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.output, quality=88)
    print(f"{args.output}: {sheet.size[0]}x{sheet.size[1]}")


if __name__ == "__main__":
    main()
