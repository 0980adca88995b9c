"""A Gaussian over style statistics, to draw random styles from (Jackson et al. 2019, style augmentation).

The space is the one painterly's AdaIN method transfers: the channel means and deviations of VGG16's ``relu4_1``
features. A style is the vector ``z = [mean, log(std)]`` (1024 numbers; the logarithm keeps sampled deviations
positive). :func:`fit_style_distribution` measures ``z`` on many random crops of every painting (several scales,
so that ten paintings give a usable covariance, not ten points) and fits ``N(mu, W Wᵀ + diag(d))`` with ``W`` the
leading ``rank`` principal directions scaled by their deviations and ``d`` the variance those leave per dimension.
:meth:`StyleDistribution.sample` draws styles from it; ``temperature`` widens or narrows it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save
from torch import Tensor

from ..atomic import write_atomically
from ..errors import ConfigError, WeightsError
from ..image.io import resize_long_side
from ..ops import mean_std

FORMAT = "painterly-style-distribution-1"
EPS = 1e-5
DEFAULT_RANK = 16
CROP_SCALES = (0.35, 0.5, 0.7, 1.0)
"""Crop sides as fractions of the painting's short side: details and whole compositions."""


@dataclass(frozen=True)
class StyleDistribution:
    """``N(mean, factors factorsᵀ + diag(residual))`` over ``z = [channel means, log channel deviations]``."""

    mean: Tensor
    """(2C,)"""
    factors: Tensor
    """(2C, rank)"""
    residual: Tensor
    """(2C,) variances left by the factors, at least 0."""
    sources: tuple[str, ...] = ()
    """Names of the paintings it was fitted to."""

    def __post_init__(self) -> None:
        dims = self.mean.shape[0]
        if self.mean.dim() != 1 or dims % 2 or self.factors.shape[0] != dims or self.residual.shape != (dims,):
            raise ConfigError("a style distribution needs a mean (2C,), factors (2C, k) and residual variances (2C,)")
        if not (torch.isfinite(self.mean).all() and torch.isfinite(self.factors).all()):
            raise ConfigError("a style distribution must hold finite numbers")
        if (self.residual < 0).any() or not torch.isfinite(self.residual).all():
            raise ConfigError("a style distribution's residual variances must be finite and at least 0")

    @property
    def channels(self) -> int:
        return self.mean.shape[0] // 2

    @property
    def rank(self) -> int:
        return int(self.factors.shape[1])

    def sample(self, count: int, generator: torch.Generator, *, temperature: float = 1.0) -> tuple[Tensor, Tensor]:
        """``count`` styles as (means, deviations), each (count, C, 1, 1) in fp32."""
        if count < 0 or not temperature >= 0:
            raise ConfigError("count must be at least 0 and temperature at least 0")
        latent = torch.randn(count, self.rank, generator=generator)
        noise = torch.randn(count, self.mean.shape[0], generator=generator)
        z = self.mean + temperature * (latent @ self.factors.T + noise * self.residual.sqrt())
        return split_statistics(z)

    def save(self, path: Path) -> Path:
        """fp32 safetensors with the format and the source paintings as metadata, written whole or not at all."""
        tensors = {"mean": self.mean, "factors": self.factors, "residual": self.residual}
        data = save({key: value.float().contiguous() for key, value in tensors.items()}, self._metadata())
        return write_atomically(path, lambda handle: handle.write(data))

    def _metadata(self) -> dict[str, str]:
        return {"format": FORMAT, "sources": json.dumps(list(self.sources))}


