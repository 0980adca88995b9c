"""Tests for painterly.image.io: every format, colour mode and bad input, on tiny images made in tmp_path."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import png
import pytest
import tifffile
import torch
from PIL import Image, ImageFile, ImageOps

import painterly.image.io as io_module
from painterly.errors import ConfigError, InputImageError, OutputError
from painterly.image import (
    DEFAULT_MAX_PIXELS,
    READ_FORMATS,
    WRITE_SUFFIXES,
    LoadedImage,
    as_loaded_image,
    check_output_path,
    load_image,
    read_image,
    resize_long_side,
    resize_to,
    save_image,
    to_pil,
)

RUNNING_AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _random_rgb(height: int = 6, width: int = 9, seed: int = 0) -> torch.Tensor:
    """An 8-bit-exact random image (1, 3, H, W)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (1, 3, height, width), generator=generator).float() / 255


def _smooth_rgb(height: int = 16, width: int = 24) -> torch.Tensor:
    """A smooth image that lossy codecs keep well."""
    y = torch.linspace(0, 1, height)[:, None].expand(height, width)
    x = torch.linspace(0, 1, width)[None, :].expand(height, width)
    return torch.stack([x, y, (x + y) / 2])[None]


def _words(seed: int, shape: tuple[int, ...]) -> np.ndarray[Any, np.dtype[np.uint16]]:
    """Random uint16 samples that include values no 8-bit image can hold (e.g. 1000)."""
    values = np.random.default_rng(seed).integers(0, 65536, size=shape, dtype=np.uint16)
    values.flat[0], values.flat[1] = 1000, 65535
    return values


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    """A raw PNG chunk, for headers no encoder writes (zero-sized, no pixel data)."""
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _pypng_16(path: Path, words: np.ndarray[Any, np.dtype[np.uint16]], **options: Any) -> Path:
    """Write (H, W, C) samples (C: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA) as a 16-bit PNG with pypng."""
    height, width, channels = words.shape
    options = {"bitdepth": 16, **options}
    writer = png.Writer(width, height, greyscale=channels <= 2, alpha=channels in (2, 4), **options)
    with open(path, "wb") as fh:
        writer.write(fh, words.reshape(height, width * channels))
    return path


def _opencv_order(words: np.ndarray[Any, np.dtype[np.uint16]]) -> np.ndarray[Any, np.dtype[np.uint16]]:
    """RGB(A) samples in OpenCV's BGR(A) channel order (grey unchanged)."""
    order = {1: [0], 3: [2, 1, 0], 4: [2, 1, 0, 3]}[words.shape[2]]
    return np.ascontiguousarray(words[..., order])


def _assert_reads_as(path: Path, words: np.ndarray[Any, np.dtype[np.uint16]]) -> None:
    """read_image gives exactly these 16-bit samples, grey repeated into RGB, alpha when there are 2 or 4 channels."""
    channels = words.shape[2]
    loaded = read_image(path)
    assert loaded.bit_depth == 16
    color = 1 if channels <= 2 else 3
    rgb = np.rint(loaded.rgb[0].permute(1, 2, 0).numpy() * 65535).astype(np.uint16)
    np.testing.assert_array_equal(rgb, np.broadcast_to(words[..., :color], rgb.shape))
    if channels in (2, 4):
        assert loaded.alpha is not None
        np.testing.assert_array_equal(np.rint(loaded.alpha[0, 0].numpy() * 65535), words[..., -1])
    else:
        assert loaded.alpha is None


# ------------------------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif", ".tiff", ".webp"])
def test_lossless_formats_round_trip_exactly(tmp_path: Path, suffix: str) -> None:
    image = _random_rgb()
    path = save_image(image, tmp_path / f"a{suffix}", quality=100)  # WebP quality 100 is lossless
    loaded = read_image(path)
    assert loaded.rgb.dtype == torch.float32 and loaded.rgb.shape == (1, 3, 6, 9)
    assert loaded.alpha is None and loaded.bit_depth == 8 and loaded.source == str(path)
    assert torch.equal(loaded.rgb, image)


@pytest.mark.parametrize(("suffix", "tolerance"), [(".jpg", 0.02), (".jpeg", 0.02), (".webp", 0.03)])
def test_lossy_formats_round_trip_within_tolerance(tmp_path: Path, suffix: str, tolerance: float) -> None:
    image = _smooth_rgb()
    loaded = read_image(save_image(image, tmp_path / f"a{suffix}", quality=95))
    assert loaded.rgb.shape == image.shape
    assert (loaded.rgb - image).abs().mean() < tolerance


@pytest.mark.parametrize(("compression", "tolerance"), [("tiff_lzw", 0), ("packbits", 0), ("jpeg", 0.03)])
def test_tiff_codecs_tifffile_lacks_are_read_through_pillow(tmp_path: Path, compression: str, tolerance: float) -> None:
    image = _smooth_rgb()
    to_pil(image).save(tmp_path / "c.tif", compression=compression)
    loaded = read_image(tmp_path / "c.tif")
    assert loaded.bit_depth == 8 and (loaded.rgb - image).abs().mean() <= tolerance + 1 / 510


