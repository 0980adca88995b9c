"""Uploaded files: the format told from the bytes (never the name), the size checked before decoding."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image

from ..errors import InputImageError

UploadKind = Literal["image", "video"]

# (magic bytes at offset, suffix, kind): the first match wins
_SIGNATURES: tuple[tuple[int, bytes, str, UploadKind], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", ".png", "image"),
    (0, b"\xff\xd8\xff", ".jpg", "image"),
    (0, b"GIF87a", ".gif", "image"),
    (0, b"GIF89a", ".gif", "image"),
    (0, b"II*\x00", ".tif", "image"),
    (0, b"MM\x00*", ".tif", "image"),
    (0, b"BM", ".bmp", "image"),
    (4, b"ftyp", ".mp4", "video"),
    (0, b"\x1a\x45\xdf\xa3", ".mkv", "video"),
)
SNIFF_BYTES = 16
STILL_IMAGE_BRANDS = frozenset(
    {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}
)
"""ISO-BMFF major brands of still pictures (HEIF, AVIF): ``ftyp`` like an MP4, but not a video."""


class UnsupportedUploadError(InputImageError):
    """The bytes are no format the studio reads."""


class UploadTooLargeError(InputImageError):
    """The decoded picture would exceed the pixel limit."""


@dataclass(frozen=True)
class Sniffed:
    kind: UploadKind
    suffix: str


def sniff(head: bytes) -> Sniffed | None:
    """The format of a file from its first bytes (:data:`SNIFF_BYTES`), or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed("image", ".webp")
    if head[4:8] == b"ftyp" and head[8:12] in STILL_IMAGE_BRANDS:
        raise UnsupportedUploadError(
            "HEIC/AVIF pictures are not supported: export the photo as JPEG or PNG (most phones can)"
        )
    for offset, magic, suffix, kind in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return Sniffed(kind, suffix)
    return None


def check_picture(path: Path, *, max_pixels: int, label: str) -> tuple[int, int]:
    """Width and height from the header (nothing decoded); raises when unreadable or over ``max_pixels``."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, Image.DecompressionBombError, ValueError) as error:
        raise UnsupportedUploadError(f"{label} is not a readable picture ({error})") from error
    if width * height > max_pixels:
        raise UploadTooLargeError(
            f"{label} is {width}x{height} = {width * height:,} pixels, above this studio's limit of {max_pixels:,}"
        )
    return width, height


def check_video(path: Path, *, max_pixels: int, max_frames: int, long_side: int) -> None:
    """Open a video's header: raises when it is unreadable, its frames (at ``long_side``) exceed ``max_pixels``, or
    it has more than ``max_frames`` frames."""
    from ..errors import InputVideoError
    from ..video.reader import open_video

    try:
        with open_video(path, long_side=long_side, max_pixels=None) as video:
            info = video.info
    except InputVideoError as error:
        reason = str(error).replace(f"{path}: ", "").replace(str(path), "it")
        raise UnsupportedUploadError(f"the video is not readable ({reason})") from error
    if info.width * info.height > max_pixels:
        raise UploadTooLargeError(f"the video's frames would be {info.width}x{info.height}, above the pixel limit")
    frames = info.frame_count or round((info.duration or 0.0) * info.fps)
    if frames > max_frames:
        raise UploadTooLargeError(
            f"the video has about {frames:,} frames, above this studio's limit of {max_frames:,}; trim it first"
        )
