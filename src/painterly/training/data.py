"""Training images: a folder of photos (or paintings) held in memory as uint8, sampled as random crops.

Sampling draws from a generator seeded by (seed, step), so the batch at step ``k`` is the same whether the run went
straight through or resumed from a checkpoint.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Generic, TypeVar

import torch
from torch import Tensor

from ..errors import ConfigError, InputImageError
from ..image.io import load_image, resize_to

Batch = TypeVar("Batch")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def image_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name; a missing or image-less folder raises."""
    path = Path(folder)
    if not path.is_dir():
        raise InputImageError(f"{path}: not a folder of images")
    files = sorted(item for item in path.iterdir() if item.suffix.lower() in IMAGE_SUFFIXES and item.is_file())
    if not files:
        raise InputImageError(f"{path}: no images found ({', '.join(IMAGE_SUFFIXES)})")
    return files


def step_generator(seed: int, step: int) -> torch.Generator:
    """The random generator of one training step: a pure function of the run's seed and the step."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


class CropSampler:
    """Random square crops with random horizontal flips from images held in memory.

    Images whose short side is below ``crop`` are scaled up to it once at load; ``max_side`` scales large ones down.
    With ``max_zoom_out`` above 1 each crop covers a square of ``crop * z`` pixels (``z`` uniform in [1, max_zoom_out],
    bounded by the image) scaled down to ``crop``: the network meets every scene at several scales.

    >>> sampler = CropSampler([torch.rand(1, 3, 40, 60)], crop=32)
    >>> sampler.sample(2, step_generator(0, 0)).shape
    torch.Size([2, 3, 32, 32])
    """

    def __init__(
        self, images: Iterable[Tensor], *, crop: int, max_side: int | None = None, max_zoom_out: float = 1.0
    ) -> None:
        if crop < 8:
            raise ConfigError(f"crop size must be at least 8 pixels, got {crop}")
        if not 1.0 <= max_zoom_out <= 8.0:
            raise ConfigError(f"max_zoom_out must be within 1..8, got {max_zoom_out}")
        self.crop = crop
        self.max_zoom_out = max_zoom_out
        self.images: list[Tensor] = []
        for image in images:
            height, width = image.shape[-2:]
            scale = max(crop / min(height, width), 1.0)
            if max_side is not None and max(height, width) * scale > max_side:
                scale = max(max_side / max(height, width), crop / min(height, width))
            if scale != 1.0:
                image = resize_to(image, (max(crop, round(height * scale)), max(crop, round(width * scale))))
            self.images.append((image[0].clamp(0, 1) * 255).round().to(torch.uint8))
        if not self.images:
            raise ConfigError("no training images")

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, batch: int, generator: torch.Generator) -> Tensor:
        """(batch, 3, crop, crop) float in [0, 1]."""
        picks = torch.randint(len(self.images), (batch,), generator=generator).tolist()
        crops = []
        for index in picks:
            image = self.images[index]
            height, width = image.shape[-2:]
            side = self.crop
            if self.max_zoom_out > 1.0:
                zoom = 1.0 + float(torch.rand((), generator=generator)) * (self.max_zoom_out - 1.0)
                side = max(self.crop, min(round(self.crop * zoom), int(height), int(width)))
            top = int(torch.randint(height - side + 1, (1,), generator=generator))
            left = int(torch.randint(width - side + 1, (1,), generator=generator))
            crop = image[:, top : top + side, left : left + side]
            if bool(torch.rand((), generator=generator) < 0.5):
                crop = crop.flip(-1)
            if side != self.crop:
                crop = (resize_to(crop[None].float() / 255, (self.crop, self.crop))[0] * 255).round().to(torch.uint8)
            crops.append(crop)
        return torch.stack(crops).float() / 255


def load_folder(
    folder: str | os.PathLike[str],
    *,
    crop: int,
    max_side: int | None = None,
    limit: int | None = None,
    max_zoom_out: float = 1.0,
) -> CropSampler:
    """A :class:`CropSampler` over the images of ``folder`` (the first ``limit`` by name, if given)."""
    files = image_files(folder)[:limit]
    # a generator: one float image at a time, only the uint8 copies are kept
    images = (load_image(file, max_pixels=None) for file in files)
    return CropSampler(images, crop=crop, max_side=max_side, max_zoom_out=max_zoom_out)


def jitter_colors(images: Tensor, generator: torch.Generator, *, strength: float = 1.0) -> Tensor:
    """Random colour variants of (B, 3, H, W) images: hue rotation, saturation and brightness per image.

    Works in YIQ: the chroma plane (I, Q) is rotated by up to ``±strength * 180°`` and scaled by ``1 ± 0.4 *
    strength``, the luma by ``1 ± 0.2 * strength``. Used on style images so that a decoder meets many more colour
    schemes than the paintings it is trained on. ``strength`` 0 returns the images unchanged.
    """
    from ..image.color import rgb_to_yiq, yiq_to_rgb

    if strength == 0:
        return images
    batch = images.shape[0]
    angle = (torch.rand(batch, generator=generator) * 2 - 1) * math.pi * strength
    saturation = 1 + (torch.rand(batch, generator=generator) * 2 - 1) * 0.4 * strength
    brightness = 1 + (torch.rand(batch, generator=generator) * 2 - 1) * 0.2 * strength
    yiq = rgb_to_yiq(images)
    cos, sin = (angle.cos() * saturation).view(batch, 1, 1), (angle.sin() * saturation).view(batch, 1, 1)
    luma = yiq[:, 0] * brightness.view(batch, 1, 1)
    i, q = yiq[:, 1], yiq[:, 2]
    rotated = torch.stack([luma, cos * i - sin * q, sin * i + cos * q], dim=1)
    return yiq_to_rgb(rotated).clamp(0, 1)


def load_preview(photo: Path | None, photo_folder: Path, long_side: int = 256) -> Tensor:
    """The preview photo (default: the folder's first photo) at ``long_side``."""
    from ..image.io import resize_long_side

    return resize_long_side(load_image(photo or image_files(photo_folder)[0], max_pixels=None), long_side)


class BatchPrefetcher(Generic[Batch]):
    """Draws the next step's batch on a background thread while the current step runs (keeps a GPU busy).

    ``draw(generator)`` makes one step's batch. :meth:`get` is called with the step's fresh generator (from
    :func:`step_generator`); the batch it returns equals ``draw(generator)`` exactly, because the batch drawn ahead
    for the next seed uses a fresh generator with that seed. Resumed or out-of-order steps simply draw in place.
    """

    def __init__(self, draw: Callable[[torch.Generator], Batch]) -> None:
        self.draw = draw
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="painterly-batches")
        self.pending: tuple[int, Future[Batch]] | None = None

    def get(self, generator: torch.Generator) -> Batch:
        seed = generator.initial_seed()
        if self.pending is not None and self.pending[0] == seed:
            batch = self.pending[1].result()
        else:
            if self.pending is not None:
                self.pending[1].cancel()
            batch = self.draw(generator)
        following = seed + 1
        self.pending = (following, self.pool.submit(self.draw, torch.Generator().manual_seed(following)))
        return batch

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
