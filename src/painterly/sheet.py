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


def compose_grid(rows: Sequence[Sequence[tuple[str, torch.Tensor]]], *, tile_height: int = 256) -> Image.Image:
    """Labelled pictures in rows, each scaled to ``tile_height`` (widths follow the pictures); a comparison figure."""
    font = ImageFont.load_default(size=16)
    scaled = [[(label, to_pil(resize_to_height(picture, tile_height))) for label, picture in row] for row in rows]
    width = max(sum(picture.size[0] + GAP for _, picture in row) for row in scaled) + GAP
    cell_height = tile_height + LABEL_HEIGHT + GAP
    sheet = Image.new("RGB", (width, len(scaled) * cell_height + GAP), "white")
    draw = ImageDraw.Draw(sheet)
    for index, row in enumerate(scaled):
        left, top = GAP, GAP + index * cell_height
        for label, picture in row:
            sheet.paste(picture, (left, top))
            draw.text((left + 2, top + tile_height + 5), label.replace("_", " "), fill="black", font=font)
            left += picture.size[0] + GAP
    return sheet


def resize_to_height(picture: torch.Tensor, height: int) -> torch.Tensor:
    from .image.io import resize_to

    width = max(1, round(picture.shape[-1] * height / picture.shape[-2]))
    return resize_to(picture, (height, width))
