from __future__ import annotations

import pytest
import torch

from painterly.audio.phase import griffin_lim, random_phase, spectral_convergence, unit_phase
from painterly.audio.spectrogram import SpectrogramSettings, stft
from painterly.audio.synthetic import chirp, melody, noise_bursts, tone
from painterly.errors import ConfigError

SETTINGS = SpectrogramSettings(n_fft=512, hop=128)


def convergence_after(sound: torch.Tensor, iterations: int, momentum: float) -> float:
    magnitude = stft(sound, SETTINGS).abs()
    rebuilt = griffin_lim(magnitude, SETTINGS, length=sound.numel(), iterations=iterations, momentum=momentum, seed=1)
    assert rebuilt.shape == sound.shape
    return spectral_convergence(stft(rebuilt, SETTINGS).abs(), magnitude)


@pytest.mark.parametrize(
    ("name", "sound", "bound"),
    [
        ("tone", tone(440, 1.0), 0.07),
        ("chirp", chirp(200, 4000, 1.0), 0.04),
        ("melody", melody(1.0), 0.06),
        ("noise bursts", noise_bursts(1.0), 0.15),
    ],
)
def test_griffin_lim_rebuilds_a_known_magnitude(name: str, sound: torch.Tensor, bound: float) -> None:
    # Stated bounds on the spectral convergence ‖|STFT(x̂)| − M‖ / ‖M‖ after 100 fast iterations from random phase
    # (noise has no phase structure to find, so its bound is the loosest).
    assert convergence_after(sound, 100, 0.99) < bound


def test_momentum_converges_faster_than_the_original_algorithm() -> None:
    sound = chirp(200, 4000, 1.0) + 0.3 * melody(1.0)
    assert convergence_after(sound, 30, 0.99) < 0.8 * convergence_after(sound, 30, 0.0)


def test_the_true_phase_is_a_fixed_point() -> None:
    sound = melody(0.5)
    spectrum = stft(sound, SETTINGS)
    rebuilt = griffin_lim(
        spectrum.abs(), SETTINGS, length=sound.numel(), iterations=5, initial_phase=unit_phase(spectrum)
    )
    assert torch.allclose(rebuilt, sound, atol=1e-4)


def test_zero_iterations_is_the_inverse_of_the_start_and_seeds_repeat() -> None:
    sound = tone(300, 0.25)
    magnitude = stft(sound, SETTINGS).abs()
    first = griffin_lim(magnitude, SETTINGS, length=sound.numel(), iterations=3, seed=7)
    assert torch.equal(first, griffin_lim(magnitude, SETTINGS, length=sound.numel(), iterations=3, seed=7))
    assert not torch.equal(first, griffin_lim(magnitude, SETTINGS, length=sound.numel(), iterations=3, seed=8))
    phase = random_phase(tuple(magnitude.shape), 7)  # type: ignore[arg-type]
    assert torch.allclose(phase.abs(), torch.ones(()), atol=1e-6)


def test_unit_phase_of_zero_is_one() -> None:
    spectrum = torch.tensor([0j, 3 + 4j], dtype=torch.complex64)
    assert torch.allclose(unit_phase(spectrum), torch.tensor([1 + 0j, 0.6 + 0.8j], dtype=torch.complex64))


def test_progress_is_reported_each_iteration() -> None:
    sound = tone(300, 0.25)
    seen: list[tuple[int, int]] = []
    griffin_lim(
        stft(sound, SETTINGS).abs(),
        SETTINGS,
        length=sound.numel(),
        iterations=4,
        progress=lambda i, n: seen.append((i, n)),
    )
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_bad_arguments() -> None:
    magnitude = stft(tone(300, 0.25), SETTINGS).abs()
    length = tone(300, 0.25).numel()
    with pytest.raises(ConfigError, match="frames, not"):
        griffin_lim(magnitude, SETTINGS, length=length + 1000)
    with pytest.raises(ConfigError, match="expected a magnitude"):
        griffin_lim(magnitude[:-1], SETTINGS, length=length)
    with pytest.raises(ConfigError, match="momentum"):
        griffin_lim(magnitude, SETTINGS, length=length, momentum=1.0)
    with pytest.raises(ConfigError, match="initial phase"):
        griffin_lim(magnitude, SETTINGS, length=length, initial_phase=torch.ones(3, 3, dtype=torch.complex64))
