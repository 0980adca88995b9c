"""Audio input and output: :func:`load_audio` reads a sound into a float tensor, :func:`save_audio` writes one.

soundfile (libsndfile) reads WAV, FLAC, OGG, MP3, AIFF and more; anything it cannot open, such as the soundtrack
of an .mp4/.m4a/.webm, is decoded by PyAV (FFmpeg). Samples are float32 in [-1, 1]; by default they are mixed
down to mono and resampled to :data:`TARGET_SAMPLE_RATE` with :func:`scipy.signal.resample_poly`.

>>> clip = load_audio("voice.flac", role="content sound")          # doctest: +SKIP
>>> save_audio("out/voice.wav", clip.samples, clip.sample_rate)    # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
import av.audio.stream
import av.container
import av.error
import numpy as np
import numpy.typing as npt
import soundfile as sf
import torch
from scipy.signal import resample_poly

from painterly.atomic import write_atomically
from painterly.errors import ConfigError, InputAudioError, OutputError

TARGET_SAMPLE_RATE = 22050
AUDIO_OUTPUT_SUFFIXES = (".wav", ".flac")  # what save_audio writes
DEFAULT_MAX_SECONDS = 600.0
SILENCE_PEAK = 10 ** (-90 / 20)  # a sound whose peak is below -90 dBFS counts as silent

_OUTPUT_FORMATS = {".wav": "WAV", ".flac": "FLAC"}
# A header's data size of 0 or near 2**32 is a streaming writer's placeholder, not a promise.
_PLACEHOLDER_SIZE = 0x7FFF0000
# libsndfile's log line for a data chunk that is shorter in the file than its header says (WAV, AIFF).
_SHORT_CHUNK = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)

_Samples = npt.NDArray[np.float32]


@dataclass(frozen=True, eq=False)
class AudioClip:
    """A sound read by :func:`load_audio`, with what is known about its source."""

    samples: torch.Tensor
    """float32 in [-1, 1]: shape (n,) when mixed down to mono, (channels, n) when read with ``mix_down=False``."""
    sample_rate: int
    """Rate of :attr:`samples` in Hz."""
    source_sample_rate: int
    source_channels: int
    source_seconds: float
    """Length of the whole file in seconds."""
    offset: float
    """Seconds skipped at the start of the file."""
    subtype: str | None
    """soundfile subtype of the source (``"PCM_16"``, ``"FLOAT"``…); None when decoded by PyAV."""
    path: Path | None

    @property
    def frames(self) -> int:
        """Number of samples per channel."""
        return int(self.samples.shape[-1])

    @property
    def seconds(self) -> float:
        """Length of :attr:`samples` in seconds."""
        return self.frames / self.sample_rate

    @property
    def mixed_down(self) -> bool:
        """Whether several source channels were averaged into one."""
        return self.source_channels > 1 and self.samples.ndim == 1

    @property
    def resampled(self) -> bool:
        """Whether :attr:`samples` are at another rate than the source."""
        return self.sample_rate != self.source_sample_rate


@dataclass(frozen=True)
class _Span:
    """The part of a file to read, in seconds; ``max_seconds`` caps its length."""

    offset: float
    seconds: float | None
    max_seconds: float | None


@dataclass(frozen=True)
class _Decoded:
    """Samples as read, (channels, n), with the facts about their source."""

    samples: _Samples
    rate: int
    channels: int
    total_seconds: float
    start: int
    subtype: str | None


# --------------------------------------------------------------------------------------------- helpers


def _reason(error: BaseException) -> str:
    """The reason an exception gives, on one line."""
    if isinstance(error, sf.LibsndfileError):
        text = error.error_string
    elif isinstance(error, (OSError, av.error.FFmpegError)) and error.strerror:
        text = error.strerror
    else:
        text = str(error)
    text = " ".join(text.split())
    return text or type(error).__name__


def _fmt_seconds(value: float) -> str:
    """12.0 → "12.0", 0.05 → "0.05", 1/3 → "0.333"."""
    text = f"{value:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _number(value: object, name: str, *, positive: bool, allow_none: bool) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise ConfigError(f"{name} must be greater than 0, got {value!r}")
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {value!r}")
    return float(value)


def _check_rate(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer (Hz), got {value!r}")
    return value


def _selection(span: _Span, rate: int, available: int) -> tuple[int, int]:
    """First sample and sample count of ``span`` in a sound of ``available`` samples (which may be 0)."""
    start = round(span.offset * rate)
    count = max(available - start, 0)
    if span.seconds is not None:
        count = min(count, max(round(span.seconds * rate), 1))
    return start, count


def _too_long(name: str, span: _Span, length: float | None) -> InputAudioError:
    limit = f"{span.max_seconds:g}"
    advice = "take a part with --seconds/--offset or raise --max-seconds"
    if length is None:
        return InputAudioError(f"{name} is longer than the {limit} s limit: {advice}")
    after = f" after the {_fmt_seconds(span.offset)} s offset" if span.offset > 0 else ""
    return InputAudioError(f"{name} is {_fmt_seconds(length)} s long{after}, over the {limit} s limit: {advice}")


def _past_end(name: str, span: _Span, total_seconds: float) -> InputAudioError:
    return InputAudioError(
        f"{name}: offset {_fmt_seconds(span.offset)} s is past the end of the sound "
        f"({_fmt_seconds(total_seconds)} s long)"
    )


def _truncation(log: str) -> tuple[int, int] | None:
    """(bytes the file holds, bytes the header promises) when libsndfile's log shows a short data chunk."""
    for match in _SHORT_CHUNK.finditer(log):
        stated, actual = int(match.group(1)), int(match.group(2))
        if actual + 1 < stated < _PLACEHOLDER_SIZE:
            return actual, stated
    return None


