"""The small run record written beside every output: options, inputs, versions, weights, timings, final losses."""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch


def record_path_for(output: Path) -> Path:
    """``out/picture.png`` → ``out/picture.run.json``."""
    return output.with_name(output.stem + ".run.json")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_run_record(
    *,
    method: str,
    options: Mapping[str, Any],
    inputs: Sequence[tuple[str, str | None]],
    weights: Mapping[str, str],
    result: Mapping[str, Any],
    interrupted: bool = False,
) -> dict[str, Any]:
    """A JSON-ready dict. ``inputs`` are (role, path) pairs; files are fingerprinted by sha256."""
    from . import __version__

    described_inputs = []
    for role, path in inputs:
        entry: dict[str, Any] = {"role": role, "path": path}
        if path is not None and Path(path).is_file():
            entry["sha256"] = file_sha256(Path(path))
        described_inputs.append(entry)
    return {
        "painterly": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "method": method,
        "interrupted": interrupted,
        "options": dict(options),
        "inputs": described_inputs,
        "weights_sha256": dict(weights),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "platform": platform.platform(),
            "executable": sys.executable,
        },
        **result,
    }


def write_run_record(record: Mapping[str, Any], path: Path) -> Path:
    """Write ``record`` as JSON, whole or not at all (an interrupted run's record never comes out half-written)."""
    from .atomic import write_atomically

    text = json.dumps(record, indent=2, default=str) + "\n"
    return write_atomically(path, lambda handle: handle.write(text.encode("utf-8")))
