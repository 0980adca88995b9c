"""Writing videos (and folders of frames) frame by frame, with the input's sound.

Use it through :mod:`painterly.video.io`:

>>> with open_video("clip.mp4") as video, VideoWriter(                       # doctest: +SKIP
...     "out.mp4", width=video.info.width, height=video.info.height, fps=video.info.fps,
...     time_base=video.info.time_base, audio_from=video.info.path,
... ) as writer:
...     for frame in video:
...         writer.write(stylise(frame.image), frame.pts)

Everything is written under a hidden temporary name in the output's folder (``.out.part.mp4``; for a
folder of frames ``.out.part/``) and renamed to the output's name only by :meth:`VideoWriter.close`, so a
file under the output's name is always complete.
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal

import av
import av.audio.resampler
import av.audio.stream
import av.container
import av.error
import av.packet
import av.video.frame
import av.video.reformatter
import av.video.stream
import numpy as np
import numpy.typing as npt
import torch
from PIL import Image

from painterly.errors import ConfigError, InputVideoError, OutputError
from painterly.image.io import save_image
from painterly.video.reader import timeline_origin

__all__ = ["OUTPUT_KINDS", "VideoWriter", "output_kind"]

_log = logging.getLogger(__name__)
if TYPE_CHECKING:  # the stub's Packet is generic, the runtime class is not
    _Packet = av.packet.Packet[Any]

OUTPUT_KINDS: Final[dict[str, str]] = {".mp4": "mp4", ".mov": "mp4", ".mkv": "mp4", ".webm": "webm", ".gif": "gif"}
"""Output suffix -> kind; a path without suffix (or an existing directory) is a folder of PNG frames."""

_MUXERS: Final[dict[str, str]] = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".gif": "gif"}
# libx264 on "veryfast": ~150 fps at 854x480 on two cores, so encoding never limits a video run.
_X264_PRESET: Final[str] = "veryfast"
# Audio codecs copied unchanged into mp4/mov (the container could take more, but players mostly don't).
_MP4_AUDIO: Final[frozenset[str]] = frozenset({"aac", "mp3", "ac3", "eac3", "opus", "alac", "flac"})
_WEBM_AUDIO: Final[frozenset[str]] = frozenset({"opus", "vorbis"})
_FRAME_NAME: Final[str] = "frame_{:06d}.png"
_FRAME_PATTERN: Final[re.Pattern[str]] = re.compile(r"frame_\d+\.png")
_GIF_TIME_BASE: Final[Fraction] = Fraction(1, 100)
_SMPTE170M: Final[int] = 6  # AVCOL_SPC_SMPTE170M: the BT.601 matrix the RGB -> YUV conversion uses
_MPEG_RANGE: Final[int] = 1  # AVCOL_RANGE_MPEG (limited range)


def output_kind(path: str | os.PathLike[str]) -> str:
    """What :class:`VideoWriter` writes for ``path``: ``"mp4"`` (H.264 in .mp4, .mov or .mkv), ``"webm"``
    (VP9), ``"gif"`` or ``"frames"`` (a folder of PNGs, for a path without suffix or an existing directory).

    Raises :class:`ConfigError` for any other suffix.

    >>> output_kind("out/clip.mkv"), output_kind("out/frames")
    ('mp4', 'frames')
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if file.is_dir() or not suffix:
        return "frames"
    kind = OUTPUT_KINDS.get(suffix)
    if kind is None:
        raise ConfigError(
            f"unsupported output container {suffix} for {file}: use .mp4, .mov, .mkv, .webm, .gif or a folder "
            "(a path without suffix) for PNG frames"
        )
    return kind


def _reason(error: BaseException) -> str:
    text = error.strerror if isinstance(error, (av.error.FFmpegError, OSError)) and error.strerror else str(error)
    return " ".join(text.split()) or type(error).__name__


def _even(size: int) -> int:
    return size + size % 2


