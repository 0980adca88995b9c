"""Video input and output: :func:`open_video` reads frames lazily, :class:`VideoWriter` writes them.

>>> with open_video("clip.mp4", long_side=512) as video, VideoWriter(              # doctest: +SKIP
...     "styled.mp4", width=video.info.width, height=video.info.height, fps=video.info.fps,
...     time_base=video.info.time_base, audio_from=video.info.path,
... ) as writer:
...     for frame in video:
...         writer.write(stylise(frame.image), frame.pts)

Inputs: the containers of :data:`VIDEO_SUFFIXES` or a folder of image frames. Outputs (see
:func:`output_kind`): H.264 in .mp4/.mov/.mkv, VP9 in .webm, .gif, or a folder of PNG frames.
Implementation in :mod:`painterly.video.reader` and :mod:`painterly.video.writer`.
"""

from __future__ import annotations

from painterly.video.reader import (
    FRAME_SUFFIXES,
    VIDEO_SUFFIXES,
    AudioInfo,
    VideoFrame,
    VideoInfo,
    VideoReader,
    open_video,
)
from painterly.video.writer import VideoWriter, output_kind

__all__ = [
    "FRAME_SUFFIXES",
    "VIDEO_SUFFIXES",
    "AudioInfo",
    "VideoFrame",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "open_video",
    "output_kind",
]