# --------------------------------------------------------------------------------------------- reading


class _NotSoundfileError(Exception):
    """soundfile cannot open the file; ``reason`` says why when it recognised the format."""

    def __init__(self, reason: str | None) -> None:
        super().__init__(reason)
        self.reason = reason


def _read_soundfile(fh: BinaryIO, name: str, span: _Span) -> _Decoded:
    """The selected span of a file libsndfile can open, read after a seek."""
    try:
        sound = sf.SoundFile(fh)
    except sf.LibsndfileError as error:
        # code 1 is "Format not recognised"; other codes mean a format it knows, malformed or unsupported
        raise _NotSoundfileError(None if error.code == 1 else _reason(error)) from error
    with sound:
        rate, channels, frames, subtype = sound.samplerate, sound.channels, sound.frames, sound.subtype
        short = _truncation(sound.extra_info)
        if short is not None:
            raise InputAudioError(
                f"{name} is truncated: the file ends before the samples its header announces "
                f"({short[0]} of {short[1]} bytes)"
            )
        if frames <= 0:
            raise InputAudioError(f"{name} has no samples")
        total = frames / rate
        start, count = _selection(span, rate, frames)
        if start >= frames:
            raise _past_end(name, span, total)
        if span.max_seconds is not None and count / rate > span.max_seconds:
            raise _too_long(name, span, count / rate)
        try:
            if start:
                sound.seek(start)
            data = sound.read(count, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, OSError) as error:
            raise InputAudioError(f"{name} is truncated or corrupt ({_reason(error)})") from error
    if len(data) < count:
        raise InputAudioError(
            f"{name} is truncated or corrupt: its samples end at {_fmt_seconds((start + len(data)) / rate)} s, "
            f"before the {_fmt_seconds(total)} s its header announces"
        )
    return _Decoded(np.ascontiguousarray(data.T), rate, channels, total, start, subtype)


def _is_image_format(container: av.container.InputContainer) -> bool:
    """FFmpeg opens pictures and text files as one-stream "videos"; those are not videos without sound."""
    names = container.format.name.split(",")
    return any(n in ("image2", "tty") or n.endswith("_pipe") for n in names)


def _stated_seconds(container: av.container.InputContainer, stream: av.audio.stream.AudioStream) -> float | None:
    """Length of an audio stream from the container's metadata, when it gives one."""
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    return None


