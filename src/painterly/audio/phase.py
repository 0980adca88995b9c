"""Phase reconstruction from a magnitude spectrogram: fast Griffin-Lim (Perraudin, Balazs & Søndergaard 2013).

Griffin-Lim alternates between the set of spectrograms with the wanted magnitude and the set of consistent
spectrograms (those that are the STFT of some signal); the fast variant adds a momentum term (0.99 in the paper)
that reaches a given spectral convergence in a fraction of the iterations.

>>> settings = SpectrogramSettings()
>>> tone = torch.sin(torch.arange(22050) * 2 * torch.pi * 440 / 22050)
>>> sound = griffin_lim(stft(tone, settings).abs(), settings, length=22050, iterations=100, seed=0)
>>> spectral_convergence(stft(sound, settings).abs(), stft(tone, settings).abs()) < 0.1
True
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..errors import ConfigError
from .spectrogram import SpectrogramSettings, istft, stft

DEFAULT_MOMENTUM = 0.99
DEFAULT_PHASE_ITERATIONS = 100

PhaseProgress = Callable[[int, int], None]
"""Called after each iteration with (iteration, iterations)."""


def unit_phase(spectrum: Tensor) -> Tensor:
    """``spectrum / |spectrum|``, with phase 0 where the magnitude is 0."""
    magnitude = spectrum.abs()
    ones = torch.ones_like(spectrum)
    return torch.where(magnitude > 0, spectrum / magnitude.clamp_min(1e-30), ones)


def random_phase(shape: tuple[int, int], seed: int) -> Tensor:
    """Uniform random unit phases, reproducible from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    angles = torch.rand(shape, generator=generator, dtype=torch.float64) * 2 * torch.pi
    return torch.polar(torch.ones_like(angles), angles).to(torch.complex64)


def griffin_lim(
    magnitude: Tensor,
    settings: SpectrogramSettings,
    *,
    length: int,
    iterations: int = DEFAULT_PHASE_ITERATIONS,
    momentum: float = DEFAULT_MOMENTUM,
    initial_phase: Tensor | None = None,
    seed: int = 0,
    progress: PhaseProgress | None = None,
) -> Tensor:
    """A sound of ``length`` samples whose STFT magnitude is close to ``magnitude`` (bins, frames).

    ``initial_phase``: unit complex phases to start from (e.g. the content's, :func:`unit_phase`), else random ones
    from ``seed``. ``momentum`` 0 is the original Griffin-Lim. ``iterations`` 0 returns the inverse STFT of the
    starting spectrogram.
    """
    if magnitude.ndim != 2 or magnitude.shape[0] != settings.bins:
        raise ConfigError(f"expected a magnitude of shape ({settings.bins}, frames), got {tuple(magnitude.shape)}")
    if settings.frames(length) != magnitude.shape[1]:
        raise ConfigError(f"{length} samples make {settings.frames(length)} frames, not {magnitude.shape[1]}")
    if iterations < 0:
        raise ConfigError(f"phase iterations must be at least 0, got {iterations}")
    if not 0.0 <= momentum < 1.0:
        raise ConfigError(f"momentum must be within [0, 1), got {momentum}")
    magnitude = magnitude.float()
    if initial_phase is None:
        phase = random_phase((magnitude.shape[0], magnitude.shape[1]), seed)
    else:
        if initial_phase.shape != magnitude.shape:
            raise ConfigError(f"initial phase {tuple(initial_phase.shape)} does not match {tuple(magnitude.shape)}")
        phase = initial_phase.to(torch.complex64)
    previous = torch.zeros_like(phase)
    # Perraudin et al.'s update written as librosa does: the projection minus momentum/(1+momentum) of the last one.
    keep = momentum / (1.0 + momentum)
    for iteration in range(iterations):
        rebuilt = stft(istft(magnitude * phase, settings, length), settings)
        phase = unit_phase(rebuilt - keep * previous)
        previous = rebuilt
        if progress is not None:
            progress(iteration + 1, iterations)
    return istft(magnitude * phase, settings, length)


def spectral_convergence(estimate: Tensor, reference: Tensor) -> float:
    """``‖|X̂| − |X|‖_F / ‖|X|‖_F`` of two magnitude spectrograms (0 is a perfect reconstruction)."""
    if estimate.shape != reference.shape:
        raise ConfigError(f"spectrograms differ in shape: {tuple(estimate.shape)} and {tuple(reference.shape)}")
    return float(torch.linalg.vector_norm(estimate - reference) / torch.linalg.vector_norm(reference).clamp_min(1e-30))
