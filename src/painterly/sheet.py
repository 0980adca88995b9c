"""Contact sheets: one photo rendered in every preset, labelled, on one image."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from PIL import Image, ImageDraw, ImageFont

from .image.io import resize_long_side, to_pil

LABEL_HEIGHT = 28
GAP = 6


def compose_sheet(
    photo: torch.Tensor,
    names: Sequence[str],
    render: Callable[[torch.Tensor, str], torch.Tensor],
    *,
    tile_long_side: int = 384,
    columns: int | None = None,
) -> Image.Image:
    """The photo first (labelled "photo"), then ``render(photo, name)`` for every name, in a labelled grid."""
    small = resize_long_side(photo, tile_long_side)
    tiles = [("photo", to_pil(small))] + [(name, to_pil(render(small, name))) for name in names]
    count = len(tiles)
    columns = columns or math.ceil(math.sqrt(count * 1.5))
    rows = math.ceil(count / columns)
    tile_width, tile_height = tiles[0][1].size
    cell_width, cell_height = tile_width + GAP, tile_height + LABEL_HEIGHT + GAP
    sheet = Image.new("RGB", (columns * cell_width + GAP, rows * cell_height + GAP), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=16)
    for position, (label, picture) in enumerate(tiles):
        left = GAP + (position % columns) * cell_width
        top = GAP + (position // columns) * cell_height
        sheet.paste(picture.resize((tile_width, tile_height)), (left, top))
        draw.text((left + 2, top + tile_height + 5), label.replace("_", " "), fill="black", font=font)
    return sheet
