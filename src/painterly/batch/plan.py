"""What a batch job stylises: the inputs, their outputs mirroring the tree, and the manifest that makes it resumable.

The manifest (``OUT_DIR/manifest.jsonl``) gets one line per finished image: input and output (relative paths), the
output's sha256, size and time, the input's size and time, and the settings' fingerprint. An image counts as done
only when its output exists and is the recorded file (same size and time, or else the same sha256), its input is
unchanged and it was made with the same settings; everything else is (re)done. Failures go to
``OUT_DIR/failures.jsonl`` (input and one-line reason; rewritten by each run) and never stop the job.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputImageError, OutputError
from ..record import file_sha256
from ..training.data import IMAGE_SUFFIXES

MANIFEST_NAME = "manifest.jsonl"
FAILURES_NAME = "failures.jsonl"
OUTPUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


@dataclass(frozen=True)
class Item:
    """One image of the job."""

    source: Path
    output: Path
    relative: str
    """The input's path relative to the input folder (or as listed): the manifest's key."""


def list_inputs(source: Path) -> list[tuple[Path, str]]:
    """(path, relative name) of every image under a folder (recursively, sorted), or of every line of a list file
    (paths relative to the list's folder unless absolute; blank lines and ``#`` comments skipped)."""
    if source.is_dir():
        found = []
        seen: set[str] = set()
        for folder, folders, files in os.walk(source, followlinks=True):
            real = os.path.realpath(folder)
            if real in seen:  # a link back up the tree
                folders.clear()
                continue
            seen.add(real)
            for name in files:
                path = Path(folder) / name
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    found.append((path, path.relative_to(source).as_posix()))
        if not found:
            raise InputImageError(f"{source}: no images found ({', '.join(IMAGE_SUFFIXES)})")
        return sorted(found, key=lambda pair: pair[1])
    if source.is_file():
        try:
            lines = source.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise InputImageError(f"cannot read the list {source}: {error}") from error
        entries = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
        if not entries:
            raise InputImageError(f"{source}: the list names no images")
        listed = []
        for entry in entries:
            path = Path(entry) if Path(entry).is_absolute() else source.parent / entry
            relative = os.path.normpath(entry.lstrip("/") if Path(entry).is_absolute() else entry)
            if relative == ".." or relative.startswith("../"):
                raise InputImageError(f"{source}: {entry!r} leads outside the list's folder: list it by absolute path")
            listed.append((path, Path(relative).as_posix()))
        return listed
    raise InputImageError(f"{source}: no such folder or list file")


def plan_items(source: Path, output_dir: Path, *, suffix: str | None = None) -> list[Item]:
    """The job's items: each output mirrors its input's relative path under ``output_dir`` (``suffix`` replaces
    the input's, e.g. ``.png``)."""
    if suffix is not None and suffix.lower() not in OUTPUT_SUFFIXES:
        raise ConfigError(f"output format must be one of {', '.join(OUTPUT_SUFFIXES)}, got {suffix}")
    if output_dir.exists() and not output_dir.is_dir():
        raise OutputError(f"cannot write into {output_dir}: it is a file")
    if source.is_dir() and output_dir.resolve().is_relative_to(source.resolve()):
        raise OutputError(f"cannot write into {output_dir}: it is inside the input folder {source}")
    items = []
    for path, relative in list_inputs(source):
        target = output_dir / relative
        if suffix is not None:
            target = target.with_suffix(suffix)
        elif target.suffix.lower() not in OUTPUT_SUFFIXES:
            target = target.with_suffix(".png")  # e.g. .tif or .bmp in: a format every method's writer handles
        items.append(Item(path, target, relative))
    _check_distinct(items)
    return items


def _check_distinct(items: Sequence[Item]) -> None:
    """No two inputs may write the same file (a.jpg and a.png with --format png, a name listed twice), and no
    output may be an input."""
    outputs: dict[str, Item] = {}
    for item in items:
        key = os.path.normcase(os.path.abspath(item.output)).lower()
        if key in outputs:
            raise ConfigError(
                f"{outputs[key].relative} and {item.relative} would both be written to {item.output}: rename one, "
                "or keep the inputs' formats (--format same)"
            )
        outputs[key] = item
    inputs = {os.path.normcase(os.path.abspath(item.source)).lower() for item in items}
    for key, item in outputs.items():
        if key in inputs:
            raise OutputError(f"cannot write {item.output}: it is one of the inputs; choose another OUT_DIR")


def settings_fingerprint(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def read_manifest(output_dir: Path) -> dict[str, dict[str, Any]]:
    """The manifest's last line per input (a torn last line, from a killed run, is ignored)."""
    path = output_dir / MANIFEST_NAME
    entries: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return entries
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
            entries[str(entry["input"])] = entry
        except (ValueError, KeyError, TypeError):
            continue
    return entries


def file_stamp(path: Path) -> list[int]:
    """Size and modification time (ns): what says cheaply that a file is unchanged."""
    status = path.stat()
    return [status.st_size, status.st_mtime_ns]


def is_done(item: Item, entry: dict[str, Any] | None, fingerprint: str) -> bool:
    """Made with these settings from this input, and the output is the file recorded: its size and time as
    recorded, or else its sha256 (a copied or touched file is re-hashed, not redone)."""
    if entry is None or entry.get("settings") != fingerprint or not item.output.is_file():
        return False
    try:
        if entry.get("input_stamp") != file_stamp(item.source):
            return False  # the input was replaced
        if entry.get("output_stamp") == file_stamp(item.output):
            return True
        return bool(entry.get("sha256") == file_sha256(item.output))
    except OSError:
        return False


def pending(items: Sequence[Item], output_dir: Path, fingerprint: str) -> tuple[list[Item], int]:
    """The items still to do, and how many are done (see :func:`is_done`)."""
    manifest = read_manifest(output_dir)
    todo = [item for item in items if not is_done(item, manifest.get(item.relative), fingerprint)]
    return todo, len(items) - len(todo)


def append_lines(path: Path, entries: Iterable[dict[str, Any]]) -> None:
    """Append JSON lines, flushed and synced: a crash loses at most the line being written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torn = False
    if path.is_file() and path.stat().st_size > 0:
        with path.open("rb") as existing:
            existing.seek(-1, os.SEEK_END)
            torn = existing.read(1) != b"\n"
    with path.open("a") as handle:
        if torn:  # a line a killed run left half-written: end it, so that the next line stands alone
            handle.write("\n")
        for entry in entries:
            handle.write(json.dumps(entry) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
