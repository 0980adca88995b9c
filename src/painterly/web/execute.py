"""Run one studio job: its files and options in, the result, display copy and run record out.

The runner (:mod:`painterly.web.runner`) calls :func:`run_job` on its worker thread with a :class:`JobReporter`;
this module never touches the job store, so it can be tested on its own.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import PainterlyError
from ..image.io import read_image, resize_long_side, save_image
from ..methods.base import Method
from ..methods.registry import get_method
from ..record import build_run_record
from ..weights import fingerprints
from .spec import StudioOptions, method_options

RESULT_IMAGE = "result.png"
RESULT_VIDEO = "result.mp4"
DISPLAY_IMAGE = "display.jpg"
PREVIEW_IMAGE = "preview.jpg"
RECORD_FILE = "run.json"
DISPLAY_LONG_SIDE = 1024
PNG_LEVEL = 1


class JobCancelledError(PainterlyError):
    """The job was cancelled while it ran."""


@dataclass
class JobReporter:
    """How a running job talks to the runner."""

    progress: Callable[[dict[str, Any]], None]
    """A progress record: ``fraction`` (0..1), ``step``, ``total``, ``losses``, ``preview`` (a version number)."""
    cancelled: Callable[[], bool]
    preview_seconds: float = 1.0


@dataclass(frozen=True)
class JobFiles:
    """The files of one job, all inside its folder."""

    folder: Path
    photo: Path
    styles: tuple[Path, ...]

    def path(self, name: str) -> Path:
        return self.folder / name


def run_job(
    method_name: str, options: StudioOptions, files: JobFiles, reporter: JobReporter, *, max_pixels: int
) -> dict[str, Any]:
    """Stylise the job's photo (or video); returns the run record (also written as ``run.json``)."""
    method = get_method(method_name)
    if reporter.cancelled():
        raise JobCancelledError("cancelled before it started")
    started = time.perf_counter()
    if options.kind == "video":
        result = _run_video(method, options, files, reporter, max_pixels=max_pixels)
    else:
        result = _run_image(method, options, files, reporter, max_pixels=max_pixels)
    result["seconds"] = round(time.perf_counter() - started, 3)
    inputs = [("photo", str(files.photo)), *((f"style{i + 1}", str(path)) for i, path in enumerate(files.styles))]
    record = build_run_record(
        method=method.name,
        options=options.as_dict(),
        inputs=inputs,
        weights=fingerprints(method.weights),
        result=result,
    )
    for entry in record["inputs"]:  # names inside the job folder: the record does not reveal the server's folders
        entry["path"] = Path(entry["path"]).name
    record = dict(json.loads(json.dumps(record, default=str)))
    _write_atomically(files.path(RECORD_FILE), (json.dumps(record, indent=2) + "\n").encode())
    return record


def _styles_and_weights(
    method: Method, options: StudioOptions, files: JobFiles, *, max_pixels: int
) -> tuple[list[Any], list[float]]:
    if method.style_kind == "presets":
        from ..presets import parse_blend

        blend = parse_blend(options.preset or "")
        return list(blend), list(blend.values())
    styles = [read_image(path, max_pixels=max_pixels).rgb for path in files.styles]
    weights = [options.blend, 1.0 - options.blend] if len(styles) == 2 else [1.0]
    return styles, weights


def _run_image(
    method: Method, options: StudioOptions, files: JobFiles, reporter: JobReporter, *, max_pixels: int
) -> dict[str, Any]:
    from ..api import output_alpha

    content = read_image(files.photo, max_pixels=max_pixels)
    styles, weights = _styles_and_weights(method, options, files, max_pixels=max_pixels)
    chosen = method_options(method, options)
    stylizer = method.prepare(styles, chosen, weights=weights)
    watcher = _StepWatcher(reporter, files.path(PREVIEW_IMAGE))
    image = stylizer(content.rgb, progress=watcher)
    if reporter.cancelled():
        raise JobCancelledError("cancelled")
    _save_atomically(image, files.path(RESULT_IMAGE), alpha=output_alpha(content, image))
    _save_atomically(_display_size(image), files.path(DISPLAY_IMAGE), quality=90)
    reporter.progress({"fraction": 1.0, "step": watcher.total, "total": watcher.total, "losses": watcher.losses})
    return {
        "output": RESULT_IMAGE,
        "size": [image.shape[-1], image.shape[-2]],
        "method_options": _plain(chosen),
        **({"losses": watcher.losses} if watcher.losses else {}),
    }