def test_suffix_is_case_insensitive_and_content_decides_the_reader(tmp_path: Path) -> None:
    image = _random_rgb()
    path = save_image(image, tmp_path / "A.PNG")
    with Image.open(path) as written:
        assert written.format == "PNG"
    disguised = tmp_path / "really_a_png.jpg"
    disguised.write_bytes(path.read_bytes())
    assert torch.equal(load_image(disguised), image)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("with_alpha", [False, True])
def test_16_bit_round_trip_keeps_full_precision(tmp_path: Path, suffix: str, with_alpha: bool) -> None:
    words = _words(1, (4, 5, 4 if with_alpha else 3))
    values = torch.from_numpy(words.astype(np.float32) / 65535).permute(2, 0, 1)[None]
    alpha = values[:, 3:] if with_alpha else None
    path = save_image(values[:, :3], tmp_path / f"deep{suffix}", alpha=alpha, bit_depth=16)
    if suffix == ".png":  # no metadata (EXIF, text, times) in the file
        assert [kind for kind, _ in png.Reader(filename=str(path)).chunks()] == [b"IHDR", b"IDAT", b"IEND"]
    loaded = read_image(path)
    assert loaded.bit_depth == 16
    back = np.rint(loaded.rgb[0].permute(1, 2, 0).numpy() * 65535).astype(np.uint16)
    np.testing.assert_array_equal(back, words[..., :3])
    assert back[0, 0, 0] == 1000
    if with_alpha:
        assert loaded.alpha is not None
        back_alpha = np.rint(loaded.alpha[0, 0].numpy() * 65535).astype(np.uint16)
        np.testing.assert_array_equal(back_alpha, words[..., 3])
    else:
        assert loaded.alpha is None


@pytest.mark.parametrize("interlace", [False, True])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_16_bit_png_reader_handles_every_colour_type(tmp_path: Path, channels: int, interlace: bool) -> None:
    words = _words(channels, (7, 5, channels))
    _assert_reads_as(_pypng_16(tmp_path / "deep.png", words, interlace=interlace), words)


@pytest.mark.parametrize("filter_name", ["NONE", "SUB", "UP", "AVG", "PAETH", "ALL_FILTERS"])
@pytest.mark.parametrize("channels", [1, 3, 4])  # OpenCV writes no grey+alpha PNG; pypng's use filter 0 only
def test_16_bit_png_reader_handles_every_filter(tmp_path: Path, filter_name: str, channels: int) -> None:
    words = _words(channels, (7, 5, channels))
    flag = getattr(
        cv2, f"IMWRITE_PNG_{filter_name}" if filter_name == "ALL_FILTERS" else f"IMWRITE_PNG_FILTER_{filter_name}"
    )
    ok, encoded = cv2.imencode(".png", _opencv_order(words), [cv2.IMWRITE_PNG_FILTER, flag])
    assert ok
    path = tmp_path / "deep.png"
    path.write_bytes(encoded.tobytes())
    _assert_reads_as(path, words)


def test_16_bit_png_colour_key_transparency_becomes_alpha(tmp_path: Path) -> None:
    words = _words(3, (3, 4, 3))
    words[1, 2] = (1000, 2000, 3000)
    path = _pypng_16(tmp_path / "key.png", words, transparent=(1000, 2000, 3000))  # a tRNS chunk
    loaded = read_image(path)
    assert loaded.bit_depth == 16 and loaded.alpha is not None
    expected = np.ones((3, 4), np.float32)
    expected[1, 2] = 0
    np.testing.assert_array_equal(loaded.alpha[0, 0].numpy(), expected)
    np.testing.assert_array_equal(np.rint(loaded.rgb[0].permute(1, 2, 0).numpy() * 65535), words)


def test_16_bit_grey_png_colour_key_transparency_becomes_alpha(tmp_path: Path) -> None:
    words = _words(5, (3, 4, 1))
    words[2, 3] = 1000
    loaded = read_image(_pypng_16(tmp_path / "grey_key.png", words, transparent=1000))
    assert loaded.bit_depth == 16 and loaded.alpha is not None
    expected = (words[..., 0] != 1000).astype(np.float32)
    np.testing.assert_array_equal(loaded.alpha[0, 0].numpy(), expected)
    np.testing.assert_array_equal(np.rint(loaded.rgb[0, 0].numpy() * 65535), words[..., 0])