def _open_sound(source: Path) -> av.container.InputContainer:
    try:
        return av.open(str(source), "r")
    except (av.error.FFmpegError, OSError) as error:
        raise InputVideoError(f"cannot read the sound of {source}: {_reason(error)}") from error


def _dropped_sound_note(source: Path, kind: str) -> str:
    """The audio note for outputs that hold no sound (gif, frames)."""
    with _open_sound(source) as container:
        if not container.streams.audio:
            return "no audio"
    holder = "gif" if kind == "gif" else "a folder of frames"
    return f"{holder} has no sound: audio dropped"


class _Audio:
    """The sound of ``audio_from`` for the selected range, copied or transcoded packet by packet."""

    def __init__(
        self,
        source: Path,
        output: av.container.OutputContainer,
        kind: str,
        suffix: str,
        start: Fraction,
        duration: Fraction | None,
    ) -> None:
        self.note = "no audio"
        self._input: av.container.InputContainer | None = None
        self._packets: Iterator[tuple[Fraction, _Packet]] = iter(())
        self._pending: tuple[Fraction, _Packet] | None = None
        container = _open_sound(source)
        if not container.streams.audio:
            container.close()
            return
        stream = container.streams.audio[0]
        codec = stream.codec_context.name
        self._input = container
        time_base = stream.time_base or Fraction(1, stream.codec_context.sample_rate or 48_000)
        origin = timeline_origin(container)
        first = math.ceil((origin + start) / time_base - Fraction(1, 1000))
        shift = first if start > 0 else round(origin / time_base)
        end = None if duration is None else math.ceil((origin + start + duration) / time_base - Fraction(1, 1000))
        selected = self._selected(container, stream, first if start > 0 else None, end, shift)
        allowed = _WEBM_AUDIO if kind == "webm" else _MP4_AUDIO if suffix in (".mp4", ".mov") else None
        container_name = suffix.lstrip(".")
        if allowed is None:
            allowed = frozenset(output.supported_codecs)
        if codec in allowed:
            out_stream = output.add_stream_from_template(stream)
            self._packets = self._copied(selected, out_stream)
            self.note = f"audio copied ({codec})"
        else:
            target: Literal["libopus", "aac"] = "libopus" if kind == "webm" else "aac"
            self._packets = self._transcoded(selected, stream, output, target)
            self.note = (
                f"audio transcoded to {'opus' if kind == 'webm' else 'aac'}: {container_name} cannot hold {codec}"
            )

    @staticmethod
    def _selected(
        container: av.container.InputContainer,
        stream: av.audio.stream.AudioStream,
        first: int | None,
        end: int | None,
        shift: int,
    ) -> Iterator[_Packet]:
        """Demuxed packets from ``first`` (None: all, priming packets included) to ``end``, shifted."""
        for packet in container.demux(stream):
            if packet.size == 0:  # the demuxer's closing empty packet
                continue
            pts = packet.pts if packet.pts is not None else packet.dts
            if pts is None:
                continue
            if first is not None and pts < first:
                continue
            if end is not None and pts >= end:
                return
            if packet.pts is not None:
                packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
            yield packet

    @staticmethod
    def _copied(packets: Iterator[_Packet], out_stream: av.stream.Stream) -> Iterator[tuple[Fraction, _Packet]]:
        for packet in packets:
            time = (packet.pts if packet.pts is not None else packet.dts or 0) * (packet.time_base or Fraction(0))
            packet.stream = out_stream
            yield time, packet

    @staticmethod
    def _transcoded(
        packets: Iterator[_Packet],
        stream: av.audio.stream.AudioStream,
        output: av.container.OutputContainer,
        codec: Literal["libopus", "aac"],
    ) -> Iterator[tuple[Fraction, _Packet]]:
        """Decode, resample and encode; the output stream is added now (before any packet is muxed)."""
        source = stream.codec_context
        rate = 48_000 if codec == "libopus" else int(source.sample_rate or 48_000)
        layout = "mono" if source.channels == 1 else "stereo"
        out_stream = output.add_stream(codec, rate=rate)
        out_stream.layout = layout
        sample_format = "flt" if codec == "libopus" else "fltp"
        resampler = av.audio.resampler.AudioResampler(format=sample_format, layout=layout, rate=rate)

        def encoded(frame: av.AudioFrame | None) -> Iterator[tuple[Fraction, _Packet]]:
            for resampled in resampler.resample(frame):
                for packet in out_stream.encode(resampled):
                    yield _packet_time(packet), packet
            if frame is None:
                for packet in out_stream.encode(None):
                    yield _packet_time(packet), packet

        def generate() -> Iterator[tuple[Fraction, _Packet]]:
            for packet in packets:
                for frame in source.decode(packet):
                    yield from encoded(frame)
            for frame in source.decode(None):
                yield from encoded(frame)
            yield from encoded(None)

        return generate()

    def pump(self, output: av.container.OutputContainer, until: Fraction | None) -> None:
        """Mux the sound up to ``until`` seconds (``None``: all of it)."""
        while True:
            if self._pending is None:
                self._pending = next(self._packets, None)
                if self._pending is None:
                    return
            time, packet = self._pending
            if until is not None and time >= until:
                return
            self._pending = None
            output.mux(packet)

    def close(self) -> None:
        self._packets = iter(())
        self._pending = None
        if self._input is not None:
            self._input.close()
            self._input = None