def _read_pyav(path: Path, name: str, span: _Span, soundfile_reason: str | None) -> _Decoded:
    """The selected span of the first audio stream of a file FFmpeg can open, decoded then sliced."""
    not_audio = f"{name} is not an audio file soundfile or FFmpeg can read"
    try:
        container = av.open(str(path), "r")
    except (av.error.FFmpegError, OSError) as error:
        reason = soundfile_reason or (None if isinstance(error, av.error.InvalidDataError) else _reason(error))
        message = f"{not_audio}, or it is truncated or corrupt ({reason})" if reason else not_audio
        raise InputAudioError(message) from error
    with container:
        if not container.streams.audio:
            if container.streams.video and not _is_image_format(container):
                raise InputAudioError(f"{name} has no audio stream")
            raise InputAudioError(not_audio)
        stream = container.streams.audio[0]
        rate, channels = stream.rate, stream.channels
        if not rate or not channels:
            raise InputAudioError(f"{name} is corrupt: its audio stream has no sample rate or channels")
        stated = _stated_seconds(container, stream)
        start = round(span.offset * rate)
        wanted = None if span.seconds is None else start + max(round(span.seconds * rate), 1)
        cap = wanted
        if cap is None and span.max_seconds is not None:
            # decode a little past the limit: enough to tell "too long" even after the padding is dropped
            cap = start + math.floor(span.max_seconds * rate) + rate // 10 + 2
        chunks: list[_Samples] = []
        decoded = 0
        finished = True
        resampler = av.AudioResampler(format="fltp")  # keeps the layout and rate, makes float planar
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().astype(np.float32, copy=False))
                    decoded += chunks[-1].shape[-1]
                if cap is not None and decoded >= cap:
                    finished = False
                    break
            if finished:
                for out in resampler.resample(None):
                    chunks.append(out.to_ndarray().astype(np.float32, copy=False))
                    decoded += chunks[-1].shape[-1]
        except (av.error.FFmpegError, ValueError) as error:
            raise InputAudioError(f"{name} is truncated or corrupt (FFmpeg: {_reason(error)})") from error
    data = np.concatenate(chunks, axis=1) if chunks else np.zeros((channels, 0), np.float32)
    if finished and stated is not None:
        # AAC and the like decode whole frames: drop the encoder's padding past the stated end (at most 0.1 s)
        stated_samples = round(stated * rate)
        if 0 < stated_samples < data.shape[1] <= stated_samples + rate // 10:
            data = data[:, :stated_samples]
    total = data.shape[1] / rate if finished or stated is None else stated
    if data.shape[1] == 0:
        raise InputAudioError(f"{name} has no samples")
    if start >= data.shape[1]:
        raise _past_end(name, span, total)
    if span.seconds is None and span.max_seconds is not None:
        length = (data.shape[1] - start) / rate
        if not finished:  # stopped early: the stated length tells how long, when it agrees
            stated_length = None if stated is None else stated - start / rate
            raise _too_long(name, span, stated_length if stated_length and stated_length > span.max_seconds else None)
        if length > span.max_seconds:
            raise _too_long(name, span, length)
    stop = data.shape[1] if wanted is None else min(wanted, data.shape[1])
    return _Decoded(np.ascontiguousarray(data[:, start:stop]), rate, channels, total, start, None)


def _open(path: Path, name: str) -> BinaryIO:
    try:
        fh = open(path, "rb")  # noqa: SIM115 - the caller closes it
    except FileNotFoundError as error:
        raise InputAudioError(f"{name} does not exist") from error
    except IsADirectoryError as error:
        raise InputAudioError(f"{name} is a folder, not an audio file") from error
    except OSError as error:
        raise InputAudioError(f"{name} cannot be read: {_reason(error)}") from error
    try:
        size = os.fstat(fh.fileno()).st_size
    except OSError as error:
        fh.close()
        raise InputAudioError(f"{name} cannot be read: {_reason(error)}") from error
    if size == 0:
        fh.close()
        raise InputAudioError(f"{name} is empty (0 bytes)")
    return fh


def load_audio(
    path: str | os.PathLike[str],
    *,
    sample_rate: int | None = TARGET_SAMPLE_RATE,
    mix_down: bool = True,
    offset: float = 0.0,
    seconds: float | None = None,
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    role: str = "audio",
) -> AudioClip:
    """Read ``seconds`` of a sound from ``offset`` on (default: to the end) as float32 in [-1, 1].

    ``mix_down`` averages the channels into a mono (n,) tensor, else the result is (channels, n).
    ``sample_rate`` resamples (None keeps the source rate). ``role`` ("content sound", "style sound") starts every
    error message. Raises :class:`ConfigError` for a negative ``offset`` or a non-positive ``seconds``,
    ``max_seconds`` or ``sample_rate``, and :class:`InputAudioError` (one line naming the file) when the file is
    missing, not audio, empty, silent, not finite, truncated or corrupt, when ``offset`` is past its end, or when
    the selected span is longer than ``max_seconds``.
    """
    target = None if sample_rate is None else _check_rate(sample_rate, "sample_rate")
    start_seconds = _number(offset, "offset", positive=False, allow_none=False)
    assert start_seconds is not None
    span = _Span(
        start_seconds,
        _number(seconds, "seconds", positive=True, allow_none=True),
        _number(max_seconds, "max_seconds", positive=True, allow_none=True),
    )
    file = Path(path)
    name = f"{role} '{file}'"
    with _open(file, name) as fh:
        try:
            decoded = _read_soundfile(fh, name, span)
        except _NotSoundfileError as error:
            decoded = _read_pyav(file, name, span, error.reason)
    data = decoded.samples
    if not np.isfinite(data).all():
        raise InputAudioError(f"{name} has non-finite samples (NaN or infinity): the file is corrupt")
    if mix_down:
        data = data.mean(axis=0, dtype=np.float32) if data.shape[0] > 1 else data[0]
    if float(np.abs(data).max()) < SILENCE_PEAK:
        where = ""
        if span.offset > 0 or span.seconds is not None:
            end = (decoded.start + data.shape[-1]) / decoded.rate
            where = f" from {_fmt_seconds(decoded.start / decoded.rate)} s to {_fmt_seconds(end)} s"
        elif decoded.samples.shape[0] > 1 and mix_down and float(np.abs(decoded.samples).max()) >= SILENCE_PEAK:
            where = " once mixed down to mono (its channels cancel out)"
        raise InputAudioError(f"{name} is silent (peak below -90 dBFS){where}: nothing to stylise")
    samples = torch.from_numpy(np.ascontiguousarray(data))
    rate = decoded.rate
    if target is not None and target != rate:
        samples = resample(samples, rate, target)
        rate = target
    samples = samples.clamp_(-1.0, 1.0)  # resampling and lossy decoders overshoot a little
    return AudioClip(
        samples=samples,
        sample_rate=rate,
        source_sample_rate=decoded.rate,
        source_channels=decoded.channels,
        source_seconds=decoded.total_seconds,
        offset=decoded.start / decoded.rate,
        subtype=decoded.subtype,
        path=file,
    )