@pytest.mark.parametrize("channels", [1, 3])
def test_16_bit_png_significant_bits_do_not_rescale_the_samples(tmp_path: Path, channels: int) -> None:
    twelve_bit = np.array([[0, 1, 2048, 4095]], np.uint16)[..., None].repeat(channels, axis=2)
    path = _pypng_16(tmp_path / "sbit.png", twelve_bit, bitdepth=12)  # pypng: 16-bit samples and an sBIT chunk
    assert b"sBIT" in [kind for kind, _ in png.Reader(filename=str(path)).chunks()]
    loaded = read_image(path)
    assert loaded.bit_depth == 16
    stored = [0, 16, 32776, 65535]  # pypng scales 12-bit values to 16 bits by bit replication: 2048 -> 0x8008
    np.testing.assert_array_equal(np.rint(loaded.rgb[0, :, 0].numpy() * 65535), [stored] * 3)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_16_bit_png_exif_orientation_is_applied(tmp_path: Path, orientation: int) -> None:
    words = _words(6, (2, 3, 3))
    exif = Image.Exif()
    exif[0x0112] = orientation
    payload = np.frombuffer(exif.tobytes()[6:], np.uint8)  # an eXIf chunk holds the TIFF data without "Exif\0\0"
    ok, encoded = cv2.imencodeWithMetadata(".png", _opencv_order(words), [cv2.IMAGE_METADATA_EXIF], [payload])
    assert ok
    path = tmp_path / "oriented16.png"
    path.write_bytes(encoded.tobytes())
    indices = Image.fromarray(np.arange(6, dtype=np.int32).reshape(2, 3), mode="I")
    indices.info["exif"] = exif.tobytes()
    moved = np.asarray(ImageOps.exif_transpose(indices))  # where Pillow moves each pixel
    loaded = read_image(path)
    back = np.rint(loaded.rgb[0].permute(1, 2, 0).numpy() * 65535)
    np.testing.assert_array_equal(back, words.reshape(6, 3)[moved])


def test_16_bit_tiff_float_and_planar_layouts(tmp_path: Path) -> None:
    words = _words(4, (3, 5, 3))
    planes = np.moveaxis(words, -1, 0)
    tifffile.imwrite(tmp_path / "planar.tif", planes, photometric="rgb", planarconfig="separate")
    loaded = read_image(tmp_path / "planar.tif")
    np.testing.assert_array_equal(np.rint(loaded.rgb[0].permute(1, 2, 0).numpy() * 65535), words)
    floats = np.linspace(-0.5, 1.5, 15, dtype=np.float32).reshape(3, 5)
    tifffile.imwrite(tmp_path / "float.tif", floats, photometric="minisblack")
    loaded = read_image(tmp_path / "float.tif")
    assert loaded.bit_depth == 16
    np.testing.assert_allclose(loaded.rgb[0, 1].numpy(), floats.clip(0, 1))  # out-of-range file values clamp


def test_gray_tiff_miniswhite_and_premultiplied_alpha(tmp_path: Path) -> None:
    gray = np.array([[0, 100, 255]], np.uint8)
    tifffile.imwrite(tmp_path / "white.tif", gray, photometric="miniswhite")
    assert read_image(tmp_path / "white.tif").rgb[0, 0, 0].tolist() == pytest.approx([1, 155 / 255, 0])
    rgba = np.array([[[100, 50, 0, 200], [0, 0, 0, 0]]], np.uint8)
    tifffile.imwrite(tmp_path / "assoc.tif", rgba, photometric="rgb", extrasamples=["assocalpha"])
    loaded = read_image(tmp_path / "assoc.tif")
    assert loaded.alpha is not None
    assert loaded.rgb[0, :, 0, 0].tolist() == pytest.approx([0.5, 0.25, 0.0])  # un-premultiplied
    assert loaded.alpha[0, 0, 0].tolist() == pytest.approx([200 / 255, 0.0])


# ------------------------------------------------------------------------------------------- modes and EXIF


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow_exif_transpose(tmp_path: Path, orientation: int) -> None:
    pixels = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10
    image = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "oriented.png"
    image.save(path, exif=exif)
    with Image.open(path) as written:
        expected = np.asarray(ImageOps.exif_transpose(written).convert("RGB"))
    loaded = read_image(path)
    np.testing.assert_array_equal(np.rint(loaded.rgb[0].permute(1, 2, 0).numpy() * 255), expected)


def test_jpeg_with_orientation_6_is_rotated_clockwise(tmp_path: Path) -> None:
    pixels = np.zeros((20, 40, 3), np.uint8)  # landscape, red block top-left
    pixels[:8, :8] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    loaded = read_image(path)
    assert loaded.rgb.shape == (1, 3, 40, 20) and loaded.size == (20, 40)
    assert loaded.rgb[0, 0, :6, -6:].mean() > 0.9  # top-left went to top-right
    assert loaded.rgb[0, 0, :6, :6].mean() < 0.1


def test_palette_with_transparency_gives_alpha(tmp_path: Path) -> None:
    indices = np.array([[0, 1], [2, 1]], np.uint8)
    image = Image.fromarray(indices, mode="P")
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255])
    image.save(tmp_path / "p.png", transparency=1)
    loaded = read_image(tmp_path / "p.png")
    assert loaded.alpha is not None and loaded.bit_depth == 8
    assert loaded.alpha[0, 0].tolist() == [[1, 0], [1, 0]]
    assert loaded.rgb[0, :, 0, 0].tolist() == [1, 0, 0] and loaded.rgb[0, :, 1, 0].tolist() == [0, 0, 1]
    image.save(tmp_path / "opaque.png")
    assert read_image(tmp_path / "opaque.png").alpha is None


