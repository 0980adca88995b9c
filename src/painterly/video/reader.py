"""Reading videos (and folders of frames) lazily, one frame tensor at a time.

Use it through :mod:`painterly.video.io`:

>>> with open_video("clip.mp4", start=2.0, duration=5.0, long_side=512) as video:   # doctest: +SKIP
...     print(video.info.width, video.info.height, video.info.fps)
...     for frame in video:
...         styled = stylise(frame.image)          # (1, 3, H, W) float32 RGB in [0, 1]
...         writer.write(styled, frame.pts)        # frame.pts is in video.info.time_base units

Decoding goes through PyAV (FFmpeg). Timestamps are the decoded frames' own (variable frame rate survives),
shifted so that the first frame yielded has pts 0. Rotation metadata (the display matrix) is applied, so
frames come out upright; frames are only resampled to a constant rate when ``fps`` is given.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import av
import av.container
import av.error
import av.stream
import av.video.frame
import av.video.stream
import numpy as np
import numpy.typing as npt
import torch

from painterly.errors import ConfigError, InputImageError, InputVideoError
from painterly.image.io import DEFAULT_MAX_PIXELS, read_image, resize_to

__all__ = [
    "FRAME_SUFFIXES",
    "MIN_LONG_SIDE",
    "VIDEO_SUFFIXES",
    "AudioInfo",
    "VideoFrame",
    "VideoInfo",
    "VideoReader",
    "open_video",
]

_log = logging.getLogger(__name__)

VIDEO_SUFFIXES: Final[tuple[str, ...]] = (".mp4", ".mov", ".mkv", ".webm", ".gif", ".avi", ".m4v")
"""Video containers :func:`open_video` accepts (case-insensitive). A directory is read as a folder of frames."""

FRAME_SUFFIXES: Final[tuple[str, ...]] = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
"""Image files read from a folder of frames (sorted by name, numbers compared as numbers)."""

MIN_LONG_SIDE: Final[int] = 16
"""Smallest ``long_side`` accepted."""

# FFmpeg demuxers that read single images: a PNG or JPEG renamed to .mp4 opens as a one-frame "video".
_IMAGE_DEMUXERS: Final[frozenset[str]] = frozenset({"image2", "image2pipe", "apng", "ico", "tty"})
# Times are compared as fractions; a microsecond absorbs float start/duration values and odd time bases.
_TOLERANCE: Final[Fraction] = Fraction(1, 1_000_000)
# Seek this far before ``start`` so that a keyframe whose decode time precedes its display time is not missed.
_SEEK_MARGIN: Final[Fraction] = Fraction(1, 2)
_DEFAULT_FPS: Final[Fraction] = Fraction(25)
# Frames ending this much (or two frames) before the video's stated length mean the file was cut short.
_TRUNCATION_SLACK: Final[Fraction] = Fraction(1, 4)


@dataclass(frozen=True)
class AudioInfo:
    """The first audio stream of a video file."""

    codec: str
    """FFmpeg codec name, e.g. ``"aac"``, ``"mp3"``, ``"opus"``."""
    sample_rate: int
    channels: int


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`open_video` found out about a video, for the frames it will yield."""

    path: Path
    width: int
    """Width of the frames yielded (after rotation and resizing)."""
    height: int
    """Height of the frames yielded (after rotation and resizing)."""
    source_width: int
    """Width after rotation, before resizing."""
    source_height: int
    """Height after rotation, before resizing."""
    fps: float
    """Average frame rate of the input; for a folder the given ``folder_fps``; with resampling the given ``fps``."""
    time_base: Fraction
    """Unit of :attr:`VideoFrame.pts`, in seconds."""
    frame_count: int | None
    """Estimated number of frames in the selected range (``None`` if unknown)."""
    duration: float | None
    """Duration of the selected range in seconds (``None`` if unknown)."""
    rotation: int
    """Counter-clockwise rotation applied to the decoded frames, in degrees: 0, 90, 180 or 270."""
    audio: AudioInfo | None
    """The first audio stream, or ``None`` (always ``None`` for a folder of frames)."""
    is_folder: bool