def resample(samples: torch.Tensor, source_rate: int, target_rate: int) -> torch.Tensor:
    """``samples`` (..., n) from ``source_rate`` to ``target_rate`` Hz along the last axis, as float32.

    Polyphase filtering by :func:`scipy.signal.resample_poly` (up/down reduced by their gcd); the result has
    ceil(n * target / source) samples, on ``samples``' device, and is not clipped (it may overshoot ±1 slightly).
    Raises :class:`ConfigError` for a rate that is not a positive integer.
    """
    source_rate = _check_rate(source_rate, "source_rate")
    target_rate = _check_rate(target_rate, "target_rate")
    if source_rate == target_rate:
        return samples.to(torch.float32)
    common = math.gcd(source_rate, target_rate)
    up, down = target_rate // common, source_rate // common
    length = samples.shape[-1]
    if length == 0:
        return torch.zeros((*samples.shape[:-1], 0), dtype=torch.float32, device=samples.device)
    array = samples.detach().to("cpu", torch.float32).numpy()
    out = resample_poly(array, up, down, axis=-1)
    result = torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))
    return result.to(samples.device)


# --------------------------------------------------------------------------------------------- writing


def _output_samples(file: Path, samples: torch.Tensor) -> _Samples:
    """(n, channels) float32 in [-1, 1], the layout soundfile writes."""
    if not isinstance(samples, torch.Tensor) or not samples.is_floating_point():
        raise OutputError(f"cannot write {file}: the samples must be a float tensor")
    if samples.ndim not in (1, 2):
        raise OutputError(f"cannot write {file}: the samples must be (n,) or (channels, n), got {tuple(samples.shape)}")
    if samples.shape[-1] == 0 or (samples.ndim == 2 and samples.shape[0] == 0):
        raise OutputError(f"cannot write {file}: there are no samples")
    array = samples.detach().to("cpu", torch.float32).numpy()
    if not np.isfinite(array).all():
        raise OutputError(f"cannot write {file}: the samples contain NaN or infinite values")
    # libsndfile wraps out-of-range floats around when it converts them to integers
    clipped: _Samples = np.clip(array, -1.0, 1.0)
    return np.ascontiguousarray(clipped.T if clipped.ndim == 2 else clipped)


def save_audio(
    path: str | os.PathLike[str], samples: torch.Tensor, sample_rate: int, *, subtype: str | None = None
) -> Path:
    """Write ``samples`` ((n,) or (channels, n) floats, clipped to [-1, 1]) as a .wav or .flac; return the path.

    ``subtype`` (e.g. the :attr:`AudioClip.subtype` of a source) is used when the format accepts it, else the
    format's default (PCM_16). The file is written under a temporary name in the same folder and then renamed,
    so a killed process never leaves a half-written file under ``path``. Raises :class:`OutputError` for another
    suffix, samples that are not finite, or a file that cannot be written.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in AUDIO_OUTPUT_SUFFIXES:
        raise OutputError(f"cannot write {file}: it needs one of the suffixes {', '.join(AUDIO_OUTPUT_SUFFIXES)}")
    if file.is_dir():
        raise OutputError(f"cannot write {file}: it is a directory; give a file name inside it")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 1:
        raise OutputError(f"cannot write {file}: the sample rate must be a positive integer, got {sample_rate!r}")
    data = _output_samples(file, samples)
    fmt = _OUTPUT_FORMATS[suffix]
    chosen = subtype.upper() if subtype and sf.check_format(fmt, subtype.upper()) else None
    return write_atomically(
        file,
        lambda handle: sf.write(handle, data, sample_rate, subtype=chosen, format=fmt),
        errors=(sf.LibsndfileError,),
        reason=_reason,
    )
