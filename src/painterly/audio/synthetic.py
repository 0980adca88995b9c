"""Test signals made from formulas (tones, chirps, noise bursts, a plucked melody): mono float32 tensors, for the
tests, the benchmark and examples that need a sound every machine has."""

from __future__ import annotations

import math

import torch

RATE = 22050


def times(seconds: float, rate: int = RATE) -> torch.Tensor:
    return torch.arange(round(seconds * rate), dtype=torch.float64) / rate


def tone(frequency: float, seconds: float, rate: int = RATE, amplitude: float = 0.5) -> torch.Tensor:
    return (amplitude * torch.sin(2 * math.pi * frequency * times(seconds, rate))).float()


def chirp(start: float, end: float, seconds: float, rate: int = RATE, amplitude: float = 0.5) -> torch.Tensor:
    """A linear sweep from ``start`` to ``end`` Hz."""
    t = times(seconds, rate)
    phase = 2 * math.pi * (start * t + (end - start) / (2 * seconds) * t.square())
    return (amplitude * torch.sin(phase)).float()


def noise_bursts(seconds: float, every: float = 0.25, rate: int = RATE, seed: int = 0) -> torch.Tensor:
    """Bursts of white noise that decay fast, ``every`` seconds: a percussive texture."""
    generator = torch.Generator().manual_seed(seed)
    t = times(seconds, rate)
    envelope = torch.exp(-25 * torch.remainder(t, every))
    noise = torch.randn(t.numel(), generator=generator, dtype=torch.float64)
    return (0.4 * envelope * noise).float()


def melody(seconds: float, rate: int = RATE) -> torch.Tensor:
    """Plucked notes with five harmonics, one every half second: a content with clear pitch and onsets."""
    t = times(seconds, rate)
    notes = [220 * 2 ** (step / 12) for step in (0, 3, 5, 7, 10, 12, 7, 5)]
    out = torch.zeros_like(t)
    for index in range(math.ceil(seconds / 0.5)):
        local = t - index * 0.5
        envelope = torch.where(local >= 0, torch.exp(-3 * local.clamp_min(0)), torch.zeros_like(t))
        for harmonic in range(1, 6):
            out += envelope * torch.sin(2 * math.pi * notes[index % len(notes)] * harmonic * local) / harmonic
    return (0.5 * out / out.abs().max()).float()