def test_gif_reads_the_first_frame_with_transparency(tmp_path: Path) -> None:
    frames = [Image.new("P", (4, 3), 0) for _ in range(2)]
    for frame in frames:
        frame.putpalette([255, 0, 0, 0, 0, 255])
    frames[1].paste(1, (0, 0, 4, 3))
    frames[0].putpixel((0, 0), 1)
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], transparency=1)
    loaded = read_image(tmp_path / "anim.gif")
    assert loaded.rgb.shape == (1, 3, 3, 4) and loaded.alpha is not None
    assert loaded.rgb[0, :, 1, 1].tolist() == [1, 0, 0]  # frame 0 is red, frame 1 blue
    assert loaded.alpha[0, 0, 0, 0] == 0 and loaded.alpha[0, 0, 1, 1] == 1


def test_grayscale_8_and_16_bit_become_three_equal_channels(tmp_path: Path) -> None:
    gray8 = np.array([[0, 128, 255]], np.uint8)
    Image.fromarray(gray8).save(tmp_path / "g8.png")
    loaded = read_image(tmp_path / "g8.png")
    assert loaded.bit_depth == 8 and loaded.alpha is None
    assert torch.equal(loaded.rgb[0, 0], loaded.rgb[0, 2]) and loaded.rgb[0, 1, 0, 1] == 128 / 255
    gray16 = np.array([[0, 1000, 65535]], np.uint16)
    Image.fromarray(gray16).save(tmp_path / "g16.png")  # Pillow writes mode I;16 as 16-bit gray
    loaded = read_image(tmp_path / "g16.png")
    assert loaded.bit_depth == 16 and torch.equal(loaded.rgb[0, 0], loaded.rgb[0, 1])
    assert round(float(loaded.rgb[0, 2, 0, 1]) * 65535) == 1000
    tifffile.imwrite(tmp_path / "g16.tif", gray16)
    assert round(float(read_image(tmp_path / "g16.tif").rgb[0, 0, 0, 1]) * 65535) == 1000


@pytest.mark.parametrize("suffix", [".jpg", ".tif"])
def test_cmyk_is_converted_to_rgb(tmp_path: Path, suffix: str) -> None:
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red
    cmyk.save(tmp_path / f"cmyk{suffix}")
    loaded = read_image(tmp_path / f"cmyk{suffix}")
    assert loaded.rgb.shape == (1, 3, 8, 8) and loaded.alpha is None
    assert loaded.rgb[0, :, 4, 4].tolist() == pytest.approx([1, 0, 0], abs=0.03)


@pytest.mark.parametrize("mode", ["LA", "RGBA", "PA", "La", "RGBa"])
def test_alpha_modes_keep_their_alpha(tmp_path: Path, mode: str) -> None:
    image = Image.new(mode, (3, 2))
    image.putpixel((1, 1), (0, 200) if mode in ("LA", "La", "PA") else (10, 20, 30, 200))
    if mode in ("LA", "RGBA"):
        image.save(tmp_path / "a.png")
        loaded = read_image(tmp_path / "a.png")
    else:  # modes no file format stores
        loaded = as_loaded_image(image)
    assert loaded.alpha is not None
    assert float(loaded.alpha[0, 0, 1, 1]) == pytest.approx(200 / 255)
    assert float(loaded.alpha[0, 0, 0, 0]) == 0


@pytest.mark.parametrize(
    ("suffix", "mode"),
    [(".png", "RGBA"), (".tif", "RGBA"), (".webp", "RGBA"), (".jpg", "RGB"), (".bmp", "RGB")],
)
def test_save_reapplies_alpha_where_the_format_has_it(tmp_path: Path, suffix: str, mode: str) -> None:
    image = _random_rgb(4, 4)
    alpha = torch.zeros(1, 1, 4, 4)
    alpha[..., :2, :] = 1
    path = save_image(image, tmp_path / f"a{suffix}", alpha=alpha, quality=100)
    with Image.open(path) as written:
        assert written.mode == mode
    loaded = read_image(path)
    if mode == "RGBA":
        assert loaded.alpha is not None and torch.equal(loaded.alpha, alpha)
        assert torch.equal(loaded.rgb, image)  # RGB under transparent pixels kept
    else:
        assert loaded.alpha is None


def test_save_rounds_and_clamps(tmp_path: Path) -> None:
    image = torch.tensor([10.4, 10.6, -3.0, 300.0]).reshape(1, 1, 1, 4).expand(1, 3, 1, 4) / 255
    loaded = read_image(save_image(image, tmp_path / "r.png"))
    assert (loaded.rgb[0, 0, 0] * 255).round().tolist() == [10, 11, 0, 255]


