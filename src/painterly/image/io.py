"""Reading and writing images as tensors, and resizing them.

Every public function speaks the project's tensor convention: an image is a float32 tensor ``(B, 3, H, W)``
holding RGB in [0, 1]; an alpha channel is ``(B, 1, H, W)`` in [0, 1].

>>> loaded = read_image("content.jpg")                  # doctest: +SKIP
>>> small = resize_long_side(loaded.rgb, 512)             # doctest: +SKIP
>>> save_image(small, "out/content.png", alpha=None)     # doctest: +SKIP

Reading goes through Pillow, except TIFF (tifffile, so 16-bit RGB keeps its precision) and 16-bit RGB, RGBA and
grey+alpha PNG (OpenCV, which decodes them with libpng at full precision where Pillow keeps 8 bits; see
``_read_png16``). Writing uses Pillow for 8-bit files, tifffile for TIFF and OpenCV for 16-bit PNG.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from PIL import Image, ImageFile, UnidentifiedImageError

from painterly.atomic import write_atomically
from painterly.errors import ConfigError, InputImageError, OutputError

# OpenCV and tifffile are imported where 16-bit PNGs and TIFFs are handled: everything else (a GPU training machine
# with torch, numpy and Pillow alone, too) loads and saves images without them.
if TYPE_CHECKING:
    import tifffile

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "READ_FORMATS",
    "WRITE_SUFFIXES",
    "LoadedImage",
    "as_loaded_image",
    "check_output_path",
    "load_image",
    "read_image",
    "resize_long_side",
    "resize_to",
    "save_image",
    "to_pil",
]

_log = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS: Final[int] = 64_000_000
"""Largest image (width * height) read by default; a guard against decompression bombs."""

READ_FORMATS: Final[tuple[str, ...]] = ("PNG", "JPEG", "WebP", "TIFF", "BMP", "GIF")
"""Formats that are tested for reading. Anything else Pillow can open is read as well."""

WRITE_SUFFIXES: Final[tuple[str, ...]] = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")
"""File suffixes :func:`save_image` accepts (case-insensitive); the suffix chooses the format."""

_SUFFIX_FORMATS: Final[dict[str, str]] = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".bmp": "BMP",
}
_SIXTEEN_BIT_FORMATS: Final[frozenset[str]] = frozenset({"PNG", "TIFF"})
_ALPHA_FORMATS: Final[frozenset[str]] = frozenset({"PNG", "TIFF", "WEBP"})

_PNG_SIGNATURE: Final[bytes] = b"\x89PNG\r\n\x1a\n"
# PNG colour types read with OpenCV at 16 bits: RGB (2), grey+alpha (4), RGBA (6). 16-bit grey (0) stays with
# Pillow, which reads it at full precision and, unlike OpenCV, keeps its tRNS colour key; palettes have no 16 bits.
_PNG16_OPENCV_COLOUR_TYPES: Final[frozenset[int]] = frozenset({2, 4, 6})
_FLOAT_TOLERANCE: Final[float] = 1e-5
_SAMPLES = npt.NDArray[Any]  # (H, W, C) with C in 1..4: gray, gray+alpha, RGB, RGBA

# Pillow's MAX_IMAGE_PIXELS and LOAD_TRUNCATED_IMAGES are module globals. We enforce our own pixel cap and
# always want truncation reported, so they are set for the duration of a read, under a lock.
_PILLOW_LOCK = threading.RLock()


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """An image read into the tensor convention, with what is known about its source.

    >>> img = read_image("photo.png")                      # doctest: +SKIP
    >>> img.rgb.shape, img.size, img.bit_depth             # doctest: +SKIP
    (torch.Size([1, 3, 480, 640]), (640, 480), 8)
    """

    rgb: torch.Tensor
    """``(1, 3, H, W)`` float32 in [0, 1]."""
    alpha: torch.Tensor | None
    """``(1, 1, H, W)`` float32 in [0, 1]; ``None`` if the source had no alpha channel or transparency."""
    bit_depth: int
    """8 or 16: precision of the source samples (floating-point sources count as 16)."""
    source: str
    """The path read, or a short description such as ``"<PIL image>"``."""

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return int(self.rgb.shape[-1]), int(self.rgb.shape[-2])


# --------------------------------------------------------------------------------------------------- reading


def read_image(path: str | os.PathLike[str], *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read an image file: RGB plus alpha if it has any, EXIF orientation applied.

    Raises :class:`InputImageError` (one line naming the file) if the file is missing, unreadable, not an
    image, truncated, empty or larger than ``max_pixels`` (``None``: no limit).

    >>> img = read_image("photo.jpg", max_pixels=None)    # doctest: +SKIP
    """
    _check_max_pixels(max_pixels)
    try:
        file = Path(path)
    except TypeError as error:
        raise ConfigError(f"image path must be a str or os.PathLike, not {type(path).__name__}") from error
    source = str(file)
    try:
        with _open_input(file, source) as fh:
            head = fh.read(32)
            fh.seek(0)
            if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
                samples, depth, orientation = _read_tiff(fh, source, max_pixels)
            elif _is_png16_colour(head):
                samples, depth, orientation = _read_png16(fh, head, source, max_pixels)
            else:
                samples, depth, orientation = _read_with_pillow(fh, head, source, max_pixels)
    except OSError as error:  # reading failed below the decoders (I/O error, file vanished)
        raise InputImageError(f"cannot read image {source}: {_reason(error)}") from error
    return _finish(samples, depth, source, orientation)


