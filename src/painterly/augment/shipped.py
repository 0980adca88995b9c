"""The shipped style distribution: fitted by ``scripts/fit_style_distribution.py`` to painterly's ten paintings."""

from __future__ import annotations

from pathlib import Path

from ..weights import get_shipped, verify_shipped


def shipped_distribution_path() -> Path:
    """The shipped file, checked against its pinned sha256 (``$PAINTERLY_STYLE_DISTRIBUTION`` points at another)."""
    entry = get_shipped("style_distribution")
    path = entry.path()
    verify_shipped("style_distribution", path)
    return path
