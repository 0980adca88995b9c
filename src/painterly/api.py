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

ImageInput: TypeAlias = str | os.PathLike[str] | Image.Image | np.ndarray | torch.Tensor
METHODS = ("gatys", "preset", "adain")


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
    style: ImageInput | Sequence[ImageInput],
    *,
    method: str = "gatys",
    config: GatysConfig | None = None,
    masks: Sequence[ImageInput] | None = None,
    progress: ProgressCallback | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    **options: Any,
) -> Any:
    """Stylise ``content`` with one or several ``style`` images and return the result.

    Inputs may be paths, PIL images, numpy arrays (H, W[, C]) or tensors ((1,)3, H, W). ``options`` are the fields of
    :class:`GatysConfig` (``size``, ``iterations``, ``strength``, ``style_blend``, ``color``, ...), applied on top of
    ``config``. The result has the content's kind: a PIL image for a path or PIL input (RGBA when the content had
    alpha), a float32 (H, W, 3|4) array in [0, 1] for numpy input, a (1, 3|4, H, W) tensor for tensor input.

    ``method="preset"`` runs a shipped feed-forward network instead: ``style`` is a preset name, a blend
    ``"a:0.7,b:0.3"`` or ``{"a": 0.7, "b": 0.3}``, and ``options`` are those of :class:`StylizeOptions`
    (``strength``, ``color``, ``style_scale``, ``size``, ``tile_size``) plus ``device``, ``precision``, ``model``.

    ``method="adain"`` runs the arbitrary-style method (AdaIN with the shipped decoder) in one pass: ``style`` is
    one or several images, ``masks`` one grey image per style, and ``options`` those of :class:`ArbitraryOptions`
    (``alpha``, ``color``, ``style_scale``, ``size``, ``tile_size``) plus ``style_blend`` (weights), ``device``,
    ``precision``, ``model`` (a decoder file).

    >>> painterly.stylize("photo.jpg", "starry_night:0.7,the_scream:0.3", method="preset")  # doctest: +SKIP
    >>> painterly.stylize("photo.jpg", ["a.jpg", "b.jpg"], method="adain", style_blend=(0.7, 0.3))  # doctest: +SKIP
    """
    if method not in METHODS:
        raise ConfigError(f"unknown method '{method}': choose one of {', '.join(METHODS)}")
    if method == "preset":
        if config is not None or masks is not None or progress is not None:
            raise ConfigError("method='preset' takes no config, masks or progress (they belong to method='gatys')")
        return _stylize_with_preset(content, style, max_pixels=max_pixels, **options)
    if method == "adain":
        if config is not None or progress is not None:
            raise ConfigError("method='adain' takes no config or progress (they belong to method='gatys')")
        return _stylize_with_adain(content, style, masks=masks, max_pixels=max_pixels, **options)
    full_config = GatysConfig.from_mapping(options, base=config or GatysConfig())
    styles: list[ImageInput] = list(style) if isinstance(style, list | tuple) else [cast(ImageInput, style)]
    inputs = load_inputs(content, styles, config=full_config, masks=masks, max_pixels=max_pixels)
    result = run_transfer(inputs, full_config, progress=progress)
    return _like_input(content, result.image, output_alpha(inputs.content, result.image))


def _like_input(content: ImageInput, image: torch.Tensor, alpha: torch.Tensor | None) -> Any:
    """The result in the content's kind: tensor, numpy array, or PIL image."""
    if isinstance(content, torch.Tensor):
        return image if alpha is None else torch.cat([image, alpha], dim=1)
    if isinstance(content, np.ndarray):
        stacked = image if alpha is None else torch.cat([image, alpha], dim=1)
        return stacked[0].permute(1, 2, 0).numpy().astype(np.float32)
    return to_pil(image, alpha)


def _stylize_with_preset(content: ImageInput, style: Any, *, max_pixels: int | None, **options: Any) -> Any:
    """``method="preset"``: ``style`` names a preset or a blend ("a:0.7,b:0.3" or {"a": 0.7, "b": 0.3})."""
    from .methods.stylizer import NetworkStylizer, StylizeOptions
    from .presets import load_presets, parse_blend

    if isinstance(style, str):
        blend = parse_blend(style)
    elif isinstance(style, Mapping):
        try:
            blend = {str(name): float(weight) for name, weight in style.items()}
        except (TypeError, ValueError) as error:
            raise ConfigError(f"preset weights must be numbers, got {dict(style)}") from error
    else:
        raise ConfigError("with method='preset', style is a preset name, 'a:0.7,b:0.3' or a {name: weight} mapping")
    device, precision = options.pop("device", "auto"), options.pop("precision", "auto")
    model = options.pop("model", None)
    known = {field.name for field in dataclasses.fields(StylizeOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        valid = ", ".join(sorted(known))
        raise ConfigError(f"unknown option(s) for method='preset': {', '.join(unknown)}; valid: {valid}")
    stylize_options = StylizeOptions(**options)
    loaded = as_loaded_image(content, max_pixels=max_pixels)
    network, names = load_presets(model)
    image = NetworkStylizer(network, names, device=device, precision=precision).stylize(
        loaded.rgb, blend, stylize_options
    )
    return _like_input(content, image, output_alpha(loaded, image))


def _stylize_with_adain(
    content: ImageInput,
    style: ImageInput | Sequence[ImageInput],
    *,
    masks: Sequence[ImageInput] | None,
    max_pixels: int | None,
    **options: Any,
) -> Any:
    """``method="adain"``: one pass of encoder, AdaIN and the shipped (or ``model``) decoder."""
    from .decoder_model import load_shipped_decoder
    from .methods.arbitrary import ArbitraryOptions, ArbitraryStylizer

    device, precision = options.pop("device", "auto"), options.pop("precision", "auto")
    model = options.pop("model", None)
    blend = options.pop("style_blend", None)
    known = {field.name for field in dataclasses.fields(ArbitraryOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        valid = ", ".join(sorted([*known, "style_blend", "device", "precision", "model"]))
        raise ConfigError(f"unknown option(s) for method='adain': {', '.join(unknown)}; valid: {valid}")
    arbitrary_options = ArbitraryOptions(**options)
    styles: list[ImageInput] = list(style) if isinstance(style, list | tuple) else [cast(ImageInput, style)]
    if not styles:
        raise ConfigError("at least one style image is needed")
    loaded = as_loaded_image(content, max_pixels=max_pixels)
    style_images = [as_loaded_image(item, max_pixels=max_pixels).rgb for item in styles]
    mask_images = load_masks(masks, len(styles), max_pixels=max_pixels)
    stylizer = ArbitraryStylizer(load_shipped_decoder(model), device=device, precision=precision)
    weights = list(blend) if blend is not None else None
    image = stylizer.stylize(loaded.rgb, style_images, weights=weights, masks=mask_images, options=arbitrary_options)
    return _like_input(content, image, output_alpha(loaded, image))
