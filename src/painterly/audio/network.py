"""The random, untrained 1-D convolution of Ulyanov & Lebedev and the Gram style / feature content losses on it.

The spectrogram's frequency bins are the channels, time is the one spatial axis: each filter spans all bins and
``width`` frames, followed by a ReLU. The filters are never trained: He-scaled Gaussian noise from a seed, so a run
is reproducible and no weights ship. Several widths split the filters between banks (e.g. 4096 filters over widths
3 and 11: 2048 each), so the cost stays that of one bank.

>>> network = RandomSpectralNetwork(bins=1025, settings=NetworkSettings(filters=64))
>>> [tuple(h.shape) for h in network(torch.rand(1025, 40))]
[(64, 30)]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from ..errors import ConfigError

Precision = Literal["auto", "fp32", "bf16"]
PRECISIONS: tuple[Precision, ...] = ("auto", "fp32", "bf16")


def resolve_precision(precision: Precision) -> Literal["fp32", "bf16"]:
    """``auto``: bf16 where the CPU has native bf16 (AVX-512 BF16 or AMX), else fp32."""
    if precision != "auto":
        return precision
    from ..devices import cpu_supports_bf16

    return "bf16" if cpu_supports_bf16() else "fp32"


@dataclass(frozen=True)
class NetworkSettings:
    """``filters`` in all (split evenly between the ``kernel_widths``), drawn from ``seed``."""

    filters: int = 4096
    kernel_widths: tuple[int, ...] = (11,)
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.kernel_widths:
            raise ConfigError("give at least one kernel width")
        if any(width < 1 for width in self.kernel_widths):
            raise ConfigError(f"kernel widths must be at least 1 frame, got {list(self.kernel_widths)}")
        if len(set(self.kernel_widths)) != len(self.kernel_widths):
            raise ConfigError(f"kernel widths repeat: {list(self.kernel_widths)}")
        if self.filters < len(self.kernel_widths):
            raise ConfigError(f"{self.filters} filters cannot be split between {len(self.kernel_widths)} widths")

    @property
    def widest(self) -> int:
        return max(self.kernel_widths)

    def filters_per_bank(self) -> list[int]:
        share, extra = divmod(self.filters, len(self.kernel_widths))
        return [share + (1 if index < extra else 0) for index in range(len(self.kernel_widths))]


class RandomSpectralNetwork:
    """One bank of random filters per kernel width; ``network(features)`` gives each bank's ReLU activations
    (filters, frames − width + 1) for log-magnitude ``features`` (bins, frames)."""

    def __init__(self, bins: int, settings: NetworkSettings, *, precision: Precision = "fp32") -> None:
        if precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.bins, self.settings, self.precision = bins, settings, resolve_precision(precision)
        generator = torch.Generator().manual_seed(settings.seed)
        self.weights: list[Tensor] = []
        for width, count in zip(settings.kernel_widths, self.filters_per_bank, strict=True):
            scale = math.sqrt(2.0 / (bins * width))  # He et al.: unit-variance input keeps its variance through ReLU
            # Stored as (filters, width * bins), the layout of an unfolded input: the convolution is one matrix product.
            weight = torch.randn(count, width * bins, generator=generator) * scale
            self.weights.append(weight.bfloat16() if self.precision == "bf16" else weight)

    @property
    def filters_per_bank(self) -> list[int]:
        return self.settings.filters_per_bank()

    def __call__(self, features: Tensor) -> list[Tensor]:
        if features.ndim != 2 or features.shape[0] != self.bins:
            raise ConfigError(f"expected features of shape ({self.bins}, frames), got {tuple(features.shape)}")
        frames = features.shape[1]
        if frames < self.settings.widest:
            raise ConfigError(f"{frames} frames are fewer than the widest kernel ({self.settings.widest} frames)")
        activations = []
        for width, weight in zip(self.settings.kernel_widths, self.weights, strict=True):
            # (bins, frames) → (frames − width + 1, width · bins): each row one window, frame-major like the weights.
            windows = features.unfold(1, width, 1).permute(1, 2, 0).reshape(-1, width * self.bins)
            if self.precision == "bf16":
                windows = windows.bfloat16()
            activations.append(torch.relu(weight @ windows.T).float())
        return activations


@dataclass(frozen=True)
class GramTarget:
    """The style Gram matrix ``Σ_i w_i H_i H_iᵀ / T_i`` of one bank, kept as its factor ``[√(w_i/T_i) H_i]`` (filters,
    Σ T_i) and, where cheaper, as the matrix itself."""

    factor: Tensor
    gram: Tensor | None
    squared_norm: float

    @classmethod
    def from_activations(cls, activations: Sequence[Tensor], blend: Sequence[float], *, frames: int) -> GramTarget:
        """``frames``: frames of the sound that will be compared with it (to choose the cheaper loss form)."""
        factor = torch.cat(
            [h * math.sqrt(weight / h.shape[1]) for h, weight in zip(activations, blend, strict=True)], dim=1
        )
        filters, columns = factor.shape
        # ‖HHᵀ/T − G‖² costs ~filters²·T with G formed, ~filters·T·(T + columns) through the factor.
        gram = factor @ factor.T if frames + columns > filters else None
        inner = factor.T.double() @ factor.double()
        return cls(factor=factor, gram=gram, squared_norm=float(inner.square().sum()))


def gram_matrix(activations: Tensor) -> Tensor:
    """``H Hᵀ / T`` for activations (filters, T): the plain reference of :func:`gram_loss`."""
    return activations @ activations.T / activations.shape[1]


def gram_loss(activations: Tensor, target: GramTarget) -> Tensor:
    """``‖H Hᵀ/T − G‖²_F / filters²`` (mean over the Gram's entries), exact either way it is computed.

    Through the factor F of G (G = F Fᵀ): ‖HHᵀ‖² = ‖HᵀH‖², ⟨HHᵀ, FFᵀ⟩ = ‖HᵀF‖², so the filters×filters Gram is
    never formed when the sound is shorter than the filters are many — 4096 filters against a few hundred frames.
    """
    filters, frames = activations.shape
    if target.gram is not None:
        difference = activations @ activations.T / frames - target.gram
        return difference.square().sum() / filters**2
    own = (activations.T @ activations).square().sum() / frames**2
    cross = (activations.T @ target.factor).square().sum() / frames
    return (own - 2 * cross + target.squared_norm).clamp_min(0.0) / filters**2


def content_loss(activations: Tensor, target: Tensor) -> Tensor:
    """Mean squared difference of the activations (filters, T) to the content's."""
    return (activations - target).square().mean()