def _packet_time(packet: _Packet) -> Fraction:
    value = packet.pts if packet.pts is not None else packet.dts
    return Fraction(value or 0) * (packet.time_base or Fraction(0))


def _palette_frame(samples: npt.NDArray[np.uint8]) -> av.video.frame.VideoFrame:
    """An 8-bit palette frame (GIF) with its own 256-colour palette."""
    quantized = Image.fromarray(samples).quantize(256, method=Image.Quantize.FASTOCTREE)
    colours = np.asarray(quantized.getpalette() or [], dtype=np.uint8)[:768].reshape(-1, 3)
    palette = np.zeros((256, 4), dtype=np.uint8)
    palette[:, 0] = 255
    palette[: len(colours), 1:] = colours
    pair = (np.asarray(quantized), palette)
    return av.video.frame.VideoFrame.from_ndarray(pair, format="pal8")  # type: ignore[arg-type]  # stub lacks pal8


class VideoWriter:
    """Write frames to a video (mp4/mov/mkv H.264, webm VP9, gif) or a folder of PNGs, with the sound of
    ``audio_from`` (for the range ``audio_start`` .. ``audio_start + audio_duration`` seconds).

    :meth:`write` takes ``(1, 3, height, width)`` tensors in [0, 1] and their pts in ``time_base`` units,
    kept as they are (variable frame rate survives). H.264 and VP9 need even sizes: an odd width or height
    is padded by repeating the last column or row (see :attr:`padded_size`). Sound is copied unchanged
    where the container takes its codec, transcoded otherwise (opus for webm), and dropped for gif and
    frames (see :attr:`audio_note`). ``quality`` is a crf (lower is better; 18 is near transparent).

    Nothing appears under the output's name before :meth:`close`; :meth:`close_partial` saves what was
    written as ``<stem>.partial<suffix>``; :meth:`abort` removes the temporary file. As a context manager
    it closes on success and aborts on an exception.

    Raises :class:`OutputError` when the folder cannot be written, when writing fails, and when closing
    with no frames written; :class:`ConfigError` for bad arguments.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        width: int,
        height: int,
        fps: float,
        time_base: Fraction,
        audio_from: Path | None = None,
        audio_start: float = 0.0,
        audio_duration: float | None = None,
        quality: int = 18,
    ) -> None:
        self.path = Path(path)
        self.kind = output_kind(self.path)
        for name, value in (("width", width), ("height", height)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(fps, bool) or not isinstance(fps, (int, float, Fraction)) or not math.isfinite(fps) or fps <= 0:
            raise ConfigError(f"fps must be a positive number, got {fps!r}")
        if not isinstance(time_base, (Fraction, int)) or isinstance(time_base, bool) or time_base <= 0:
            raise ConfigError(f"time_base must be a positive fractions.Fraction, got {time_base!r}")
        if isinstance(quality, bool) or not isinstance(quality, int) or not 0 <= quality <= 51:
            raise ConfigError(f"quality must be an integer crf from 0 to 51, got {quality!r}")
        if audio_from is not None and Path(audio_from).is_dir():  # a folder of frames has no sound
            audio_from = None
        start = _non_negative(audio_start, "audio_start")
        duration = None if audio_duration is None else _non_negative(audio_duration, "audio_duration", strict=True)
        self.width, self.height = width, height
        self.fps = float(fps)
        self._frame_interval = 1 / Fraction(self.fps).limit_denominator(1_000_000)
        self.time_base = Fraction(time_base)
        self.quality = quality
        self._frames_written = 0
        self._last_pts: int | None = None
        self._last_gif_pts = -1
        self._done: Path | None = None
        self._aborted = False
        self._container: av.container.OutputContainer | None = None
        self._video: av.video.stream.VideoStream | None = None
        self._audio: _Audio | None = None
        self._audio_note = "no audio"

        suffix = self.path.suffix.lower()
        parent = self.path.parent
        name = self.path.name
        self._temp = parent / (f".{name}.part" if self.kind == "frames" else f".{self.path.stem}.part{suffix}")
        self._prepare_folder(parent)
        if self.kind == "frames":
            self._open_frames_folder()
            if audio_from is not None:
                self._audio_note = _dropped_sound_note(Path(audio_from), self.kind)
            return
        try:
            options = {"movflags": "+faststart"} if suffix in (".mp4", ".mov") else {}
            self._container = av.open(str(self._temp), "w", format=_MUXERS[suffix], options=options)
        except (av.error.FFmpegError, OSError) as error:
            raise OutputError(f"cannot write {self.path}: {_reason(error)}") from error
        try:
            self._video = self._add_video_stream(self._container, suffix)
            if audio_from is not None and self.kind == "gif":
                self._audio_note = _dropped_sound_note(Path(audio_from), self.kind)
            elif audio_from is not None:
                self._audio = _Audio(Path(audio_from), self._container, self.kind, suffix, start, duration)
                self._audio_note = self._audio.note
            self._container.start_encoding()  # creates the file and opens the encoders: fail now, not later
        except BaseException:
            self.abort()
            raise

    # ----------------------------------------------------------------------------------- public

    @property
    def padded_size(self) -> tuple[int, int]:
        """(width, height) of the frames stored: odd sizes padded to even for H.264 and VP9."""
        if self.kind in ("mp4", "webm"):
            return _even(self.width), _even(self.height)
        return self.width, self.height

    @property
    def audio_note(self) -> str:
        """What happened to the sound, e.g. ``"audio copied (aac)"`` or ``"no audio"``."""
        return self._audio_note

    @property
    def frames_written(self) -> int:
        return self._frames_written

    def write(self, image: torch.Tensor, pts: int) -> None:
        """Write one frame, ``(1, 3, height, width)`` in [0, 1], at ``pts`` (``time_base`` units, increasing)."""
        self._check_open()
        if isinstance(pts, bool) or not isinstance(pts, (int, np.integer)):
            raise ConfigError(f"pts must be an integer, got {pts!r}")
        pts = int(pts)
        if self._last_pts is not None and pts <= self._last_pts:
            raise ConfigError(f"pts must increase from frame to frame: got {pts} after {self._last_pts}")
        samples = self._samples(image)
        try:
            if self.kind == "frames":
                save_image(torch.from_numpy(samples).permute(2, 0, 1)[None].float() / 255.0, self._frame_path())
            else:
                self._encode(samples, pts)
        except (av.error.FFmpegError, OSError) as error:
            raise OutputError(f"cannot write {self.path}: {_reason(error)}") from error
        self._last_pts = pts
        self._frames_written += 1

    def close(self) -> Path:
        """Finish the file and rename it to the output's name; return that path."""
        if self._done is not None:
            return self._done
        self._check_open()
        self._finish(self.path, audio_until=None)
        return self.path

    def close_partial(self) -> Path:
        """Finish what was written so far into a playable ``<stem>.partial<suffix>`` (frames:
        ``<name>.partial/``) next to the output, and return it."""
        if self._done is not None:
            return self._done
        self._check_open()
        partial = self.path.with_name(
            f"{self.path.name}.partial" if self.kind == "frames" else f"{self.path.stem}.partial{self.path.suffix}"
        )
        until = None if self._last_pts is None else self._last_pts * self.time_base + self._frame_interval
        self._finish(partial, audio_until=until)
        return partial

    def abort(self) -> None:
        """Stop and remove the temporary file; nothing is left under any name. Safe to call twice, and does
        nothing after :meth:`close` or :meth:`close_partial`."""
        if self._done is not None:
            return
        self._aborted = True
        if self._audio is not None:
            self._audio.close()
            self._audio = None
        if self._container is not None:
            try:
                self._container.close()
            except (av.error.FFmpegError, OSError) as error:
                _log.debug("closing %s after an abort: %s", self._temp, error)
            self._container = None
        if self._temp.is_dir() and not self._temp.is_symlink():
            shutil.rmtree(self._temp, ignore_errors=True)
        else:
            self._temp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __repr__(self) -> str:
        return f"VideoWriter({str(self.path)!r}, {self.kind}, {self.width}x{self.height}, {self.fps:g} fps)"

    # ---------------------------------------------------------------------------------- internals

    def _check_open(self) -> None:
        if self._aborted or self._done is not None:
            raise OutputError(f"cannot write {self.path}: the writer is already closed")

    def _prepare_folder(self, parent: Path) -> None:
        if parent.exists() and not parent.is_dir():
            raise OutputError(f"cannot write {self.path}: {parent} is not a directory")
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError(f"cannot write {self.path}: cannot create folder {parent} ({_reason(error)})") from error
        if not os.access(parent, os.W_OK | os.X_OK):
            raise OutputError(f"cannot write {self.path}: the folder {parent} is not writable")

    def _open_frames_folder(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise OutputError(f"cannot write {self.path}: a file of that name exists (frames need a folder)")
        if self.path.is_dir() and any(self.path.iterdir()):
            raise OutputError(f"cannot write frames to {self.path}: the folder exists and is not empty")
        try:
            if self._temp.exists():
                shutil.rmtree(self._temp)
            self._temp.mkdir()
        except OSError as error:
            raise OutputError(f"cannot write {self.path}: {_reason(error)}") from error

    def _frame_path(self) -> Path:
        return self._temp / _FRAME_NAME.format(self._frames_written + 1)

    def _add_video_stream(self, container: av.container.OutputContainer, suffix: str) -> av.video.stream.VideoStream:
        rate = Fraction(self.fps).limit_denominator(1_000_000)
        width, height = self.padded_size
        if self.kind == "gif":
            stream = container.add_stream("gif", rate=rate)
            stream.pix_fmt = "pal8"
            stream.codec_context.time_base = _GIF_TIME_BASE
        else:
            if self.kind == "webm":
                crf = min(63, round(self.quality * 31 / 23))  # x264's crf 23 is about VP9's 31
                options = {
                    "crf": str(crf),
                    "b": "0",
                    "deadline": "realtime",
                    "cpu-used": "8",
                    "row-mt": "1",
                }
                stream = container.add_stream("libvpx-vp9", rate=rate, options=options)
                stream.codec_context.thread_count = min(16, os.cpu_count() or 1)
            else:
                options = {"preset": _X264_PRESET, "crf": str(self.quality)}
                stream = container.add_stream("libx264", rate=rate, options=options)
                stream.codec_context.thread_count = 0  # x264 picks its own
            stream.pix_fmt = "yuv420p"
            stream.codec_context.time_base = self.time_base
            stream.codec_context.colorspace = _SMPTE170M
            stream.codec_context.color_range = _MPEG_RANGE
        stream.width, stream.height = width, height
        return stream

    def _samples(self, image: torch.Tensor) -> npt.NDArray[np.uint8]:
        """(H, W, 3) uint8 of a (1, 3, H, W) tensor, padded to :attr:`padded_size`."""
        if not isinstance(image, torch.Tensor) or not image.dtype.is_floating_point:
            kind = image.dtype if isinstance(image, torch.Tensor) else type(image).__name__
            raise ConfigError(f"a frame must be a float tensor (1, 3, H, W), got {kind}")
        expected = (1, 3, self.height, self.width)
        if tuple(image.shape) != expected:
            raise ConfigError(f"a frame for {self.path.name} must have shape {expected}, got {tuple(image.shape)}")
        hwc = image.detach()[0].to("cpu", torch.float32).permute(1, 2, 0).contiguous()
        levels = hwc.mul(255.0).nan_to_num_(0.0).add_(0.5).clamp_(0.0, 255.0).to(torch.uint8)  # rounded
        samples: npt.NDArray[np.uint8] = levels.numpy()
        width, height = self.padded_size
        if (width, height) != (self.width, self.height):
            samples = np.pad(samples, ((0, height - self.height), (0, width - self.width), (0, 0)), mode="edge")
        return samples

    def _encode(self, samples: npt.NDArray[np.uint8], pts: int) -> None:
        container, stream = self._container, self._video
        assert container is not None and stream is not None
        if self.kind == "gif":
            frame = _palette_frame(samples)
            gif_pts = max(round(pts * self.time_base / _GIF_TIME_BASE), self._last_gif_pts + 1)
            self._last_gif_pts = gif_pts
            frame.pts, frame.time_base = gif_pts, _GIF_TIME_BASE
        else:
            rgb = av.video.frame.VideoFrame.from_ndarray(samples, format="rgb24")
            frame = rgb.reformat(
                format="yuv420p",
                dst_colorspace=av.video.reformatter.Colorspace.ITU601,
                dst_color_range=av.video.reformatter.ColorRange.MPEG,
            )
            frame.pts, frame.time_base = pts, self.time_base
        for packet in stream.encode(frame):
            container.mux(packet)
        if self._audio is not None:
            self._audio.pump(container, pts * self.time_base + self._frame_interval)

    def _finish(self, target: Path, *, audio_until: Fraction | None) -> None:
        """Flush, close and rename the temporary output to ``target``."""
        if self._frames_written == 0:
            self.abort()
            raise OutputError(f"cannot write {self.path}: no frames were written")
        try:
            if self._container is not None:
                assert self._video is not None
                for packet in self._video.encode(None):
                    self._container.mux(packet)
                if self._audio is not None:
                    self._audio.pump(self._container, audio_until)
                    self._audio.close()
                    self._audio = None
                self._container.close()
                self._container = None
            if self.kind == "frames" and target.is_dir() and not any(target.iterdir()):
                target.rmdir()
            elif self.kind == "frames" and target.is_dir() and target != self.path and _only_frames(target):
                shutil.rmtree(target)
            os.replace(self._temp, target)
        except (av.error.FFmpegError, OSError) as error:
            self.abort()
            raise OutputError(f"cannot write {target}: {_reason(error)}") from error
        self._done = target


def _only_frames(folder: Path) -> bool:
    """Whether a folder holds nothing but ``frame_NNNNNN.png`` files (an earlier partial output)."""
    return all(_FRAME_PATTERN.fullmatch(entry.name) for entry in folder.iterdir())


def _non_negative(value: object, name: str, *, strict: bool = False) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, (int, float, Fraction)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number of seconds, got {value!r}")
    if value < 0 or (strict and value == 0):
        raise ConfigError(f"{name} must be {'greater than 0' if strict else 'at least 0'}, got {value!r}")
    return Fraction(value).limit_denominator(1_000_000)
