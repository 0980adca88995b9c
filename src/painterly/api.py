"""The Python API: ``painterly.stylize(content, style, **options)``.

>>> import painterly
>>> picture = painterly.stylize("photo.jpg", "painting.jpg", size=512, strength=0.6)  # doctest: +SKIP
>>> picture.save("out.png")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, cast

import numpy as np
import torch
from PIL import Image

from .config import INIT_KINDS, GatysConfig
from .encoders.vgg import VGGEncoder
from .errors import ConfigError
from .image.color import luminance
from .image.io import DEFAULT_MAX_PIXELS, LoadedImage, as_loaded_image, resize_to, to_pil
from .methods.gatys import GatysResult, GatysTransfer, ProgressCallback
from .methods.registry import get_method

ImageInput: TypeAlias = str | os.PathLike[str] | Image.Image | np.ndarray | torch.Tensor


@dataclass(frozen=True)
class TransferInputs:
    """Everything a run reads, loaded into the tensor convention."""

    content: LoadedImage
    styles: list[LoadedImage]
    masks: list[torch.Tensor] | None
    init_image: torch.Tensor | None


def load_inputs(
    content: ImageInput,
    styles: Sequence[ImageInput],
    *,
    config: GatysConfig,
    masks: Sequence[ImageInput] | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> TransferInputs:
    """Load content, styles, masks (grey levels: white = that style) and an init image named in ``config.init``."""
    if not styles:
        raise ConfigError("at least one style image is needed")
    loaded_content = as_loaded_image(content, max_pixels=max_pixels)
    loaded_styles = [as_loaded_image(style, max_pixels=max_pixels) for style in styles]
    loaded_masks = load_masks(masks, len(styles), max_pixels=max_pixels)
    init_image = None
    if config.init not in INIT_KINDS:
        init_image = as_loaded_image(config.init, max_pixels=max_pixels).rgb
    return TransferInputs(loaded_content, loaded_styles, loaded_masks, init_image)


def load_masks(
    masks: Sequence[ImageInput] | None, count: int, *, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> list[torch.Tensor] | None:
    """One grey (1, 1, H, W) mask per style (white = that style), or None when no masks are given."""
    if not masks:
        return None
    if len(masks) != count:
        raise ConfigError(f"got {len(masks)} mask(s) for {count} style image(s): give one mask per style")
    return [luminance(as_loaded_image(mask, max_pixels=max_pixels).rgb) for mask in masks]


def run_transfer(
    inputs: TransferInputs,
    config: GatysConfig,
    *,
    progress: ProgressCallback | None = None,
    encoder: VGGEncoder | None = None,
) -> GatysResult:
    """Run the optimisation on loaded inputs; the content's alpha is not applied here (see :func:`output_alpha`)."""
    transfer = GatysTransfer(config, encoder=encoder)
    return transfer.run(
        inputs.content.rgb,
        [style.rgb for style in inputs.styles],
        masks=inputs.masks,
        init_image=inputs.init_image,
        progress=progress,
    )


def output_alpha(content: LoadedImage, image: torch.Tensor) -> torch.Tensor | None:
    """The content's alpha channel resized to the output, or None when the content had none."""
    if content.alpha is None:
        return None
    return resize_to(content.alpha, (image.shape[-2], image.shape[-1])).clamp(0, 1)


def stylize(
    content: ImageInput,
    style: ImageInput | Sequence[ImageInput] | str | Mapping[str, float],
    *,
    method: str = "gatys",
    config: Any = None,
    masks: Sequence[ImageInput] | None = None,
    progress: ProgressCallback | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    **options: Any,
) -> Any:
    """Stylise ``content`` with one or several ``style`` images (or presets) and return the result.

    Inputs may be paths, PIL images, numpy arrays (H, W[, C]) or tensors ((1,)3, H, W). ``method`` is one of
    :func:`painterly.list_methods` (``gatys`` by default); ``options`` are the fields of that method's options
    dataclass (for ``gatys`` :class:`GatysConfig`: ``size``, ``iterations``, ``strength``, ``style_blend``, ``color``,
    ...; for ``preset`` :class:`~painterly.methods.stylizer.StylizeOptions`; for ``adain``
    :class:`~painterly.methods.arbitrary.ArbitraryOptions`), applied on top of ``config`` (an instance of that
    dataclass). ``style_blend`` gives the styles' weights for every method. The result has the content's kind: a PIL
    image for a path or PIL input (RGBA when the content had alpha), a float32 (H, W, 3|4) array in [0, 1] for numpy
    input, a (1, 3|4, H, W) tensor for tensor input.

    For ``method="preset"``, ``style`` is a preset name, a blend ``"a:0.7,b:0.3"`` or ``{"a": 0.7, "b": 0.3}``.
    ``masks`` (one grey image per style, white = that style) work with the methods that take style images.

    >>> painterly.stylize("photo.jpg", "starry_night:0.7,the_scream:0.3", method="preset")  # doctest: +SKIP
    >>> painterly.stylize("photo.jpg", ["a.jpg", "b.jpg"], method="adain", style_blend=(0.7, 0.3))  # doctest: +SKIP
    """
    chosen = get_method(method)
    weights = None
    if "style_blend" in options and "style_blend" not in {
        field.name for field in dataclasses.fields(chosen.options_type)
    }:
        blend = options.pop("style_blend")
        weights = None if blend is None else list(blend)
    method_options = chosen.options(config, **options)
    if masks and not chosen.supports_masks:
        raise ConfigError(f"method='{method}' takes no masks")
    loaded = as_loaded_image(content, max_pixels=max_pixels)
    styles: list[Any]
    if chosen.style_kind == "presets":
        blend_map = preset_blend(style, method)
        styles, weights = list(blend_map), list(blend_map.values())
    else:
        items: list[ImageInput] = list(style) if isinstance(style, list | tuple) else [cast(ImageInput, style)]
        if not items:
            raise ConfigError("at least one style image is needed")
        styles = [as_loaded_image(item, max_pixels=max_pixels).rgb for item in items]
    mask_images = load_masks(masks, len(styles), max_pixels=max_pixels)
    stylizer = chosen.prepare(styles, method_options, weights=weights, masks=mask_images)
    image = stylizer(loaded.rgb, progress=progress)
    return _like_input(content, image, output_alpha(loaded, image))


def preset_blend(style: Any, method: str = "preset") -> dict[str, float]:
    """A preset blend from ``"name"``, ``"a:0.7,b:0.3"`` or ``{"a": 0.7, "b": 0.3}``."""
    from .presets import parse_blend

    if isinstance(style, str):
        return parse_blend(style)
    if isinstance(style, Mapping):
        try:
            return {str(name): float(weight) for name, weight in style.items()}
        except (TypeError, ValueError) as error:
            raise ConfigError(f"preset weights must be numbers, got {dict(style)}") from error
    raise ConfigError(f"with method='{method}', style is a preset name, 'a:0.7,b:0.3' or a {{name: weight}} mapping")


def _like_input(content: ImageInput, image: torch.Tensor, alpha: torch.Tensor | None) -> Any:
    """The result in the content's kind: tensor, numpy array, or PIL image."""
    if isinstance(content, torch.Tensor):
        return image if alpha is None else torch.cat([image, alpha], dim=1)
    if isinstance(content, np.ndarray):
        stacked = image if alpha is None else torch.cat([image, alpha], dim=1)
        return stacked[0].permute(1, 2, 0).numpy().astype(np.float32)
    return to_pil(image, alpha)