@dataclass(frozen=True, eq=False)
class VideoFrame:
    """One frame yielded by a :class:`VideoReader`."""

    index: int
    """0-based position among the frames yielded."""
    image: torch.Tensor
    """``(1, 3, H, W)`` float32 RGB in [0, 1]."""
    pts: int
    """Presentation time in :attr:`VideoInfo.time_base` units, 0 for the first frame yielded."""
    time: float
    """``pts * time_base`` in seconds."""


# --------------------------------------------------------------------------------------------- options


@dataclass(frozen=True)
class _Options:
    start: Fraction
    duration: Fraction | None
    long_side: int | None
    fps: Fraction | None
    folder_fps: Fraction
    max_pixels: int | None

    @property
    def end(self) -> Fraction | None:
        """End of the selected range in seconds from the start of the input (exclusive)."""
        return None if self.duration is None else self.start + self.duration


def _seconds(value: object, name: str, *, positive: bool, allow_none: bool = False) -> Fraction | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise ConfigError(f"{name} must be greater than 0, got {value!r}")
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {value!r}")
    return Fraction(value).limit_denominator(1_000_000)


def _check_options(
    start: float,
    duration: float | None,
    long_side: int | None,
    fps: float | None,
    folder_fps: float,
    max_pixels: int | None,
) -> _Options:
    start_f = _seconds(start, "start", positive=False)
    assert start_f is not None
    duration_f = _seconds(duration, "duration", positive=True, allow_none=True)
    fps_f = _seconds(fps, "fps", positive=True, allow_none=True)
    folder_fps_f = _seconds(folder_fps, "folder_fps", positive=True)
    assert folder_fps_f is not None
    if long_side is not None and (
        isinstance(long_side, bool) or not isinstance(long_side, int) or long_side < MIN_LONG_SIDE
    ):
        raise ConfigError(f"long_side must be an integer of at least {MIN_LONG_SIDE}, got {long_side!r}")
    if max_pixels is not None and (isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1):
        raise ConfigError(f"max_pixels must be a positive integer or None, got {max_pixels!r}")
    return _Options(start_f, duration_f, long_side, fps_f, folder_fps_f, max_pixels)


# --------------------------------------------------------------------------------------------- helpers


def _reason(error: BaseException) -> str:
    """The reason an exception gives, on one line."""
    text = error.strerror if isinstance(error, (av.error.FFmpegError, OSError)) and error.strerror else str(error)
    text = " ".join(text.split())
    return text or type(error).__name__


def _fail(source: object, reason: str) -> InputVideoError:
    return InputVideoError(f"cannot read video {source}: {reason}")


def _natural_key(name: str) -> list[tuple[int, int | str]]:
    """Sort key comparing runs of digits as numbers: frame_2 before frame_10."""
    return [(0, int(part)) if part.isdigit() else (1, part.lower()) for part in re.split(r"(\d+)", name) if part]


def timeline_origin(container: av.container.InputContainer) -> Fraction:
    """Time 0 of a file's timeline in seconds: the start of its first video stream, else of the container.

    ``open_video(start=s)`` and ``VideoWriter(audio_start=s)`` both count ``s`` from here, so that the
    sound copied next to frames read from the same file stays in sync.
    """
    for stream in container.streams.video:
        if stream.start_time is not None and stream.time_base is not None:
            return Fraction(stream.start_time) * stream.time_base
    if container.start_time is not None:
        return Fraction(container.start_time, av.time_base)
    return Fraction(0)


def _fit_long_side(width: int, height: int, long_side: int | None) -> tuple[int, int]:
    """(width, height) with the long side ``long_side``, as :func:`painterly.image.io.resize_long_side`."""
    if long_side is None:
        return width, height
    if height >= width:
        return max(1, round(width * long_side / height)), long_side
    return long_side, max(1, round(height * long_side / width))


def _to_tensor(samples: npt.NDArray[Any], quarter_turns: int) -> torch.Tensor:
    """(H, W, 3) uint8/uint16 samples -> (1, 3, H, W) float32 in [0, 1], rotated counter-clockwise."""
    if quarter_turns:
        samples = np.rot90(samples, quarter_turns)
    scale = 255.0 if samples.dtype == np.uint8 else 65535.0
    tensor = torch.from_numpy(np.ascontiguousarray(samples)).permute(2, 0, 1).unsqueeze(0)
    return (tensor.to(torch.float32) / scale).contiguous()


