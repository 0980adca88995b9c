"""Short-time Fourier transforms of mono sound: the log-magnitude features the style transfer works on.

>>> settings = SpectrogramSettings()
>>> features = log_magnitude(torch.zeros(22050), settings)
>>> tuple(features.shape)
(1025, 44)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import ConfigError


@dataclass(frozen=True)
class SpectrogramSettings:
    """STFT of Ulyanov & Lebedev: a Hann window of ``n_fft`` samples every ``hop`` samples, centred frames."""

    n_fft: int = 2048
    hop: int = 512

    def __post_init__(self) -> None:
        if self.n_fft < 16 or self.n_fft & (self.n_fft - 1):
            raise ConfigError(f"n_fft must be a power of two of at least 16, got {self.n_fft}")
        if not 0 < self.hop <= self.n_fft // 2:
            raise ConfigError(f"hop must be within 1..{self.n_fft // 2} (at least two frames overlap), got {self.hop}")

    @property
    def bins(self) -> int:
        """Frequency bins of one frame (the channels of the 1-D convolution)."""
        return self.n_fft // 2 + 1

    def frames(self, samples: int) -> int:
        """Frames of the centred STFT of ``samples`` samples."""
        return samples // self.hop + 1

    def window(self, device: torch.device | str = "cpu") -> Tensor:
        return torch.hann_window(self.n_fft, device=device)


def stft(samples: Tensor, settings: SpectrogramSettings) -> Tensor:
    """Complex STFT (bins, frames) of 1-D ``samples``; reflect-padded centred frames."""
    if samples.ndim != 1:
        raise ConfigError(f"expected mono samples of shape (n,), got {tuple(samples.shape)}")
    return torch.stft(
        samples,
        settings.n_fft,
        settings.hop,
        window=settings.window(samples.device),
        center=True,
        pad_mode="reflect" if samples.numel() > settings.n_fft // 2 else "constant",
        return_complex=True,
    )


def istft(spectrum: Tensor, settings: SpectrogramSettings, length: int) -> Tensor:
    """Inverse of :func:`stft` (overlap-add with the window), cut or padded to ``length`` samples."""
    return torch.istft(spectrum, settings.n_fft, settings.hop, window=settings.window(spectrum.device), length=length)


def log_magnitude(samples: Tensor, settings: SpectrogramSettings) -> Tensor:
    """``log1p(|STFT|)`` (bins, frames): the features of Ulyanov & Lebedev; phase dropped."""
    return torch.log1p(stft(samples, settings).abs())


def magnitude_from_log(features: Tensor) -> Tensor:
    """Inverse of ``log1p``, never negative (an optimised spectrogram may dip below zero)."""
    return torch.expm1(features.clamp_min(0.0))


LSD_FLOOR_DB = 80.0
"""Log-spectral distances count levels down to this many dB below the reference's loudest bin: quieter bins are
inaudible beside it, and without a floor the empty bins of a pure tone (-200 dB) would swamp the measure."""


def log_spectral_distance(reference: Tensor, estimate: Tensor, settings: SpectrogramSettings) -> float:
    """Log-spectral distance in dB between two sounds of the same length: per frame the RMS over bins of the
    difference of their levels ``10 log10 |X|²``, averaged over frames; both floored at :data:`LSD_FLOOR_DB` below
    the reference's loudest bin."""
    if reference.shape != estimate.shape:
        raise ConfigError(f"sounds differ in length: {tuple(reference.shape)} and {tuple(estimate.shape)}")
    power_x = stft(reference.double(), settings).abs().square()
    power_y = stft(estimate.double(), settings).abs().square()
    floor = max(float(power_x.max()), 1e-20) * 10 ** (-LSD_FLOOR_DB / 10)
    difference = 10 * torch.log10(power_x.clamp_min(floor)) - 10 * torch.log10(power_y.clamp_min(floor))
    return float(difference.square().mean(dim=0).sqrt().mean())
