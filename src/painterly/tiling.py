"""Tiles with overlap for images too large for one encoder pass, and memory estimates to decide when to tile.

The encoder sees each tile with a halo of context around it; only the features of the tile's interior count. With a
halo wider than the receptive-field radius and tile borders on multiples of ``ALIGN`` (the deepest layer's stride),
interior features equal those of one full pass, and Gram matrices add up exactly over interiors:
``G = sum_t F_t F_t^T / (C N)``.

>>> [(t.y0, t.y1, t.x0, t.x1) for t in tile_grid(64, 96, tile=64, halo=16)]
[(0, 64, 0, 64), (0, 64, 64, 96)]
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

ALIGN = 16
# Bytes of memory per pixel of one encoder forward + backward (VGG16 to relu5_1), measured on this CPU by
# benchmarks/memory_probe.py (bf16 1355-1360, fp32 2080-2150), with a margin for the loss graph.
BYTES_PER_PIXEL_BF16 = 1600
BYTES_PER_PIXEL_FP32 = 2500


@dataclass(frozen=True)
class Tile:
    """A tile: its interior ``[y0:y1, x0:x1]`` and the padded region the encoder sees ``[py0:py1, px0:px1]``."""

    y0: int
    y1: int
    x0: int
    x1: int
    py0: int
    py1: int
    px0: int
    px1: int

    def interior_in_padded(self, stride: int) -> tuple[slice, slice]:
        """Where the interior lies inside the padded tile's features at a layer with this ``stride``."""
        return (
            slice((self.y0 - self.py0) // stride, -(-(self.y1 - self.py0) // stride)),
            slice((self.x0 - self.px0) // stride, -(-(self.x1 - self.px0) // stride)),
        )


def _cuts(length: int, tile: int, offset: int) -> list[int]:
    """Tile boundaries along one axis: 0, offset, offset + tile, ..., length (no empty or duplicate cuts)."""
    cuts = [0]
    position = offset % tile if offset % tile else tile
    while position < length:
        cuts.append(position)
        position += tile
    cuts.append(length)
    return cuts


def tile_grid(height: int, width: int, *, tile: int, halo: int, offset: tuple[int, int] = (0, 0)) -> list[Tile]:
    """Cover an image with tiles of about ``tile`` pixels (multiples of ALIGN), each with ``halo`` of context.

    ``offset`` shifts the grid (rounded to ALIGN); edge tiles are clipped to the image.
    """
    if tile < ALIGN or tile % ALIGN:
        raise ValueError(f"tile must be a positive multiple of {ALIGN}, got {tile}")
    halo = -(-halo // ALIGN) * ALIGN
    offset_y, offset_x = (offset[0] // ALIGN) * ALIGN, (offset[1] // ALIGN) * ALIGN
    tiles = []
    rows, columns = _cuts(height, tile, offset_y), _cuts(width, tile, offset_x)
    for y0, y1 in itertools.pairwise(rows):
        for x0, x1 in itertools.pairwise(columns):
            tiles.append(
                Tile(
                    y0, y1, x0, x1, max(0, y0 - halo), min(height, y1 + halo), max(0, x0 - halo), min(width, x1 + halo)
                )
            )
    return tiles


def default_tile(max_pass_pixels: int, halo: int) -> int:
    """The tile side whose padded square (tile + 2 halo) stays within ``max_pass_pixels``, at least 4 * ALIGN."""
    return max(ALIGN * 4, int(math.sqrt(max_pass_pixels)) - 2 * halo) // ALIGN * ALIGN


def assemble_tiles(
    height: int, width: int, *, tile: int, halo: int, channels: int, compute: Callable[[Tile], Tensor], stride: int = 1
) -> Tensor:
    """Run ``compute`` on every tile of a (height, width) image and keep each tile's interior.

    ``compute(tile)`` returns the result (1, channels, h, w) for the padded region ``[py0:py1, px0:px1]`` at
    1/``stride`` of its size; the assembled result is (1, channels, ceil(height / stride), ceil(width / stride)).
    """
    output = torch.empty(1, channels, -(-height // stride), -(-width // stride))
    for part in tile_grid(height, width, tile=tile, halo=halo):
        rows, cols = part.interior_in_padded(stride)
        top, left = part.y0 // stride, part.x0 // stride
        interior = compute(part)[..., rows, cols]
        output[..., top : top + interior.shape[-2], left : left + interior.shape[-1]] = interior
    return output


def available_memory() -> int:
    """Bytes of memory the system says are available now (Linux MemAvailable), or a conservative 4 GiB guess."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def encoder_pass_bytes(pixels: int, *, half_precision: bool) -> int:
    """Estimated peak bytes of one encoder forward + backward over ``pixels`` pixels."""
    return pixels * (BYTES_PER_PIXEL_BF16 if half_precision else BYTES_PER_PIXEL_FP32)


def choose_tile(height: int, width: int, *, budget: int, half_precision: bool, halo: int) -> int | None:
    """None when the whole image fits in ``budget`` bytes; else the largest tile (a multiple of ALIGN) that fits,
    found by splitting the long side into 2, 3, 4, ... equal parts (so no thin leftover tiles)."""
    if encoder_pass_bytes(height * width, half_precision=half_precision) <= budget:
        return None
    long_side = max(height, width)
    for parts in range(2, long_side // ALIGN + 1):
        tile = math.ceil(math.ceil(long_side / parts) / ALIGN) * ALIGN
        padded = min(height, tile + 2 * halo) * min(width, tile + 2 * halo)
        if encoder_pass_bytes(padded, half_precision=half_precision) <= budget:
            return tile
    return 4 * ALIGN


def encode_in_tiles(
    run: Callable[[Tensor], Tensor],
    image: Tensor,
    *,
    stride: int,
    channels: int,
    halo: int,
    tile_size: int | None,
    max_pass_pixels: int,
) -> Tensor:
    """``run(image)`` (an encoder to a layer of this ``stride``) in one pass, or in tiles with ``halo`` of context
    when ``tile_size`` is given or the image exceeds ``max_pass_pixels``: the same features either way."""
    height, width = image.shape[-2:]
    if tile_size is None and height * width <= max_pass_pixels:
        return run(image)
    return assemble_tiles(
        height,
        width,
        tile=tile_size or default_tile(max_pass_pixels, halo),
        halo=halo,
        channels=channels,
        compute=lambda part: run(image[..., part.py0 : part.py1, part.px0 : part.px1]),
        stride=stride,
    )


def decode_in_tiles(
    run: Callable[[Tensor], Tensor],
    features: Tensor,
    *,
    stride: int,
    halo: int,
    tile_size: int | None,
    max_pass_pixels: int,
) -> Tensor:
    """``run(features)`` (a decoder from a layer of this ``stride`` to an RGB image) in one pass or in tiles."""
    height, width = features.shape[-2] * stride, features.shape[-1] * stride
    if tile_size is None and height * width <= max_pass_pixels:
        return run(features)

    def compute(part: Tile) -> Tensor:
        rows = slice(part.py0 // stride, part.py1 // stride)
        return run(features[..., rows, part.px0 // stride : part.px1 // stride])

    return assemble_tiles(
        height,
        width,
        tile=tile_size or default_tile(max_pass_pixels, halo),
        halo=halo,
        channels=3,
        compute=compute,
    )