def _decode_rgb(frame: av.video.frame.VideoFrame) -> npt.NDArray[Any]:
    """RGB samples of a decoded frame, 16-bit for sources deeper than 8 bits, using the frame's own colour
    matrix and range."""
    deep = any(component.bits > 8 for component in frame.format.components)
    return frame.to_ndarray(format="rgb48le" if deep else "rgb24", src_color_range=frame.color_range or None)


# ------------------------------------------------------------------------------------------------ reader


@dataclass
class _Raw:
    """A selected input frame before conversion: ``pts`` relative to the first selected frame."""

    pts: int
    duration: int | None
    frame: av.video.frame.VideoFrame | Path


_Converter = Callable[[_Raw], torch.Tensor]


@dataclass
class _Session:
    """One pass over the input: an open container (None for a folder) and its selected frames."""

    container: av.container.InputContainer | None
    raws: Iterator[_Raw]


class VideoReader:
    """Frames of a video, decoded lazily; made by :func:`open_video`. Iterate it for :class:`VideoFrame`.

    Only the frame being converted (and, when resampling, the last input frame) is held, whatever the
    length of the video. Iterating again decodes the range again from the file.
    """

    info: VideoInfo

    def __init__(self, path: Path, options: _Options) -> None:
        self._path = path
        self._options = options
        self._session: _Session | None = None  # the session opened by probing, until iterated
        self._live: list[_Session] = []  # sessions being iterated
        self._quarter_turns = 0
        self._first_pts = 0  # input pts of the first selected frame (stream time base)
        self._origin_pts = 0  # input pts of time 0 (the stream's start)
        self._truncated_at: int | None = None  # dts of the first packet the index places beyond the file's end
        self._video_length: Fraction | None = None  # as the file states it, in seconds
        self._frames: list[Path] = []
        self._start_time = Fraction(0)
        self._source_time_base = Fraction(1, 25)
        self._source_fps = _DEFAULT_FPS
        self._probe_frame: av.video.frame.VideoFrame | None = None
        if path.is_dir():
            self.info = self._probe_folder()
        else:
            self.info = self._probe_file()

    # ------------------------------------------------------------------------------------- public

    @property
    def start_time(self) -> float:
        """Where the first frame yielded sits on the input's timeline, in seconds (>= ``start``).

        Pass it as ``audio_start`` to :class:`~painterly.video.io.VideoWriter` for sound exactly in sync
        when ``start`` falls between two frames.
        """
        return float(self._start_time)

    def __iter__(self) -> Iterator[VideoFrame]:
        session = self._session if self._session is not None else self._open_session()
        self._session = None
        self._live.append(session)
        return self._frames_of(session)

    def close(self) -> None:
        """Close the file (iterations in progress end); safe to call twice."""
        for session in [*self._live, *([self._session] if self._session is not None else [])]:
            if session.container is not None:
                session.container.close()
        self._live.clear()
        self._session = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        info = self.info
        return f"VideoReader({str(info.path)!r}, {info.width}x{info.height}, {info.fps:g} fps)"

    # ------------------------------------------------------------------------------- iteration

    def _frames_of(self, session: _Session) -> Iterator[VideoFrame]:
        size = (self.info.height, self.info.width)
        source_size = (self.info.source_height, self.info.source_width)
        time_base = self.info.time_base

        def convert(raw: _Raw) -> torch.Tensor:
            if isinstance(raw.frame, Path):
                image = self._read_folder_frame(raw.frame, source_size)
            else:
                image = _to_tensor(_decode_rgb(raw.frame), self._quarter_turns)
            return resize_to(image, size) if size != source_size else image

        try:
            if self._options.fps is None:
                for index, raw in enumerate(session.raws):
                    yield VideoFrame(index, convert(raw), raw.pts, float(raw.pts * time_base))
            else:
                yield from self._resampled(session.raws, convert)
        finally:
            if session.container is not None:
                session.container.close()
            if session in self._live:
                self._live.remove(session)

    def _resampled(self, raws: Iterator[_Raw], convert: _Converter) -> Iterator[VideoFrame]:
        """Constant rate: for tick k at k/fps, the latest input frame at or before it."""
        fps = self._options.fps
        assert fps is not None
        source_base = self._source_time_base
        step = 1 / fps
        tick = 0
        held: _Raw | None = None
        image: torch.Tensor | None = None  # `held` converted, once it is first used
        fresh = True  # `image` not yielded yet

        def emit() -> VideoFrame:
            nonlocal image, fresh
            assert held is not None
            if image is None:
                image = convert(held)
            out = image if fresh else image.clone()
            fresh = False
            return VideoFrame(tick, out, tick, float(tick * step))

        for raw in raws:
            time = raw.pts * source_base
            while held is not None and tick * step < time - _TOLERANCE:
                yield emit()
                tick += 1
            held, image, fresh = raw, None, True
        if held is None:
            return
        held_duration = held.duration if held.duration else None
        last = held.pts * source_base
        end = last + (held_duration * source_base if held_duration else 1 / self._source_fps)
        if self._options.duration is not None:
            end = min(end, self._options.duration + (self._options.start - self._start_time))
        end = max(end, last + _TOLERANCE)
        while tick * step < end - _TOLERANCE:
            yield emit()
            tick += 1

    # ---------------------------------------------------------------------------------- folders

    def _probe_folder(self) -> VideoInfo:
        path, options = self._path, self._options
        try:
            names = sorted(
                (entry.name for entry in os.scandir(path) if not entry.name.startswith(".")), key=_natural_key
            )
        except OSError as error:
            raise _fail(path, f"cannot list the folder ({_reason(error)})") from error
        files = [path / name for name in names if Path(name).suffix.lower() in FRAME_SUFFIXES]
        files = [file for file in files if file.is_file()]
        if not files:
            raise _fail(path, f"the folder holds no frames (image files {', '.join(FRAME_SUFFIXES)})")
        rate = options.folder_fps
        first = math.ceil(options.start * rate - _TOLERANCE)
        stop = len(files) if options.end is None else min(len(files), math.ceil(options.end * rate - _TOLERANCE))
        if first >= stop:
            raise _fail(path, f"no frames from {float(options.start):g} s on: the folder has {len(files)} frames")
        self._frames = files[first:stop]
        first_image = self._read_folder_frame(self._frames[0], None)
        height, width = int(first_image.shape[-2]), int(first_image.shape[-1])
        self._start_time = Fraction(first) / rate
        self._source_time_base = 1 / rate
        self._source_fps = rate
        self._session = _Session(None, self._folder_raws())
        count = len(self._frames)
        duration = Fraction(count) / rate
        return self._make_info(width, height, rate, 1 / rate, count, duration, rotation=0, audio=None, folder=True)

    def _folder_raws(self) -> Iterator[_Raw]:
        for index, file in enumerate(self._frames):
            yield _Raw(index, 1, file)

    def _read_folder_frame(self, file: Path, size: tuple[int, int] | None) -> torch.Tensor:
        try:
            image = read_image(file, max_pixels=self._options.max_pixels).rgb
        except InputImageError as error:
            raise _fail(self._path, f"frame {file.name}: {error}") from error
        if size is not None and tuple(image.shape[-2:]) != size:
            height, width = int(image.shape[-2]), int(image.shape[-1])
            raise _fail(
                self._path,
                f"frame {file.name} is {width}x{height} but the first frame is {size[1]}x{size[0]}; "
                "every frame must have the same size",
            )
        return image

    # ------------------------------------------------------------------------------------ files

    def _open_container(self) -> av.container.InputContainer:
        path = self._path
        try:
            container = av.open(str(path), "r")
        except av.error.FFmpegError as error:
            raise _fail(path, f"not a video file, or the file is truncated or corrupt ({_reason(error)})") from error
        except OSError as error:
            raise _fail(path, _reason(error)) from error
        return container

    def _probe_file(self) -> VideoInfo:
        path = self._path
        suffix = path.suffix.lower()
        try:
            size = path.stat().st_size
        except FileNotFoundError as error:
            raise _fail(path, "no such file") from error
        except OSError as error:
            raise _fail(path, _reason(error)) from error
        if suffix in FRAME_SUFFIXES:
            raise _fail(path, "it is an image, not a video (give a folder of frames for an image sequence)")
        if suffix not in VIDEO_SUFFIXES:
            raise _fail(
                path, f"unsupported container {suffix or '(no suffix)'}; use one of {', '.join(VIDEO_SUFFIXES)}"
            )
        if size == 0:
            raise _fail(path, "the file is empty (0 bytes)")
        container = self._open_container()
        try:
            return self._probe_container(container, size)
        except BaseException:
            container.close()
            raise

    def _probe_container(self, container: av.container.InputContainer, file_size: int) -> VideoInfo:
        path, options = self._path, self._options
        if container.format.name in _IMAGE_DEMUXERS or container.format.name.endswith("_pipe"):
            raise _fail(path, f"not a video file (it holds a single {container.format.name} image)")
        if not container.streams.video:
            kinds = sorted({stream.type for stream in container.streams})
            has = f"it holds only {' and '.join(kinds)}" if kinds else "it holds no streams"
            raise _fail(path, f"no video stream ({has})")
        stream = container.streams.video[0]
        codec = stream.codec_context
        if codec.width <= 0 or codec.height <= 0:
            raise _fail(path, f"the video stream has no picture size ({codec.width}x{codec.height})")
        pixels = codec.width * codec.height
        if options.max_pixels is not None and pixels > options.max_pixels:
            raise _fail(
                path,
                f"{codec.width}x{codec.height} is {pixels:,} pixels per frame, above the limit of "
                f"{options.max_pixels:,}; raise the limit with --max-pixels (max_pixels= in Python) if you trust "
                "the file",
            )
        time_base = stream.time_base or Fraction(1, 90_000)
        self._source_time_base = time_base
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        self._source_fps = Fraction(rate) if rate else _DEFAULT_FPS
        self._origin_pts = stream.start_time if stream.start_time is not None else 0
        self._truncated_at = _truncation_point(stream, file_size)
        self._video_length = _stated_length(stream, time_base)

        self._session = self._start_session(container)  # keeps the first selected frame, already decoded
        first_frame = self._probe_frame
        assert first_frame is not None
        self._probe_frame = None
        rotation = first_frame.rotation if isinstance(first_frame.rotation, (int, float)) else 0
        self._quarter_turns = round(rotation / 90) % 4
        width, height = first_frame.width, first_frame.height
        if self._quarter_turns % 2:
            width, height = height, width

        total = _stream_duration(container, stream, time_base)
        selected: Fraction | None = None
        if total is not None:
            selected = max(Fraction(0), total - self._start_time)
            if options.end is not None:
                selected = min(selected, options.end - self._start_time)
        elif options.duration is not None:
            selected = options.duration
        count: int | None = None
        if options.start == 0 and options.duration is None and stream.frames > 0:
            count = stream.frames
        elif selected is not None:
            count = max(1, round(selected * self._source_fps))
        audio = None
        if container.streams.audio:
            audio_stream = container.streams.audio[0]
            audio_codec = audio_stream.codec_context
            audio = AudioInfo(audio_codec.name, int(audio_codec.sample_rate or 0), int(audio_codec.channels or 0))
        return self._make_info(
            width, height, self._source_fps, time_base, count, selected, rotation=self._quarter_turns * 90, audio=audio
        )

    def _make_info(
        self,
        width: int,
        height: int,
        rate: Fraction,
        time_base: Fraction,
        count: int | None,
        duration: Fraction | None,
        *,
        rotation: int,
        audio: AudioInfo | None,
        folder: bool = False,
    ) -> VideoInfo:
        out_width, out_height = _fit_long_side(width, height, self._options.long_side)
        fps = self._options.fps
        if fps is not None:
            rate, time_base = fps, 1 / fps
            count = None if duration is None else max(1, math.ceil(duration * fps - _TOLERANCE))
        return VideoInfo(
            path=self._path,
            width=out_width,
            height=out_height,
            source_width=width,
            source_height=height,
            fps=float(rate),
            time_base=time_base,
            frame_count=count,
            duration=None if duration is None else float(duration),
            rotation=rotation,
            audio=audio,
            is_folder=folder,
        )

    def _open_session(self) -> _Session:
        if self.info.is_folder:
            return _Session(None, self._folder_raws())
        container = self._open_container()
        try:
            return self._start_session(container)
        except BaseException:
            container.close()
            raise

    def _start_session(self, container: av.container.InputContainer) -> _Session:
        """Seek to ``start``, decode up to the first selected frame and return the selected frames lazily."""
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        options, base = self._options, self._source_time_base
        start_pts = self._origin_pts + math.ceil((options.start - _TOLERANCE) / base)
        end_pts = None if options.end is None else self._origin_pts + math.ceil((options.end - _TOLERANCE) / base)
        frames = iter(())  # type: Iterator[av.video.frame.VideoFrame]
        first: tuple[av.video.frame.VideoFrame, int] | None = None
        if options.start > 0:
            target = self._origin_pts + math.floor((options.start - _SEEK_MARGIN) / base)
            try:
                container.seek(max(target, self._origin_pts), stream=stream, backward=True)
            except av.error.FFmpegError:
                _log.debug("cannot seek in %s: decoding from its start", self._path)
            else:
                frames = self._decoded(container, stream)
                first = self._first_selected(frames, start_pts, exact=True)
                if first is None:  # the seek landed after `start`: decode from the beginning
                    container.seek(self._origin_pts, stream=stream, backward=True)
        if first is None:
            frames = self._decoded(container, stream)
            first = self._first_selected(frames, start_pts, exact=False)
        if first is None:
            raise _fail(self._path, f"no frames from {float(options.start):g} s on (the video is shorter)")
        frame, pts = first
        if end_pts is not None and pts >= end_pts:
            raise _fail(
                self._path,
                f"no frames between {float(options.start):g} s and {float(options.end or 0):g} s",
            )
        self._probe_frame = frame
        self._first_pts = pts
        self._start_time = (pts - self._origin_pts) * base
        return _Session(container, self._selected(frame, pts, frames, end_pts))

    def _first_selected(
        self, frames: Iterator[av.video.frame.VideoFrame], start_pts: int, *, exact: bool
    ) -> tuple[av.video.frame.VideoFrame, int] | None:
        """The first frame at or after ``start_pts``. With ``exact``, ``None`` also when the first frame decoded
        is already past ``start_pts`` (frames before it may have been skipped by the seek)."""
        for index, frame in enumerate(frames):
            pts = self._pts(frame, None)
            if pts >= start_pts:
                if exact and index == 0 and pts > start_pts:
                    return None
                return frame, pts
        return None

    def _decoded(
        self, container: av.container.InputContainer, stream: av.video.stream.VideoStream
    ) -> Iterator[av.video.frame.VideoFrame]:
        """Decoded frames, the decoder flushed at the end; FFmpeg errors become one-line InputVideoErrors."""
        frames = container.decode(stream)
        last = Fraction(0)
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                return
            except av.error.FFmpegError as error:
                raise _fail(
                    self._path,
                    f"the file is truncated or corrupt: decoding failed after {float(last):.2f} s ({_reason(error)})",
                ) from error
            if frame.pts is not None:
                last = (frame.pts - self._origin_pts) * self._source_time_base
            yield frame

    def _pts(self, frame: av.video.frame.VideoFrame, previous: int | None) -> int:
        if frame.pts is not None:
            return int(frame.pts)
        if frame.dts is not None:
            return int(frame.dts)
        if previous is None:
            return self._origin_pts
        return previous + max(1, round(1 / (self._source_fps * self._source_time_base)))

    def _selected(
        self,
        first: av.video.frame.VideoFrame,
        first_pts: int,
        frames: Iterator[av.video.frame.VideoFrame],
        end_pts: int | None,
    ) -> Iterator[_Raw]:
        """The selected frames, each with its duration (up to the next frame), the decoder flushed."""
        current, current_pts = first, first_pts
        for frame in frames:
            pts = self._pts(frame, current_pts)
            if pts <= current_pts:
                _log.debug("%s: dropping a frame whose pts %d does not follow %d", self._path, pts, current_pts)
                continue
            yield _Raw(current_pts - first_pts, pts - current_pts, current)
            if end_pts is not None and pts >= end_pts:
                return
            current, current_pts = frame, pts
        # the decoder is exhausted: the last frame, then was the file cut short?
        duration = int(current.duration or 0) or None
        yield _Raw(current_pts - first_pts, duration, current)
        self._check_complete(current_pts, duration, end_pts)

    def _check_complete(self, last_pts: int, last_duration: int | None, end_pts: int | None) -> None:
        """Raise if decoding ended before the end of the range because the file is cut short: its index places
        packets beyond the end of the file, or its frames stop well before the video's stated length."""
        base = self._source_time_base
        reached = (last_pts - self._origin_pts) * base
        cut = self._truncated_at is not None and (end_pts is None or self._truncated_at < end_pts)
        if not cut and self._video_length is not None:
            expected = self._video_length
            if self._options.end is not None:
                expected = min(expected, self._options.end)
            frame_time = last_duration * base if last_duration else 1 / self._source_fps
            cut = expected - (reached + frame_time) > max(_TRUNCATION_SLACK, 2 / self._source_fps)
        if cut:
            length = "" if self._video_length is None else f" of {float(self._video_length):.2f} s"
            raise _fail(self._path, f"the file is truncated: its frames stop at {float(reached):.2f} s{length}")


