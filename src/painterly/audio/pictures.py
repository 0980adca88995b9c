"""Spectrogram pictures: content, style(s) and result side by side on one decibel scale, to look at."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from ..atomic import write_atomically
from ..errors import OutputError
from .spectrogram import SpectrogramSettings, stft

DYNAMIC_RANGE_DB = 80.0
"""Levels shown below the loudest bin of all panels; quieter bins are black."""


def decibels(samples: Tensor, settings: SpectrogramSettings) -> Tensor:
    """``20 log10 |STFT|`` (bins, frames), floored at -200 dB."""
    return 20 * torch.log10(stft(samples.float(), settings).abs().clamp_min(1e-10))


def plot_spectrograms(
    panels: Sequence[tuple[str, Tensor]],
    path: str | os.PathLike[str],
    *,
    sample_rate: int,
    settings: SpectrogramSettings | None = None,
    max_frequency: float | None = None,
    shared_scale: bool = False,
) -> Path:
    """One row per (title, mono samples) panel, time across, frequency up to ``max_frequency`` (default Nyquist).
    Each panel's loudest bin is 0 dB (sounds of very different loudness stay readable), or with ``shared_scale`` the
    loudest bin of all panels. Written through a temporary name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not panels:
        raise OutputError("no sounds to draw")
    settings = settings or SpectrogramSettings()
    levels = [decibels(samples, settings) for _, samples in panels]
    overall = max(float(level.max()) for level in levels)
    nyquist = sample_rate / 2
    top = min(max_frequency or nyquist, nyquist)
    longest = max(samples.numel() for _, samples in panels) / sample_rate
    figure, axes = plt.subplots(
        len(panels), 1, figsize=(10, 2.2 * len(panels)), dpi=100, squeeze=False, layout="constrained"
    )
    image = None
    for axis, (title, samples), level in zip(axes[:, 0], panels, levels, strict=True):
        seconds = samples.numel() / sample_rate
        loudest = overall if shared_scale else float(level.max())
        image = axis.imshow(
            (level - loudest).numpy(),
            origin="lower",
            aspect="auto",
            cmap="magma",
            vmin=-DYNAMIC_RANGE_DB,
            vmax=0.0,
            extent=(0.0, seconds, 0.0, nyquist),
            interpolation="nearest",
        )
        axis.set_xlim(0, longest)
        axis.set_ylim(0, top)
        axis.set_title(title, fontsize=10, loc="left")
        axis.set_ylabel("Hz")
    axes[-1, 0].set_xlabel("seconds")
    if image is not None:
        figure.colorbar(
            image,
            ax=axes[:, 0].tolist(),
            label="dB below the loudest" + (" of all" if shared_scale else " of each"),
            fraction=0.03,
            pad=0.01,
        )
    try:
        return write_atomically(
            path, lambda handle: figure.savefig(handle, format=Path(path).suffix.lstrip(".") or "png")
        )
    finally:
        plt.close(figure)
