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