def load_image(path: str | os.PathLike[str], *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """Read an image file and return only its RGB tensor ``(1, 3, H, W)``; see :func:`read_image`.

    >>> load_image("style.jpg").shape                      # doctest: +SKIP
    torch.Size([1, 3, 512, 768])
    """
    return read_image(path, max_pixels=max_pixels).rgb


def as_loaded_image(
    image: str | os.PathLike[str] | Image.Image | npt.NDArray[Any] | torch.Tensor,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> LoadedImage:
    """Turn anything the Python API accepts as an image into a :class:`LoadedImage`.

    Accepted: a path; a PIL image of any mode; a numpy array ``HxW`` (gray), ``HxWx1``, ``HxWx3`` or
    ``HxWx4`` (with alpha), uint8, uint16 or float in [0, 1]; a tensor ``(H, W)``, ``(C, H, W)`` or
    ``(1, C, H, W)`` with C in 1 (gray), 3 or 4 (alpha last), uint8 or float in [0, 1]. The pixel cap applies
    to every kind.
    A value of another type raises :class:`ConfigError`; a malformed image (shape, dtype, NaN, range, empty)
    raises :class:`InputImageError`.

    >>> as_loaded_image(np.zeros((4, 6, 3), np.uint8)).rgb.shape
    torch.Size([1, 3, 4, 6])
    """
    _check_max_pixels(max_pixels)
    if isinstance(image, (str, os.PathLike)):
        return read_image(image, max_pixels=max_pixels)
    if isinstance(image, Image.Image):
        source = "<PIL image>"
        _check_size(image.width, image.height, source, max_pixels)
        with _strict_pillow():
            samples, depth = _decode_pillow(image, source)
            orientation = _exif_orientation(image)
        return _finish(samples, depth, source, orientation)
    if isinstance(image, np.ndarray):
        samples, depth = _validate_array(image, "<numpy array>")
        _check_size(samples.shape[1], samples.shape[0], "<numpy array>", max_pixels)
        return _finish(samples, depth, "<numpy array>")
    if isinstance(image, torch.Tensor):
        samples, depth = _validate_tensor(image, "<tensor>")
        _check_size(samples.shape[1], samples.shape[0], "<tensor>", max_pixels)
        return _finish(samples, depth, "<tensor>")
    raise ConfigError(
        f"an image must be a path, a PIL image, a numpy array or a torch tensor, not {type(image).__name__}"
    )


def _check_max_pixels(max_pixels: int | None) -> None:
    if max_pixels is None:
        return
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise ConfigError(f"max_pixels must be a positive integer or None, got {max_pixels!r}")


def _check_size(width: int, height: int, source: str, max_pixels: int | None) -> None:
    if width <= 0 or height <= 0:
        raise InputImageError(f"cannot read image {source}: the image is empty ({width}x{height} pixels)")
    pixels = width * height
    if max_pixels is not None and pixels > max_pixels:
        raise InputImageError(
            f"cannot read image {source}: {width}x{height} is {pixels:,} pixels, above the limit of "
            f"{max_pixels:,}; raise the limit with --max-pixels (max_pixels= in Python) if you trust the file"
        )


def _reason(error: BaseException) -> str:
    """The reason an exception gives, on one line."""
    text = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    text = " ".join(text.split())
    return text or type(error).__name__


@contextmanager
def _open_input(file: Path, source: str) -> Iterator[BinaryIO]:
    """Open an input file for reading, turning every OS failure into a one-line InputImageError."""
    try:
        info = file.stat()
    except FileNotFoundError as error:
        raise InputImageError(f"cannot read image {source}: no such file") from error
    except OSError as error:
        raise InputImageError(f"cannot read image {source}: {_reason(error)}") from error
    if file.is_dir():
        raise InputImageError(f"cannot read image {source}: it is a directory, not an image file")
    if info.st_size == 0:
        raise InputImageError(f"cannot read image {source}: the file is empty (0 bytes)")
    try:
        fh = open(file, "rb")  # noqa: SIM115 - closed below
    except PermissionError as error:
        raise InputImageError(f"cannot read image {source}: permission denied") from error
    except OSError as error:
        raise InputImageError(f"cannot read image {source}: {_reason(error)}") from error
    with fh:
        yield fh


@contextmanager
def _strict_pillow() -> Iterator[None]:
    """Within: no Pillow pixel limit (the caller enforces its own), truncated files always raise, and
    Pillow's warnings go to the log."""
    with _PILLOW_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
        Image.MAX_IMAGE_PIXELS = None
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved
            for warning in caught:  # e.g. "Corrupt EXIF data": worth a log line, not a warning to the user
                _log.debug("Pillow: %s", warning.message)


def _header_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, GIF or BMP header Pillow refused, to explain a zero-sized image."""
    if head.startswith(_PNG_SIGNATURE) and head[12:16] == b"IHDR" and len(head) >= 24:
        width, height = struct.unpack(">II", head[16:24])
        return int(width), int(height)
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        width, height = struct.unpack("<HH", head[6:10])
        return int(width), int(height)
    if head[:2] == b"BM" and len(head) >= 26:
        width, height = struct.unpack("<ii", head[18:26])
        return abs(int(width)), abs(int(height))
    return None


def _read_with_pillow(fh: BinaryIO, head: bytes, source: str, max_pixels: int | None) -> tuple[_SAMPLES, int, int]:
    with _strict_pillow():
        try:
            image = Image.open(fh)
        except UnidentifiedImageError as error:
            size = _header_size(head)
            if size is not None and 0 in size:
                raise InputImageError(
                    f"cannot read image {source}: the image is empty ({size[0]}x{size[1]} pixels)"
                ) from error
            raise InputImageError(
                f"cannot read image {source}: not an image file (unrecognised or corrupt format)"
            ) from error
        except Image.DecompressionBombError as error:  # not expected: the limit is lifted above
            raise InputImageError(
                f"cannot read image {source}: too many pixels ({_reason(error)}); raise the limit with --max-pixels"
            ) from error
        except Exception as error:
            message = f"cannot read image {source}: the file is truncated or corrupt ({_reason(error)})"
            raise InputImageError(message) from error
        with image:
            _check_size(image.width, image.height, source, max_pixels)
            key = image.info.get("transparency")
            if _is_png16_colour(head) and isinstance(key, tuple):  # Pillow decodes the high bytes of 16-bit RGB only
                image.info["transparency"] = tuple(value >> 8 for value in key)
            samples, depth = _decode_pillow(image, source)
            orientation = _exif_orientation(image)
            # A frame may be larger than the header said (GIF); check what was decoded too.
            _check_size(samples.shape[1], samples.shape[0], source, max_pixels)
    return samples, depth, orientation


def _decode_pillow(image: Image.Image, source: str) -> tuple[_SAMPLES, int]:
    """Fully decode a PIL image into (H, W, C) samples and their bit depth."""
    try:
        image.load()
    except Exception as error:
        raise InputImageError(
            f"cannot read image {source}: the image data is truncated or corrupt ({_reason(error)})"
        ) from error
    try:
        return _pillow_samples(image)
    except Exception as error:
        message = f"cannot read image {source}: cannot decode its pixels ({_reason(error)})"
        raise InputImageError(message) from error


def _pillow_samples(image: Image.Image) -> tuple[_SAMPLES, int]:
    mode = image.mode
    key = image.info.get("transparency")
    if mode.startswith("I;16") or mode in ("I", "F"):
        gray = np.asarray(image)
        if mode == "F":
            values: _SAMPLES = np.nan_to_num(gray.astype(np.float32), nan=0.0).clip(0.0, 1.0)
        else:
            values = np.clip(gray.astype(np.int64), 0, 65535).astype(np.uint16)
        samples = values[..., None]
        if isinstance(key, int) and mode != "F":
            samples = _with_key_alpha(samples, key)
        return samples, 16
    if mode == "1":
        image, mode = image.convert("L"), "L"
    if mode in ("P", "PA"):
        rgba_palette = image.palette is not None and image.palette.mode == "RGBA"
        has_alpha = mode == "PA" or key is not None or rgba_palette
        converted = np.asarray(image.convert("RGBA" if has_alpha else "RGB"))
        return converted, 8
    if mode in ("LA", "La"):
        return np.asarray(image.convert("LA") if mode == "La" else image), 8
    if mode in ("RGBA", "RGBa"):
        return np.asarray(image.convert("RGBA") if mode == "RGBa" else image), 8
    if mode in ("L", "RGB"):
        samples = np.asarray(image)
        samples = samples[..., None] if samples.ndim == 2 else samples
        if (mode == "L" and isinstance(key, int)) or (mode == "RGB" and isinstance(key, tuple)):
            samples = _with_key_alpha(samples, key)
        return samples, 8
    try:  # CMYK, YCbCr, RGBX, ...
        return np.asarray(image.convert("RGB")), 8
    except Exception as error:
        raise ValueError(f"unsupported colour mode {mode}: {_reason(error)}") from error


def _with_key_alpha(samples: _SAMPLES, key: int | tuple[int, ...]) -> _SAMPLES:
    """Append an alpha channel that is 0 where a pixel equals the transparent colour ``key``."""
    key_values = np.asarray(key if isinstance(key, tuple) else (key,), dtype=np.int64)
    if key_values.shape[0] != samples.shape[2]:
        return samples
    opaque = np.any(samples.astype(np.int64) != key_values, axis=2)
    full = 255 if samples.dtype == np.uint8 else 65535
    alpha = (opaque * full).astype(samples.dtype)
    return np.concatenate([samples, alpha[..., None]], axis=2)


def _is_png16_colour(head: bytes) -> bool:
    """Whether a file starting with ``head`` is a 16-bit PNG of a colour type read with OpenCV."""
    return (
        head.startswith(_PNG_SIGNATURE)
        and head[12:16] == b"IHDR"
        and len(head) >= 26
        and head[24] == 16
        and head[25] in _PNG16_OPENCV_COLOUR_TYPES
    )


def _read_png16(fh: BinaryIO, head: bytes, source: str, max_pixels: int | None) -> tuple[_SAMPLES, int, int]:
    """A 16-bit RGB, RGBA or grey+alpha PNG at full precision, decoded by OpenCV (libpng).

    Pillow keeps only the high byte of these. OpenCV returns BGR(A) (grey+alpha as BGRA with B = G = R), turns a
    tRNS colour key into alpha and keeps the samples as stored (sBIT does not shift them); its ``IMREAD_UNCHANGED``
    leaves the EXIF orientation to us. If OpenCV refuses the file (truncated, corrupt, over its pixel limit), Pillow
    reads it instead: it reports what is wrong, or decodes the file at 8-bit precision with a warning logged.
    """
    import cv2

    width, height = (int(side) for side in struct.unpack(">II", head[16:24]))
    _check_size(width, height, source, max_pixels)
    data = np.frombuffer(fh.read(), dtype=np.uint8)
    reason = "OpenCV could not decode it"
    try:
        decoded, kinds, metadata = cv2.imdecodeWithMetadata(data, cv2.IMREAD_UNCHANGED)
    except cv2.error as error:
        decoded, kinds, metadata, reason = None, (), (), _reason(error)
    if (
        isinstance(decoded, np.ndarray)
        and decoded.dtype == np.uint16
        and decoded.ndim == 3
        and decoded.shape[2] in (3, 4)
        and decoded.shape[:2] == (height, width)
    ):
        samples: _SAMPLES = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB if decoded.shape[2] == 3 else cv2.COLOR_BGRA2RGBA)
        orientation = 1
        for kind, payload in zip(kinds, metadata, strict=False):
            if kind == cv2.IMAGE_METADATA_EXIF:
                orientation = _exif_bytes_orientation(np.asarray(payload, dtype=np.uint8).tobytes())
        return samples, 16, orientation
    if isinstance(decoded, np.ndarray):
        reason = f"unexpected decoded layout {decoded.dtype} {decoded.shape}"
    fh.seek(0)
    result = _read_with_pillow(fh, head, source, max_pixels)  # raises if the file is truncated or corrupt
    _log.warning("16-bit PNG %s read with 8-bit precision only (%s)", source, reason)
    return result


def _read_tiff(fh: BinaryIO, source: str, max_pixels: int | None) -> tuple[_SAMPLES, int, int]:
    """Read a TIFF with tifffile (16-bit and float RGB kept); hand anything it cannot do to Pillow."""
    import tifffile

    try:
        with tifffile.TiffFile(fh) as tif:
            page = tif.pages.first
            _check_size(int(page.imagewidth), int(page.imagelength), source, max_pixels)
            layout = _tiff_layout(page)
            if layout is not None:
                try:
                    data = page.asarray()
                except (KeyError, NotImplementedError):  # a codec tifffile lacks (LZW, JPEG): Pillow has it
                    pass
                except (ValueError, zlib.error, EOFError) as error:
                    if "imagecodecs" not in str(error):  # else: a codec only imagecodecs has; try Pillow
                        message = f"the image data is truncated or corrupt ({_reason(error)})"
                        raise InputImageError(f"cannot read image {source}: {message}") from error
                else:
                    tag = page.tags.get(274)
                    orientation = int(tag.value) if tag is not None else 1
                    samples, depth = _tiff_samples(data, page.axes, *layout)
                    return samples, depth, orientation
    except InputImageError:
        raise
    except Exception as error:  # tifffile refused the file: let Pillow try, it reports what is wrong
        _log.debug("tifffile could not read %s (%s); trying Pillow", source, _reason(error))
    fh.seek(0)
    head = fh.read(32)
    fh.seek(0)
    return _read_with_pillow(fh, head, source, max_pixels)


def _tiff_layout(page: tifffile.TiffPage) -> tuple[bool, str] | None:
    """(invert, alpha kind) for the TIFFs read with tifffile, None for those left to Pillow."""
    import tifffile

    photometric = int(page.photometric)
    samples = int(page.samplesperpixel)
    dtype = page.dtype
    if dtype is None or dtype.kind not in "uf" or int(page.imagedepth) > 1:
        return None
    if (dtype.kind == "u" and dtype.itemsize > 2) or dtype.itemsize > 8:
        return None
    if page.bitspersample != 8 * dtype.itemsize:  # e.g. 12-bit samples need imagecodecs to unpack
        return None
    # Codecs and predictors tifffile has without the optional imagecodecs package (zlib, no compression, ...).
    if int(page.compression) not in tifffile.TIFF.DECOMPRESSORS:
        return None
    if int(page.predictor) != 1 and int(page.predictor) not in tifffile.TIFF.UNPREDICTORS:
        return None
    if photometric in (0, 1) and samples in (1, 2):  # MINISWHITE, MINISBLACK
        color = 1
    elif photometric == 2 and samples in (3, 4):  # RGB
        color = 3
    else:  # palette, CMYK, YCbCr, Lab, ...: Pillow converts these
        return None
    extra = tuple(int(kind) for kind in page.extrasamples)
    alpha = ""
    if samples > color and extra:
        alpha = {1: "premultiplied", 2: "straight"}.get(extra[0], "")
    return photometric == 0, alpha


def _tiff_samples(data: _SAMPLES, axes: str, invert: bool, alpha: str) -> tuple[_SAMPLES, int]:
    if "S" in axes and axes.index("S") < axes.index("Y"):  # planar: (S, H, W)
        data = np.moveaxis(data, 0, -1)
    if data.ndim == 2:
        data = data[..., None]
    if data.ndim != 3:
        raise ValueError(f"unexpected TIFF page shape {data.shape}")
    color = 1 if data.shape[2] <= 2 else 3
    if not alpha:
        data = data[..., :color]
    if data.dtype.kind == "f":
        data = np.nan_to_num(data.astype(np.float32), nan=0.0).clip(0.0, 1.0)
    depth = 8 if data.dtype == np.uint8 else 16
    if invert:
        top = 1.0 if data.dtype.kind == "f" else np.iinfo(data.dtype).max
        data = data.copy()
        data[..., :color] = top - data[..., :color]
    if alpha == "premultiplied":
        top = 1.0 if data.dtype.kind == "f" else float(np.iinfo(data.dtype).max)
        values = data.astype(np.float32) / top
        weight = values[..., color:]
        values[..., :color] = np.divide(
            values[..., :color], weight, out=np.zeros_like(values[..., :color]), where=weight > 0
        )
        data = values.clip(0.0, 1.0)
    return data, depth


def _exif_orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # broken EXIF: ignore it rather than refuse the image
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _exif_bytes_orientation(payload: bytes) -> int:
    """The orientation (1-8) in raw EXIF data (a PNG eXIf chunk); 1 if absent or unreadable."""
    exif = Image.Exif()
    try:
        with _strict_pillow():
            exif.load(payload)
            value = exif.get(0x0112, 1)
    except Exception:  # broken EXIF: ignore it rather than refuse the image
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _orient(array: _SAMPLES, orientation: int) -> _SAMPLES:
    """Apply an EXIF orientation (1-8) to an (H, W, ...) array, as ``ImageOps.exif_transpose`` does."""
    if orientation == 2:
        return array[:, ::-1]
    if orientation == 3:
        return array[::-1, ::-1]
    if orientation == 4:
        return array[::-1]
    if orientation == 5:
        return np.swapaxes(array, 0, 1)
    if orientation == 6:
        return np.rot90(array, k=-1)
    if orientation == 7:
        return np.swapaxes(array, 0, 1)[::-1, ::-1]
    if orientation == 8:
        return np.rot90(array, k=1)
    return array


def _finish(samples: _SAMPLES, depth: int, source: str, orientation: int = 1) -> LoadedImage:
    """(H, W, C) samples (C: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA) -> LoadedImage."""
    if samples.dtype.kind == "f":  # clip also copies: the tensors never share memory with the caller's array
        values = np.clip(samples.astype(np.float32, copy=False), 0.0, 1.0)
    else:
        values = samples.astype(np.float32) / np.float32(np.iinfo(samples.dtype).max)
    values = _orient(values, orientation)
    channels = values.shape[2]
    color = values[..., :1] if channels <= 2 else values[..., :3]
    if color.shape[2] == 1:
        color = np.repeat(color, 3, axis=2)
    rgb = torch.from_numpy(np.ascontiguousarray(color.transpose(2, 0, 1)))[None]
    alpha = None
    if channels in (2, 4):
        alpha = torch.from_numpy(np.ascontiguousarray(values[..., channels - 1]))[None, None]
    return LoadedImage(rgb=rgb, alpha=alpha, bit_depth=depth, source=source)


def _validate_array(array: npt.NDArray[Any], source: str) -> tuple[_SAMPLES, int]:
    if array.size == 0:
        raise InputImageError(f"{source}: the image is empty (shape {array.shape})")
    if array.ndim == 2:
        array = array[..., None]
    elif array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise InputImageError(f"{source}: expected shape HxW, HxWx3 or HxWx4 (channels last), got {array.shape}")
    return array, _check_values(array, source)


def _validate_tensor(tensor: torch.Tensor, source: str) -> tuple[_SAMPLES, int]:
    if tensor.numel() == 0:
        raise InputImageError(f"{source}: the image is empty (shape {tuple(tensor.shape)})")
    batched = tensor.detach()
    if batched.ndim == 2:
        batched = batched[None, None]
    elif batched.ndim == 3:
        batched = batched[None]
    shape = tuple(tensor.shape)
    if batched.ndim != 4 or batched.shape[1] not in (1, 3, 4):
        raise InputImageError(
            f"{source}: expected shape (H, W), (C, H, W) or (1, C, H, W) with C 1, 3 or 4, got {shape}"
        )
    if batched.shape[0] != 1:
        raise InputImageError(f"{source}: expected one image, got a batch of {batched.shape[0]} (shape {shape})")
    if batched.dtype.is_floating_point:
        batched = batched.float()
    elif batched.dtype not in (torch.uint8, torch.uint16):
        raise InputImageError(f"{source}: expected a float, uint8 or uint16 tensor, got {batched.dtype}")
    array = batched[0].permute(1, 2, 0).cpu().numpy()
    return array, _check_values(array, source)


def _check_values(array: _SAMPLES, source: str) -> int:
    """Bit depth of valid samples; InputImageError for a bad dtype, NaN/inf or floats outside [0, 1]."""
    if array.dtype == np.uint8:
        return 8
    if array.dtype == np.uint16:
        return 16
    if array.dtype.kind != "f":
        raise InputImageError(f"{source}: expected uint8, uint16 or float values, got dtype {array.dtype}")
    if not np.isfinite(array).all():
        raise InputImageError(f"{source}: the image contains NaN or infinite values")
    low, high = float(array.min()), float(array.max())
    if low < -_FLOAT_TOLERANCE or high > 1.0 + _FLOAT_TOLERANCE:
        raise InputImageError(
            f"{source}: float values must be in [0, 1], got {low:.4g} to {high:.4g} (divide 0-255 data by 255)"
        )
    return 16


# --------------------------------------------------------------------------------------------------- writing


def _output_format(path: Path) -> str:
    fmt = _SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise OutputError(
            f"cannot write {path}: unsupported file type {path.suffix or '(no suffix)'!r}; "
            f"use one of {', '.join(WRITE_SUFFIXES)}"
        )
    return fmt


def save_image(
    image: torch.Tensor,
    path: str | os.PathLike[str],
    *,
    alpha: torch.Tensor | None = None,
    bit_depth: int = 8,
    quality: int = 95,
    compress_level: int = 6,
) -> Path:
    """Write ``image`` ((1, 3, H, W) or (3, H, W), values clamped to [0, 1]) to ``path``; return the path.

    The suffix chooses the format: PNG, JPEG (.jpg/.jpeg), TIFF (.tif/.tiff), WebP or BMP. ``bit_depth=16``
    is for PNG and TIFF. ``alpha`` ((1, 1, H, W), (1, H, W) or (H, W)) is written as an RGBA file in PNG, TIFF
    and WebP; JPEG and BMP cannot hold it and it is dropped (the RGB is written as is, not composited).
    ``quality`` (1-100) is for JPEG (always 4:4:4 chroma) and WebP (100 means lossless); ``compress_level``
    (0-9) for 8-bit PNG (1 encodes several times faster than the default 6, into a larger file). Samples are
    rounded to the nearest level. The parent folder is created.

    >>> save_image(torch.rand(1, 3, 8, 8), "out/noise.png", bit_depth=16)   # doctest: +SKIP
    PosixPath('out/noise.png')
    """
    file = Path(path)
    fmt = _output_format(file)
    if bit_depth not in (8, 16) or isinstance(bit_depth, bool):
        raise ConfigError(f"bit_depth must be 8 or 16, got {bit_depth!r}")
    if bit_depth == 16 and fmt not in _SIXTEEN_BIT_FORMATS:
        raise ConfigError(f"bit_depth=16 needs a .png or .tif/.tiff file, not {file.suffix!r}")
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ConfigError(f"quality must be an integer from 1 to 100, got {quality!r}")
    if isinstance(compress_level, bool) or not isinstance(compress_level, int) or not 0 <= compress_level <= 9:
        raise ConfigError(f"compress_level must be an integer from 0 to 9, got {compress_level!r}")
    samples = _quantize(_rgba_samples(image, alpha), bit_depth)
    if fmt not in _ALPHA_FORMATS:
        samples = samples[..., :3]
    try:
        data = _encode(samples, fmt, quality, compress_level)
    except Exception as error:
        raise OutputError(f"cannot write {file}: {fmt} encoding failed ({_reason(error)})") from error
    _write_bytes(file, data)
    return file


def to_pil(image: torch.Tensor, alpha: torch.Tensor | None = None) -> Image.Image:
    """The first image of a batch as an 8-bit PIL image, RGBA if ``alpha`` is given.

    >>> to_pil(torch.zeros(1, 3, 4, 6)).size
    (6, 4)
    """
    if isinstance(image, torch.Tensor) and image.ndim == 4:
        image = image[:1]
    if isinstance(alpha, torch.Tensor) and alpha.ndim == 4:
        alpha = alpha[:1]
    return Image.fromarray(_quantize(_rgba_samples(image, alpha), 8))


def _rgba_samples(image: torch.Tensor, alpha: torch.Tensor | None) -> npt.NDArray[np.float32]:
    """Validated (H, W, 3 or 4) float32 samples in [0, 1] from an image tensor and an optional alpha."""
    if not isinstance(image, torch.Tensor):
        raise ConfigError(f"image must be a torch.Tensor, not {type(image).__name__}")
    if not image.dtype.is_floating_point:
        raise ConfigError(f"image must be a float tensor with values in [0, 1], got {image.dtype}")
    rgb = image.detach()
    if rgb.ndim == 4 and rgb.shape[0] == 1:
        rgb = rgb[0]
    if rgb.ndim != 3 or rgb.shape[0] != 3 or rgb.shape[1] == 0 or rgb.shape[2] == 0:
        raise ConfigError(
            f"image must be (1, 3, H, W) or (3, H, W) with H, W > 0, got {tuple(image.shape)}"
            + ("; save each image of a batch separately" if image.ndim == 4 and image.shape[0] > 1 else "")
        )
    height, width = int(rgb.shape[1]), int(rgb.shape[2])
    planes = [rgb.float()]
    if alpha is not None:
        if not isinstance(alpha, torch.Tensor):
            raise ConfigError(f"alpha must be a torch.Tensor or None, not {type(alpha).__name__}")
        if not alpha.dtype.is_floating_point:
            raise ConfigError(f"alpha must be a float tensor with values in [0, 1], got {alpha.dtype}")
        mask = alpha.detach().float()
        while mask.ndim > 2 and mask.shape[0] == 1:
            mask = mask[0]
        if tuple(mask.shape) != (height, width):
            raise ConfigError(f"alpha must be (1, 1, {height}, {width}) to match the image, got {tuple(alpha.shape)}")
        planes.append(mask[None])
    stacked = torch.cat([plane.cpu() for plane in planes])
    if torch.isnan(stacked).any():
        raise ConfigError("image or alpha contains NaN values")
    result: npt.NDArray[np.float32] = stacked.clamp(0.0, 1.0).permute(1, 2, 0).numpy()
    return result


def _quantize(samples: npt.NDArray[np.float32], bit_depth: int) -> _SAMPLES:
    top = 255.0 if bit_depth == 8 else 65535.0
    levels = np.rint(samples * np.float32(top))
    result: _SAMPLES = levels.astype(np.uint8 if bit_depth == 8 else np.uint16)
    return result


def _encode(samples: _SAMPLES, fmt: str, quality: int, compress_level: int = 6) -> bytes:
    if fmt == "TIFF":
        import tifffile

        buffer = BytesIO()
        extra = ("unassalpha",) if samples.shape[2] == 4 else None
        tifffile.imwrite(
            buffer,
            samples,
            photometric="rgb",
            extrasamples=extra,
            compression="zlib",
            predictor=True,
            metadata=None,
        )
        return buffer.getvalue()
    if fmt == "PNG" and samples.dtype == np.uint16:
        return _encode_png16(samples)
    options: dict[str, Any] = {}
    if fmt == "JPEG":
        options = {"quality": quality, "subsampling": 0}
    elif fmt == "WEBP":
        options = {"quality": quality, "lossless": quality == 100, "exact": True}
    elif fmt == "PNG":
        options = {"compress_level": compress_level}
    buffer = BytesIO()
    Image.fromarray(samples).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _write_bytes(file: Path, data: bytes) -> None:
    # Not fsynced: video work frames go through here, one per frame.
    write_atomically(file, lambda handle: handle.write(data), durable=False, reason=_reason)


def _encode_png16(samples: _SAMPLES) -> bytes:
    """A 16-bit RGB or RGBA PNG of (H, W, 3 or 4) uint16 samples, by OpenCV (libpng) with its default settings.

    Those are tuned for speed (Sub filter, zlib level 1): files come out about 2% larger than with zlib level 6 and
    adaptive filters, in a fifth of the time. The file has no metadata chunks (no EXIF).
    """
    import cv2

    code = cv2.COLOR_RGB2BGR if samples.shape[2] == 3 else cv2.COLOR_RGBA2BGRA
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(samples), code))
    if not ok:
        raise ValueError("OpenCV's PNG encoder failed")
    return encoded.tobytes()


def check_output_path(
    path: str | os.PathLike[str],
    *,
    inputs: Sequence[str | os.PathLike[str]] = (),
    overwrite: bool = False,
    suffixes: Sequence[str] | None = None,
) -> Path:
    """Check, before any long work, that an output file can be written; create its folder if missing.

    Raises :class:`OutputError` when the suffix is not one of ``suffixes`` (default: the image formats of
    :data:`WRITE_SUFFIXES`), the path is a directory
    or one of ``inputs``, the file exists and ``overwrite`` is false, or its folder cannot be made or written.

    >>> check_output_path("out/result.png", inputs=["content.jpg"])   # doctest: +SKIP
    PosixPath('out/result.png')
    """
    file = Path(path)
    if file.is_dir():
        raise OutputError(f"cannot write {file}: it is a directory; give a file name inside it")
    if suffixes is None:
        _output_format(file)
    elif file.suffix.lower() not in suffixes:
        raise OutputError(f"cannot write {file}: it needs one of the suffixes {', '.join(suffixes)}")
    for given in [inputs] if isinstance(inputs, (str, os.PathLike)) else inputs:
        if _same_file(file, Path(given)):
            raise OutputError(f"cannot write {file}: it is the input image {given}; choose another output")
    if file.exists() or file.is_symlink():
        if not overwrite:
            raise OutputError(f"cannot write {file}: the file already exists; pass --overwrite to replace it")
        if not os.access(file, os.W_OK):
            raise OutputError(f"cannot write {file}: the existing file is not writable")
    parent = file.parent
    if parent.exists() and not parent.is_dir():
        raise OutputError(f"cannot write {file}: {parent} is not a directory")
    if not parent.exists():
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            message = f"cannot create folder {parent} ({_reason(error)})"
            raise OutputError(f"cannot write {file}: {message}") from error
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {file}: the folder {parent} is not writable")
    return file


def _same_file(first: Path, second: Path) -> bool:
    try:
        if first.exists() and second.exists():
            return os.path.samefile(first, second)
        return os.path.normcase(first.resolve()) == os.path.normcase(second.resolve())
    except OSError:
        return False


# -------------------------------------------------------------------------------------------------- resizing


def resize_long_side(image: torch.Tensor, long_side: int) -> torch.Tensor:
    """Resize ``(B, C, H, W)`` so that ``max(H, W) == long_side``, keeping the aspect ratio.

    The short side is rounded to the nearest pixel (at least 1). Resampling as in :func:`resize_to`.
    Returns ``image`` itself if it already has that size.

    >>> resize_long_side(torch.rand(1, 3, 300, 200), 150).shape
    torch.Size([1, 3, 150, 100])
    """
    if isinstance(long_side, bool) or not isinstance(long_side, int) or long_side < 1:
        raise ConfigError(f"long_side must be a positive integer, got {long_side!r}")
    _check_batch(image)
    height, width = int(image.shape[-2]), int(image.shape[-1])
    if height >= width:
        size = long_side, max(1, round(width * long_side / height))
    else:
        size = max(1, round(height * long_side / width)), long_side
    return resize_to(image, size)


def resize_to(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize ``(B, C, H, W)`` to ``size`` = ``(height, width)``; values clamped to [0, 1].

    Bicubic, antialiased when a side shrinks (torch ``F.interpolate(..., antialias=True)``).
    Returns ``image`` itself if it already has that size.

    >>> resize_to(torch.rand(1, 3, 10, 10), (5, 20)).shape
    torch.Size([1, 3, 5, 20])
    """
    _check_batch(image)
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or any(isinstance(side, bool) or not isinstance(side, int) or side < 1 for side in size)
    ):
        raise ConfigError(f"size must be (height, width) with positive integers, got {size!r}")
    height, width = int(image.shape[-2]), int(image.shape[-1])
    if (height, width) == tuple(size):
        return image
    shrinking = size[0] < height or size[1] < width
    work = image if image.dtype in (torch.float32, torch.float64) else image.float()
    resized = F.interpolate(work, size=tuple(size), mode="bicubic", align_corners=False, antialias=shrinking)
    return resized.clamp(0.0, 1.0).to(image.dtype)


def _check_batch(image: torch.Tensor) -> None:
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or not image.dtype.is_floating_point:
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ConfigError(f"expected a float tensor (B, C, H, W), got {shape}")
    if image.shape[-2] == 0 or image.shape[-1] == 0:
        raise ConfigError(f"cannot resize an empty image of shape {tuple(image.shape)}")
