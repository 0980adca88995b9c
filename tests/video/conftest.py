"""Small synthetic clips made with PyAV for the video tests."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import av.audio.stream
import numpy as np
import numpy.typing as npt
import torch

SAMPLE_RATE = 44_100


def frame_samples(index: int, width: int, height: int) -> npt.NDArray[np.uint8]:
    """Frame ``index`` of a synthetic clip: flat colour whose red level tells the index, a bright block in the
    top-left quarter (to check orientation), and a soft horizontal ramp in blue."""
    samples = np.zeros((height, width, 3), dtype=np.uint8)
    samples[..., 0] = 20 + 10 * (index % 24)
    samples[..., 1] = 60
    samples[..., 2] = np.linspace(40, 120, width, dtype=np.float32).astype(np.uint8)[None, :]
    samples[: height // 2, : width // 2, 1] = 230
    return samples


def frame_index(image: torch.Tensor) -> int:
    """The index :func:`frame_samples` drew into a decoded frame (from the red level of its bottom half)."""
    red = float(image[0, 0, image.shape[-2] // 2 :].mean()) * 255.0
    return round((red - 20) / 10)


def make_clip(
    path: Path,
    *,
    frames: int = 12,
    width: int = 64,
    height: int = 48,
    fps: int = 25,
    pts: Sequence[int] | None = None,
    time_base: Fraction = Fraction(1, 1000),
    audio: bool = False,
    audio_codec: str = "aac",
    video: bool = True,
    rotation: int = 0,
    faststart: bool = False,
    pix_fmt: str = "yuv420p",
) -> Path:
    """Write a small H.264 clip (optionally with an AAC sine tone) and return its path.

    Without ``pts`` frames are 1/fps apart; ``pts`` (in ``time_base`` units) gives a variable frame rate.
    """
    times = list(pts) if pts is not None else [round(i / (fps * time_base)) for i in range(frames)]
    options = {"movflags": "+faststart"} if faststart else {}
    container = av.open(str(path), "w", options=options)
    video_stream = None
    if video:
        video_stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "12"})
        video_stream.width, video_stream.height, video_stream.pix_fmt = width, height, pix_fmt
        video_stream.codec_context.time_base = time_base
        if rotation:
            video_stream.set_display_rotation(rotation)
    audio_stream: av.audio.stream.AudioStream | None = None
    if audio:
        added = container.add_stream(audio_codec, rate=SAMPLE_RATE)
        assert isinstance(added, av.audio.stream.AudioStream)
        audio_stream = added
        audio_stream.layout = "stereo"
    end = (times[-1] + round(1 / (fps * time_base))) * time_base
    sample = 0
    for index, value in enumerate(times):
        if video_stream is not None:
            frame = av.VideoFrame.from_ndarray(frame_samples(index, width, height), format="rgb24")
            frame.pts, frame.time_base = value, time_base
            for packet in video_stream.encode(frame):
                container.mux(packet)
        if audio_stream is not None:
            limit = end if index == len(times) - 1 else value * time_base + Fraction(1, fps)
            while sample < limit * SAMPLE_RATE:
                t = (np.arange(1024) + sample) / SAMPLE_RATE
                tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
                chunk = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
                chunk.sample_rate, chunk.pts = SAMPLE_RATE, sample
                for packet in audio_stream.encode(chunk):
                    container.mux(packet)
                sample += 1024
    for stream in (video_stream, audio_stream):
        if stream is not None:
            for packet in stream.encode(None):
                container.mux(packet)
    container.close()
    return path


def audio_packets(path: Path) -> list[tuple[bytes, int | None, Fraction | None]]:
    """(bytes, pts, time_base) of every packet of the first audio stream."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return [(bytes(p), p.pts, p.time_base) for p in container.demux(stream) if p.size]


def audio_times(path: Path) -> list[float]:
    """Times of the audio packets in seconds, relative to the start of the video stream (muxers such as
    Matroska shift every stream to avoid negative timestamps)."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        origin = Fraction(video.start_time or 0) * (video.time_base or Fraction(0))
    return [float(pts * tb - origin) for _, pts, tb in audio_packets(path) if pts is not None and tb is not None]


def stream_codecs(path: Path) -> list[tuple[str, str]]:
    with av.open(str(path)) as container:
        return [(stream.type, stream.codec_context.name) for stream in container.streams]
