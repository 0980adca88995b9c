from __future__ import annotations

import math

import pytest
import torch

from painterly.audio.spectrogram import (
    SpectrogramSettings,
    istft,
    log_magnitude,
    log_spectral_distance,
    magnitude_from_log,
    stft,
)
from painterly.audio.synthetic import RATE, noise_bursts, tone
from painterly.errors import ConfigError


def test_default_settings_are_ulyanov_and_lebedevs() -> None:
    settings = SpectrogramSettings()
    assert (settings.n_fft, settings.hop, settings.bins) == (2048, 512, 1025)
    assert log_magnitude(torch.zeros(RATE), settings).shape == (1025, settings.frames(RATE))


def test_log_magnitude_is_log1p_of_a_plain_dft_magnitude() -> None:
    settings = SpectrogramSettings(n_fft=64, hop=16)
    sound = noise_bursts(0.05)
    frame = 5  # a centred frame: samples (5 * 16 - 32) ... + 64
    start = frame * settings.hop - settings.n_fft // 2
    window = torch.hann_window(64, dtype=torch.float64)
    segment = sound[start : start + 64].double() * window
    n = torch.arange(64, dtype=torch.float64)
    k = torch.arange(33, dtype=torch.float64)[:, None]
    real = (segment * torch.cos(2 * math.pi * k * n / 64)).sum(dim=1)
    imaginary = (segment * torch.sin(2 * math.pi * k * n / 64)).sum(dim=1)
    expected = torch.log1p(torch.sqrt(real**2 + imaginary**2))
    assert torch.allclose(log_magnitude(sound, settings)[:, frame].double(), expected, atol=1e-5)


def test_istft_inverts_stft_and_log_inverts_magnitude() -> None:
    settings = SpectrogramSettings(n_fft=256, hop=64)
    sound = tone(440, 0.3)
    assert torch.allclose(istft(stft(sound, settings), settings, sound.numel()), sound, atol=1e-5)
    features = log_magnitude(sound, settings)
    assert torch.allclose(magnitude_from_log(features), stft(sound, settings).abs(), rtol=1e-4, atol=1e-5)
    assert magnitude_from_log(torch.tensor([-1.0])).item() == 0.0


def test_log_spectral_distance() -> None:
    settings = SpectrogramSettings(n_fft=256, hop=64)
    sound = tone(440, 0.3) + 0.05 * torch.randn(tone(440, 0.3).numel(), generator=torch.Generator().manual_seed(0))
    assert log_spectral_distance(sound, sound, settings) == 0.0
    # Half the amplitude is -6.02 dB in every bin (white noise keeps every bin far above the -80 dB floor).
    assert log_spectral_distance(sound, 0.5 * sound, settings) == pytest.approx(20 * math.log10(2), rel=1e-3)
    # A pure tone's empty bins sit at the floor: silence against the tone counts at most the floor's 80 dB.
    assert log_spectral_distance(tone(440, 0.3), torch.zeros(tone(440, 0.3).numel()), settings) <= 80.0
    louder = log_spectral_distance(sound, sound + 0.05 * noise_bursts(0.3, seed=3), settings)
    assert louder > log_spectral_distance(sound, sound + 0.005 * noise_bursts(0.3, seed=3), settings) > 0
    with pytest.raises(ConfigError, match="differ in length"):
        log_spectral_distance(sound, sound[:-1], settings)


@pytest.mark.parametrize(("n_fft", "hop", "message"), [(1000, 250, "power of two"), (256, 200, "hop must be")])
def test_bad_settings(n_fft: int, hop: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SpectrogramSettings(n_fft=n_fft, hop=hop)