def _run_video(
    method: Method, options: StudioOptions, files: JobFiles, reporter: JobReporter, *, max_pixels: int
) -> dict[str, Any]:
    from ..video.pipeline import VideoOptions, VideoProgress, result_record, run_identity, stylize_video, writer_like
    from ..video.reader import open_video

    video_options = VideoOptions()
    output = files.path(RESULT_VIDEO)
    with open_video(files.photo, long_side=options.size, max_pixels=max_pixels) as reader:
        info = reader.info
        styles, weights = _styles_and_weights(method, options, files, max_pixels=max_pixels)
        chosen = method_options(method, dataclasses.replace(options, size=max(info.width, info.height)))
        stylizer = method.prepare(styles, chosen, weights=weights)
        writer = writer_like(reader, output)
        identity = run_identity(
            info, method, chosen, video_options, styles=[str(s) for s in styles], weights=weights, inputs=[]
        )

        def on_frame(progress: VideoProgress) -> None:
            if reporter.cancelled():
                raise JobCancelledError("cancelled")
            total = progress.total or 0
            fraction = min(progress.frame / total, 0.99) if total else 0.0
            reporter.progress({"fraction": fraction, "step": progress.frame, "total": total, "fps": progress.fps})

        try:
            result = stylize_video(
                reader,
                writer,
                stylizer,
                method,
                video_options,
                identity=identity,
                work_dir=files.path("frames"),
                progress=on_frame,
            )
        finally:  # the studio never resumes a video: its stored frames and partial output go at once
            shutil.rmtree(files.path("frames"), ignore_errors=True)
            for partial in files.folder.glob("*.partial*"):
                partial.unlink(missing_ok=True)
    with open_video(output) as stylised:  # the first frame is the gallery's picture of the video
        poster = next(iter(stylised)).image
    _save_atomically(_display_size(poster), files.path(DISPLAY_IMAGE), quality=90)
    record = result_record(result, method, chosen, video_options)
    record["output"] = RESULT_VIDEO
    record["input"] = files.photo.name
    return record


class _StepWatcher:
    """The method's progress records → the studio's progress, with an intermediate picture every few seconds."""

    def __init__(self, reporter: JobReporter, preview_path: Path) -> None:
        self.reporter = reporter
        self.preview_path = preview_path
        self.total = 1
        self.losses: dict[str, float] = {}
        self.previews = 0
        self._last_report = 0.0
        self._last_preview = time.perf_counter()

    def __call__(self, progress: Any) -> None:
        if self.reporter.cancelled():
            raise JobCancelledError("cancelled")
        step, total = getattr(progress, "total_step", None), getattr(progress, "total_steps", None)
        if not isinstance(step, int) or not isinstance(total, int) or total <= 0:
            return
        self.total = total
        self.losses = {key: round(float(value), 6) for key, value in getattr(progress, "losses", {}).items()}
        now = time.perf_counter()
        record: dict[str, Any] = {"fraction": step / total, "step": step, "total": total, "losses": self.losses}
        image = getattr(progress, "image", None)
        if callable(image) and now - self._last_preview >= self.reporter.preview_seconds:
            picture: Tensor = image()
            _save_atomically(_display_size(picture), self.preview_path, quality=85)
            self.previews += 1
            self._last_preview = now
            record["preview"] = self.previews
        elif now - self._last_report < 0.25 and step < total:
            return
        self._last_report = now
        self.reporter.progress(record)


def _display_size(image: Tensor, long_side: int = DISPLAY_LONG_SIDE) -> Tensor:
    """The picture shrunk to ``long_side`` for display; a smaller one as it is (never enlarged)."""
    return resize_long_side(image, long_side) if max(image.shape[-2:]) > long_side else image


def _save_atomically(image: Tensor, path: Path, *, alpha: Tensor | None = None, quality: int = 95) -> None:
    """Write to a temporary name, then rename: no half-written file ever carries the result's name. PNGs at zlib
    level 1: a 1024 px result encodes about 4x faster than at the default level (the drop-to-result time)."""
    partial = _partial_name(path)
    try:
        save_image(image.clamp(0, 1), partial, alpha=alpha, quality=quality, compress_level=PNG_LEVEL)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _partial_name(path: Path) -> Path:
    """A temporary name of its own beside ``path`` (two writers of one file never share it), same suffix."""
    return path.with_name(f"{path.stem}.{uuid.uuid4().hex[:12]}.partial{path.suffix}")


def _write_atomically(path: Path, data: bytes) -> None:
    partial = _partial_name(path)
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _plain(options: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(options) and not isinstance(options, type):
        return {key: str(value) if isinstance(value, Path) else value for key, value in vars(options).items()}
    return {"options": repr(options)}


def display_copy(source: Path, target: Path, long_side: int, *, max_pixels: int) -> None:
    """A JPEG of a picture, scaled to ``long_side`` (for the before/after view)."""
    picture = _display_size(read_image(source, max_pixels=max_pixels).rgb, long_side)
    with torch.no_grad():
        _save_atomically(picture, target, quality=90)