def _truncation_point(stream: av.video.stream.VideoStream, file_size: int) -> int | None:
    """Timestamp of the first packet the container's index places beyond the end of the file, if any."""
    try:
        entries = stream.index_entries
        for entry in entries:
            if entry.pos >= 0 and entry.size > 0 and entry.pos + entry.size > file_size:
                return int(entry.timestamp)
    except (AttributeError, av.error.FFmpegError):  # pragma: no cover - older PyAV or no index
        return None
    return None


def _stated_length(stream: av.video.stream.VideoStream, time_base: Fraction) -> Fraction | None:
    """Length of the video stream as the file states it (the stream's duration, or Matroska's DURATION tag)."""
    if stream.duration is not None and stream.duration > 0:
        return Fraction(stream.duration) * time_base
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    match = re.fullmatch(r"(\d+):(\d{2}):(\d{2}(?:\.\d+)?)", tag or "")
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return (int(hours) * 3600 + int(minutes) * 60 + Fraction(seconds)) or None


def _stream_duration(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, time_base: Fraction
) -> Fraction | None:
    """Duration of the video stream from its start, in seconds, if the file says."""
    stated = _stated_length(stream, time_base)
    if stated is not None:
        return stated
    if container.duration is not None and container.duration > 0:
        return Fraction(container.duration, av.time_base) - (
            timeline_origin(container) - Fraction(container.start_time or 0, av.time_base)
        )
    return None


