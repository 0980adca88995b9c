"""Typed exceptions. Library code raises these; the CLI turns them into one line and a non-zero exit code."""

from __future__ import annotations


class PainterlyError(Exception):
    """Base of every error painterly raises on purpose. ``exit_code`` is what the CLI exits with."""

    exit_code: int = 1


class ConfigError(PainterlyError, ValueError):
    """An option has an invalid value or options contradict each other."""

    exit_code = 2


class InputImageError(PainterlyError):
    """An input image is missing, unreadable, not an image, truncated, empty or too large."""

    exit_code = 3


class OutputError(PainterlyError):
    """An output cannot be written (unwritable folder, would overwrite an input or an existing file)."""

    exit_code = 4


class WeightsError(PainterlyError):
    """Weights cannot be obtained, or a file failed its checksum or format checks."""

    exit_code = 5


class DeviceError(PainterlyError):
    """The requested compute device is not available."""

    exit_code = 6


class TrainingError(PainterlyError):
    """Training cannot go on: the loss diverged, or a checkpoint does not fit the run."""

    exit_code = 7


class InputVideoError(InputImageError):
    """An input video is missing, not a video, truncated or corrupt, has no video stream or no frames, or is too
    large (same exit code as a bad input image)."""


class InputAudioError(InputImageError):
    """An input sound is missing, not audio, empty, silent, corrupt or too long (same exit code as a bad input
    image)."""
