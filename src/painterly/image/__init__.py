"""Image input/output and resizing in the project's tensor convention ((B, 3, H, W) float32 RGB in [0, 1])."""

from painterly.image.io import (
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