def open_video(
    path: str | os.PathLike[str],
    *,
    start: float = 0.0,
    duration: float | None = None,
    long_side: int | None = None,
    fps: float | None = None,
    folder_fps: float = 25.0,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> VideoReader:
    """Open a video file (or a folder of frames) for reading frame by frame.

    ``start`` and ``duration`` (seconds) select a range; ``long_side`` resizes frames (antialiased, aspect
    kept); ``fps`` resamples to a constant rate (each tick takes the latest frame at or before it), otherwise
    the input's own timestamps are kept. ``folder_fps`` is the rate of a folder of frames. Frames larger than
    ``max_pixels`` (width * height) are refused.

    Raises :class:`InputVideoError` (one line naming the file) for a missing file, an unsupported suffix,
    a file that is not a video or has no video stream, a truncated or corrupt file, no frames in the range,
    frames over the pixel cap, and an empty or inconsistent folder; :class:`ConfigError` for bad options.

    >>> with open_video("clip.mp4", long_side=512) as video:       # doctest: +SKIP
    ...     frames = [frame.pts for frame in video]
    """
    options = _check_options(start, duration, long_side, fps, folder_fps, max_pixels)
    try:
        file = Path(path)
    except TypeError as error:
        raise ConfigError(f"video path must be a str or os.PathLike, not {type(path).__name__}") from error
    return VideoReader(file, options)