def load_style_distribution(path: Path) -> StyleDistribution:
    """A distribution written by :meth:`StyleDistribution.save`; a damaged or foreign file is a WeightsError."""
    try:
        data = path.read_bytes()
        tensors = load(data)
        metadata = _metadata_of(data)
    except (OSError, SafetensorError, ValueError) as error:
        raise WeightsError(f"cannot read the style distribution {path}: {error}") from error
    if metadata.get("format") != FORMAT:
        raise WeightsError(f"{path} is not a painterly style distribution (format {metadata.get('format')!r})")
    try:
        sources = json.loads(metadata.get("sources", "[]"))
        if not isinstance(sources, list):
            raise ValueError("the sources are not a list")
        return StyleDistribution(tensors["mean"], tensors["factors"], tensors["residual"], tuple(map(str, sources)))
    except (KeyError, ValueError, ConfigError) as error:
        raise WeightsError(f"{path}: damaged style distribution ({error})") from error


def _metadata_of(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file's header (8-byte length, then JSON)."""
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])
    return dict(header.get("__metadata__", {}))


def join_statistics(means: Tensor, deviations: Tensor) -> Tensor:
    """(N, C, 1, 1) means and deviations → (N, 2C) vectors ``[mean, log std]``."""
    return torch.cat([means.flatten(1), deviations.clamp_min(EPS).log().flatten(1)], dim=1)


def split_statistics(z: Tensor) -> tuple[Tensor, Tensor]:
    """The inverse of :func:`join_statistics`."""
    channels = z.shape[1] // 2
    return z[:, :channels, None, None].contiguous(), z[:, channels:, None, None].exp().contiguous()


def random_crops(
    painting: Tensor, count: int, generator: torch.Generator, *, size: int, scales: Sequence[float] = CROP_SCALES
) -> list[Tensor]:
    """``count`` square crops of ``painting`` (1, 3, H, W), sides cycling through ``scales`` of its short side,
    each resized to ``size`` px."""
    height, width = int(painting.shape[-2]), int(painting.shape[-1])
    crops = []
    if min(height, width) < 16:
        raise ConfigError(f"a painting of {width}x{height} px is too small to measure: at least 16 px a side")
    for index in range(count):
        side = max(16, round(min(height, width) * scales[index % len(scales)]))
        top = int(torch.randint(height - side + 1, (1,), generator=generator))
        left = int(torch.randint(width - side + 1, (1,), generator=generator))
        crops.append(resize_long_side(painting[..., top : top + side, left : left + side], size))
    return crops


def fit_style_distribution(
    paintings: Sequence[Tensor],
    encode: Callable[[Tensor], Tensor],
    *,
    names: Sequence[str] = (),
    crops_per_painting: int = 48,
    crop_size: int = 256,
    rank: int = DEFAULT_RANK,
    seed: int = 0,
    on_painting: Callable[[int, int], None] | None = None,
) -> StyleDistribution:
    """Fit the Gaussian to the statistics of ``crops_per_painting`` random crops of each painting.

    ``encode`` maps an image (1, 3, H, W) to its relu4_1 features (1, C, h, w). Every painting weighs the same
    whatever its size. ``rank`` is capped by the number of crops minus one.
    """
    if not paintings:
        raise ConfigError("fitting a style distribution needs at least one painting")
    if crops_per_painting < 2 or rank < 1:
        raise ConfigError("fitting needs at least 2 crops per painting and a rank of at least 1")
    generator = torch.Generator().manual_seed(seed)
    rows = []
    with torch.no_grad():
        for index, painting in enumerate(paintings):
            for crop in random_crops(painting, crops_per_painting, generator, size=crop_size):
                rows.append(join_statistics(*mean_std(encode(crop).float(), EPS)))
            if on_painting is not None:
                on_painting(index + 1, len(paintings))
    samples = torch.cat(rows).double()
    mean = samples.mean(dim=0)
    centred = samples - mean
    rank = min(rank, samples.shape[0] - 1)
    _, singular, directions = torch.linalg.svd(centred, full_matrices=False)
    deviations = singular[:rank] / (samples.shape[0] - 1) ** 0.5
    factors = directions[:rank].T * deviations
    variance = centred.square().sum(dim=0) / (samples.shape[0] - 1)
    residual = (variance - factors.square().sum(dim=1)).clamp_min(0.0)
    return StyleDistribution(mean.float(), factors.float(), residual.float(), tuple(names))