def test_save_accepts_unbatched_and_creates_parent(tmp_path: Path) -> None:
    path = save_image(_random_rgb()[0], tmp_path / "new" / "deeper" / "x.png")
    assert path == tmp_path / "new" / "deeper" / "x.png" and path.is_file()


# ------------------------------------------------------------------------------------------------- bad inputs


def _assert_input_error(path: Path, fragment: str, **kwargs: Any) -> InputImageError:
    with pytest.raises(InputImageError) as caught:
        read_image(path, **kwargs)
    message = str(caught.value)
    assert fragment in message and str(path) in message and "\n" not in message
    return caught.value


def test_missing_file(tmp_path: Path) -> None:
    _assert_input_error(tmp_path / "nope.png", "no such file")


def test_directory(tmp_path: Path) -> None:
    _assert_input_error(tmp_path, "is a directory")


def test_text_file_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("hello, this is not a picture\n" * 3)
    _assert_input_error(path, "not an image")


def test_text_file_with_tiff_magic_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "fake.tif"
    path.write_bytes(b"II*\x00" + b"garbage" * 10)
    _assert_input_error(path, "not an image")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.touch()
    _assert_input_error(path, "empty (0 bytes)")


def test_zero_sized_image(tmp_path: Path) -> None:
    header = struct.pack(">IIBBBBB", 0, 5, 8, 2, 0, 0, 0)
    chunks = _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(b"")) + _png_chunk(b"IEND", b"")
    data = b"\x89PNG\r\n\x1a\n" + chunks
    path = tmp_path / "zero.png"
    path.write_bytes(data)
    _assert_input_error(path, "empty (0x5 pixels)")


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", ".webp", ".bmp", ".gif"])
@pytest.mark.parametrize("lenient_pillow", [False, True])
def test_truncated_files_are_detected(tmp_path: Path, suffix: str, lenient_pillow: bool) -> None:
    full = save_image(_random_rgb(32, 32), tmp_path / f"full{suffix}") if suffix != ".gif" else None
    if full is None:
        full = tmp_path / "full.gif"
        to_pil(_random_rgb(32, 32)).save(full)
    data = full.read_bytes()
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data[: len(data) // 2])
    saved = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = lenient_pillow  # a user's global setting must not hide truncation
    try:
        error = _assert_input_error(path, "truncated")
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES, restored = saved, ImageFile.LOAD_TRUNCATED_IMAGES
    assert restored is lenient_pillow
    assert error.exit_code == 3


@pytest.mark.parametrize("with_alpha", [False, True])
def test_truncated_and_corrupt_16_bit_png(tmp_path: Path, with_alpha: bool, caplog: pytest.LogCaptureFixture) -> None:
    image = _random_rgb(32, 32)
    alpha = torch.rand(1, 1, 32, 32) if with_alpha else None
    data = save_image(image, tmp_path / "full.png", alpha=alpha, bit_depth=16).read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(data[: len(data) // 2])
    assert _assert_input_error(cut, "truncated").exit_code == 3
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(data[:60] + bytes([data[60] ^ 0xFF]) + data[61:])  # inside IDAT: the CRC no longer matches
    _assert_input_error(corrupt, "corrupt")
    no_end = tmp_path / "no_end.png"  # all pixel data but no IEND chunk: libpng refuses it, Pillow reads it
    no_end.write_bytes(data[:-12])
    with caplog.at_level("WARNING", logger="painterly.image.io"):
        loaded = read_image(no_end)
    assert loaded.bit_depth == 8 and "8-bit precision" in caplog.text
    assert (loaded.rgb - image).abs().max() <= 1 / 255 and (loaded.alpha is not None) == with_alpha


def test_16_bit_png_colour_key_survives_the_8_bit_fallback(tmp_path: Path) -> None:
    words = np.full((2, 3, 3), 0x1234, np.uint16)
    words[1, 2] = (0x0A00, 0x0B00, 0x0C00)
    data = _pypng_16(tmp_path / "key.png", words, transparent=(0x0A00, 0x0B00, 0x0C00)).read_bytes()
    no_end = tmp_path / "no_end.png"
    no_end.write_bytes(data[:-12])  # OpenCV refuses it, Pillow decodes the high bytes
    loaded = read_image(no_end)
    assert loaded.bit_depth == 8 and loaded.alpha is not None
    assert loaded.alpha[0, 0].tolist() == [[1, 1, 1], [1, 1, 0]]  # the key compared with the high bytes
    assert loaded.rgb[0, :, 1, 2].tolist() == pytest.approx([10 / 255, 11 / 255, 12 / 255])


def test_corrupt_png_data(tmp_path: Path) -> None:
    path = save_image(_random_rgb(), tmp_path / "ok.png")
    data = bytearray(path.read_bytes())
    data[45] ^= 0xFF  # inside IDAT: the CRC no longer matches
    path.write_bytes(bytes(data))
    _assert_input_error(path, "corrupt")


def test_pixel_cap_is_checked_from_the_header(tmp_path: Path) -> None:
    header = struct.pack(">IIBBBBB", 20_000, 20_000, 8, 2, 0, 0, 0)  # 400 Mpx claimed, no pixel data
    path = tmp_path / "bomb.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IEND", b""))
    error = _assert_input_error(path, "--max-pixels")
    assert "400,000,000 pixels" in str(error) and f"{DEFAULT_MAX_PIXELS:,}" in str(error)
    small = save_image(_random_rgb(10, 10), tmp_path / "small.tif")
    _assert_input_error(small, "above the limit of 99", max_pixels=99)
    assert read_image(small, max_pixels=100).size == (10, 10)


def test_pillow_bomb_limit_does_not_override_ours(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_image(_random_rgb(10, 10), tmp_path / "a.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # Pillow alone would raise DecompressionBombError
    assert read_image(path, max_pixels=None).size == (10, 10)
    assert Image.MAX_IMAGE_PIXELS == 10
    _assert_input_error(path, "100 pixels", max_pixels=50)


def test_bad_max_pixels_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="max_pixels"):
        read_image(tmp_path / "a.png", max_pixels=0)


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_image(_random_rgb(), tmp_path / "secret.png")
    if RUNNING_AS_ROOT:  # root reads anything: simulate the OS refusing

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(io_module, "open", refuse, raising=False)
    else:
        path.chmod(0)
    try:
        _assert_input_error(path, "permission denied")
    finally:
        path.chmod(0o644)


# ------------------------------------------------------------------------------------------ check_output_path


def test_check_output_path_accepts_and_creates_the_folder(tmp_path: Path) -> None:
    target = tmp_path / "results" / "out.png"
    assert check_output_path(target, inputs=[tmp_path / "in.png"]) == target
    assert target.parent.is_dir() and not target.exists()


def test_check_output_path_refuses_an_input(tmp_path: Path) -> None:
    source = save_image(_random_rgb(), tmp_path / "in.png")
    link = tmp_path / "link.png"
    link.symlink_to(source)
    for spelling in (source, tmp_path / "sub" / ".." / "in.png", link):
        (tmp_path / "sub").mkdir(exist_ok=True)
        with pytest.raises(OutputError, match="input image"):
            check_output_path(spelling, inputs=["x.jpg", source], overwrite=True)


def test_check_output_path_existing_file_needs_overwrite(tmp_path: Path) -> None:
    existing = save_image(_random_rgb(), tmp_path / "out.png")
    with pytest.raises(OutputError, match="--overwrite"):
        check_output_path(existing)
    assert check_output_path(existing, overwrite=True) == existing


def test_check_output_path_bad_suffix_lists_supported(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"\.gif.*\.png, \.jpg"):
        check_output_path(tmp_path / "out.gif")
    with pytest.raises(OutputError, match="no suffix"):
        check_output_path(tmp_path / "out")


def test_check_output_path_directory_and_file_parent(tmp_path: Path) -> None:
    folder = tmp_path / "folder.png"
    folder.mkdir()
    with pytest.raises(OutputError, match="is a directory"):
        check_output_path(folder)
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="not a directory"):
        check_output_path(blocker / "out.png")
    with pytest.raises(OutputError, match="cannot create folder"):
        check_output_path(blocker / "sub" / "out.png")


@pytest.mark.skipif(RUNNING_AS_ROOT, reason="root can write anywhere")
def test_check_output_path_unwritable_folder(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="not writable"):
            check_output_path(locked / "out.png")
    finally:
        locked.chmod(0o700)


# ------------------------------------------------------------------------------------------ save_image errors


def test_save_errors(tmp_path: Path) -> None:
    image = _random_rgb()
    with pytest.raises(OutputError, match=r"\.png, \.jpg, \.jpeg, \.tif, \.tiff, \.webp, \.bmp"):
        save_image(image, tmp_path / "a.xyz")
    with pytest.raises(ConfigError, match="bit_depth=16"):
        save_image(image, tmp_path / "a.jpg", bit_depth=16)
    with pytest.raises(ConfigError, match="8 or 16"):
        save_image(image, tmp_path / "a.png", bit_depth=12)
    with pytest.raises(ConfigError, match="quality"):
        save_image(image, tmp_path / "a.jpg", quality=0)
    with pytest.raises(ConfigError, match="batch"):
        save_image(torch.rand(2, 3, 4, 4), tmp_path / "a.png")
    with pytest.raises(ConfigError, match="alpha must be"):
        save_image(image, tmp_path / "a.png", alpha=torch.ones(1, 1, 2, 2))
    with pytest.raises(ConfigError, match="float tensor"):
        save_image(torch.zeros(1, 3, 2, 2, dtype=torch.uint8), tmp_path / "a.png")
    with pytest.raises(ConfigError, match="NaN"):
        save_image(torch.full((1, 3, 2, 2), float("nan")), tmp_path / "a.png")
    assert not list(tmp_path.iterdir())


def test_save_to_unwritable_location_names_path_and_reason(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    target = blocker / "out.png"
    with pytest.raises(OutputError) as caught:
        save_image(_random_rgb(), target)
    message = str(caught.value)
    assert str(target) in message and ("Not a directory" in message or "File exists" in message)
    assert "\n" not in message


# -------------------------------------------------------------------------------------------- as_loaded_image


def test_as_loaded_image_paths_and_pil_images(tmp_path: Path) -> None:
    path = save_image(_random_rgb(), tmp_path / "a.png")
    assert torch.equal(as_loaded_image(path).rgb, as_loaded_image(str(path)).rgb)
    for mode in ["RGB", "L", "RGBA", "LA", "P", "1", "CMYK", "I;16", "I", "F", "YCbCr"]:
        loaded = as_loaded_image(Image.new(mode, (5, 3)))
        assert loaded.rgb.shape == (1, 3, 3, 5) and loaded.source == "<PIL image>", mode
        assert (loaded.alpha is not None) == (mode in ("RGBA", "LA")), mode
    assert as_loaded_image(Image.new("I;16", (2, 2), 1000)).bit_depth == 16
    assert as_loaded_image(Image.new("F", (2, 2), 0.25)).rgb.flatten().tolist() == [0.25] * 12


def test_as_loaded_image_numpy_arrays() -> None:
    gray = as_loaded_image(np.array([[0, 255]], np.uint8))
    assert gray.rgb.shape == (1, 3, 1, 2) and gray.bit_depth == 8 and gray.source == "<numpy array>"
    deep = as_loaded_image(np.full((2, 3, 3), 1000, np.uint16))
    assert deep.bit_depth == 16 and round(float(deep.rgb[0, 0, 0, 0]) * 65535) == 1000
    rgba = as_loaded_image(np.full((2, 3, 4), 0.5, np.float64))
    assert rgba.alpha is not None and rgba.alpha.shape == (1, 1, 2, 3) and rgba.rgb.dtype == torch.float32
    assert as_loaded_image(np.zeros((2, 3, 1), np.float32)).alpha is None
    source = np.full((2, 2), 1.000001, np.float32)  # a rounding error above 1 is tolerated and clamped
    loaded = as_loaded_image(source)
    assert float(loaded.rgb.max()) == 1.0
    source[:] = 0.5
    assert float(loaded.rgb.max()) == 1.0  # no memory shared with the caller's array


@pytest.mark.parametrize(
    ("array", "fragment"),
    [
        (np.zeros(5, np.uint8), "expected shape"),
        (np.zeros((1, 2, 3, 3), np.uint8), "expected shape"),
        (np.zeros((2, 3, 2), np.uint8), "expected shape"),
        (np.zeros((3, 8, 8), np.uint8), "channels last"),
        (np.zeros((0, 4, 3), np.uint8), "empty"),
        (np.full((2, 2), np.nan, np.float32), "NaN"),
        (np.full((2, 2), 255.0), "must be in [0, 1]"),
        (np.zeros((2, 2), np.int64), "dtype int64"),
    ],
)
def test_as_loaded_image_rejects_bad_arrays(array: np.ndarray[Any, Any], fragment: str) -> None:
    with pytest.raises(InputImageError, match=None) as caught:
        as_loaded_image(array)
    assert fragment in str(caught.value)


def test_as_loaded_image_tensors() -> None:
    image = _random_rgb(4, 5)
    for tensor in (image, image[0]):
        loaded = as_loaded_image(tensor)
        assert torch.equal(loaded.rgb, image) and loaded.alpha is None and loaded.bit_depth == 16
    for gray in (torch.rand(4, 5), torch.rand(1, 1, 4, 5), torch.rand(1, 4, 5)):
        loaded = as_loaded_image(gray)
        assert loaded.rgb.shape == (1, 3, 4, 5) and torch.equal(loaded.rgb[0, 0], loaded.rgb[0, 2])
    rgba = as_loaded_image(torch.rand(4, 4, 5, requires_grad=True))
    assert rgba.alpha is not None and rgba.alpha.shape == (1, 1, 4, 5) and not rgba.rgb.requires_grad
    as_bytes = as_loaded_image(torch.full((3, 2, 2), 255, dtype=torch.uint8))
    assert as_bytes.bit_depth == 8 and as_bytes.rgb.min() == 1


@pytest.mark.parametrize(
    ("tensor", "fragment"),
    [
        (torch.rand(2, 3, 4, 4), "batch of 2"),
        (torch.rand(2, 4, 4), "expected shape"),
        (torch.rand(1, 1, 1, 3, 4, 4), "expected shape"),
        (torch.rand(3, 0, 4), "empty"),
        (torch.full((3, 2, 2), float("nan")), "NaN"),
        (torch.full((3, 2, 2), -0.5), "must be in [0, 1]"),
        (torch.zeros(3, 2, 2, dtype=torch.int32), "torch.int32"),
    ],
)
def test_as_loaded_image_rejects_bad_tensors(tensor: torch.Tensor, fragment: str) -> None:
    with pytest.raises(InputImageError) as caught:
        as_loaded_image(tensor)
    assert fragment in str(caught.value)


def test_as_loaded_image_other_types_and_cap() -> None:
    with pytest.raises(ConfigError, match="not list"):
        as_loaded_image([[0.0, 1.0]])  # type: ignore[arg-type]
    with pytest.raises(InputImageError, match="--max-pixels"):
        as_loaded_image(np.zeros((10, 10)), max_pixels=99)
    with pytest.raises(InputImageError, match="--max-pixels"):
        as_loaded_image(Image.new("RGB", (10, 10)), max_pixels=99)


# ------------------------------------------------------------------------------------------ resizing, to_pil


@pytest.mark.parametrize(
    ("shape", "long_side", "expected"),
    [
        ((32, 48), 24, (16, 24)),  # landscape
        ((48, 32), 24, (24, 16)),  # portrait
        ((7, 3), 5, (5, 2)),  # odd: 3 * 5 / 7 = 2.14
        ((3, 7), 11, (5, 11)),  # enlarging, 3 * 11 / 7 = 4.71
        ((1, 100), 10, (1, 10)),  # the short side never drops to 0
        ((9, 9), 4, (4, 4)),
    ],
)
def test_resize_long_side_shapes(shape: tuple[int, int], long_side: int, expected: tuple[int, int]) -> None:
    resized = resize_long_side(torch.rand(2, 3, *shape), long_side)
    assert resized.shape == (2, 3, *expected) and resized.dtype == torch.float32
    assert float(resized.min()) >= 0 and float(resized.max()) <= 1


def test_resize_returns_same_tensor_when_size_matches() -> None:
    image = torch.rand(1, 3, 10, 6)
    assert resize_long_side(image, 10) is image and resize_to(image, (10, 6)) is image


def test_resize_antialiases_when_shrinking_and_clamps_when_enlarging() -> None:
    checker = (torch.arange(64)[:, None] + torch.arange(64)[None, :]) % 2
    small = resize_long_side(checker.float().expand(1, 3, 64, 64), 8)
    assert small.std() < 0.05 and abs(float(small.mean()) - 0.5) < 0.05  # no aliasing
    step = torch.zeros(1, 1, 4, 4)
    step[..., 2:] = 1
    large = resize_to(step, (4, 16))
    assert large.shape == (1, 1, 4, 16) and large.min() == 0 and large.max() == 1  # bicubic overshoot clamped
    assert resize_to(torch.rand(1, 3, 8, 8, dtype=torch.float64), (4, 4)).dtype == torch.float64


def test_resize_errors() -> None:
    with pytest.raises(ConfigError, match="long_side"):
        resize_long_side(torch.rand(1, 3, 4, 4), 0)
    with pytest.raises(ConfigError, match="B, C, H, W"):
        resize_long_side(torch.rand(3, 4, 4), 2)
    with pytest.raises(ConfigError, match="size"):
        resize_to(torch.rand(1, 3, 4, 4), (0, 3))


def test_to_pil_takes_first_batch_item_and_alpha() -> None:
    batch = torch.zeros(2, 3, 4, 6)
    batch[0, 0] = 1
    picture = to_pil(batch)
    assert picture.mode == "RGB" and picture.size == (6, 4) and picture.getpixel((0, 0)) == (255, 0, 0)
    with_alpha = to_pil(batch, alpha=torch.full((2, 1, 4, 6), 0.5))
    assert with_alpha.mode == "RGBA" and with_alpha.getpixel((0, 0)) == (255, 0, 0, 128)


def test_loaded_image_and_constants(tmp_path: Path) -> None:
    loaded = as_loaded_image(torch.rand(3, 4, 7))
    assert isinstance(loaded, LoadedImage) and loaded.size == (7, 4)
    with pytest.raises(AttributeError):
        loaded.bit_depth = 8  # type: ignore[misc]
    assert "TIFF" in READ_FORMATS and ".png" in WRITE_SUFFIXES and DEFAULT_MAX_PIXELS == 64_000_000
    assert load_image(save_image(_random_rgb(), tmp_path / "a.png")).shape == (1, 3, 6, 9)


def test_png_compress_level_changes_the_file_not_the_pixels(tmp_path: Path) -> None:
    image = torch.rand(1, 3, 40, 56)
    fast = save_image(image, tmp_path / "fast.png", compress_level=1)
    small = save_image(image, tmp_path / "small.png", compress_level=9)
    assert fast.read_bytes() != small.read_bytes()
    assert torch.equal(load_image(fast), load_image(small))
    for bad in (-1, 10, 1.5, True):
        with pytest.raises(ConfigError, match="compress_level must be an integer from 0 to 9"):
            save_image(image, tmp_path / "bad.png", compress_level=bad)  # type: ignore[arg-type]
