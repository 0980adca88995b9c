"""Loss history of a run: a JSON file and a PNG plot showing which term and which layer contributes what."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from .errors import OutputError

TERMS = ("total", "content", "style", "tv")


def save_history_json(history: Sequence[dict[str, float]], path: Path) -> Path:
    """One record per iteration: level, step, elapsed seconds, weighted terms and per-layer losses."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(list(history), indent=None, separators=(",", ":")) + "\n", encoding="utf-8")
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror}") from error
    return path


def plot_history(history: Sequence[dict[str, float]], path: Path) -> Path:
    """Two panels against the iteration: the loss terms (log scale), and each layer's share of the loss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        raise OutputError("no iterations were run, so there is no loss history to plot")
    steps = list(range(1, len(history) + 1))
    layers = [key for key in history[0] if "/" in key]
    figure, (terms_axis, layers_axis) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=100)
    for term in TERMS:
        values = [max(record.get(term, 0.0), 1e-12) for record in history]
        terms_axis.plot(steps, values, label=term, linewidth=1.5 if term == "total" else 1.0)
    terms_axis.set_yscale("log")
    terms_axis.set_xlabel("iteration")
    terms_axis.set_ylabel("weighted loss")
    terms_axis.set_title("loss terms")
    _mark_levels(terms_axis, history)
    terms_axis.legend()
    totals = [sum(record[layer] for layer in layers) or 1.0 for record in history]
    shares = [[record[layer] / total for record, total in zip(history, totals, strict=True)] for layer in layers]
    layers_axis.stackplot(steps, shares, labels=layers)
    layers_axis.set_ylim(0, 1)
    layers_axis.set_xlabel("iteration")
    layers_axis.set_ylabel("share of content + style loss")
    layers_axis.set_title("which layer contributes what")
    _mark_levels(layers_axis, history)
    layers_axis.legend(fontsize=7, loc="upper right")
    figure.tight_layout()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror}") from error
    finally:
        plt.close(figure)
    return path


def _mark_levels(axis: object, history: Sequence[dict[str, float]]) -> None:
    for index in range(1, len(history)):
        if history[index].get("level", 0) != history[index - 1].get("level", 0):
            axis.axvline(index + 0.5, color="grey", linestyle=":", linewidth=1)  # type: ignore[attr-defined]
