"""Universal style transfer (WCT, Li et al. 2017): any painting, in one coarse-to-fine pass, with decoders that only
learned to reconstruct.

At each level of the cascade (relu4_1, relu3_1, relu2_1, relu1_1 by default) the current picture is encoded by the
frozen VGG16 to that level, its features are whitened and coloured with the style's covariance
(:mod:`painterly.methods.whitening`), and that level's reconstruction decoder turns them back into a picture, which
the next, finer level starts from. Coarse levels carry the painting's large-scale patterns, fine ones its colours and
brush texture.

Controls: ``alpha`` (0: the reconstruction of the photo) and an optional per-level list, several styles blended,
masks (each style only inside its mask), the colour modes of the other methods, the style's size relative to the
output. Large images run in tiles with a halo wider than the encoder's and decoders' receptive fields while the
statistics come from the whole feature map, so the tiled result equals the untiled one.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..devices import prepare_for_inference, resolve_device, resolve_precision, run_inference
from ..encoders.vgg import VGGEncoder
from ..errors import ConfigError, InputImageError, WeightsError
from ..image.color import COLOR_MODES, ColorMode, finish_colors, prepare_content_colors, prepare_style_colors
from ..image.io import resize_long_side, resize_to
from ..losses import normalised_blend
from ..ops import mask_at_features, pad_to_multiple, pixels_key
from ..tiling import ALIGN, decode_in_tiles, encode_in_tiles
from .arbitrary import ENCODER_STRIDE, TILE_HALO
from .base import Method, ProgressCallback, StageClock, single_image_styles
from .decoders import LEVELS, Decoder, level_of, level_stride
from .gatys import check_inputs
from .prepared import PreparedStyles
from .stylizer import DEFAULT_MAX_PASS_PIXELS, check_one_pass_options, fit_output_size
from .whitening import FeatureStatistics, feature_statistics, whiten_and_colour

CASCADE = ("relu4_1", "relu3_1", "relu2_1", "relu1_1")
"""Coarse to fine, the order the levels run in."""
DEFAULT_LEVELS = ("relu3_1", "relu2_1", "relu1_1")
"""The default cascade starts at relu3_1: with the shipped decoders, adding relu4_1 (the least faithful decoder, 18.5 dB
reconstruction PSNR) raised the content loss on every held-out pair and lowered the style loss on one of three
(benchmarks/arbitrary.py); ``levels`` puts it back."""
MIN_STYLE_SIDE = 32
"""A style image needs this many pixels on each side for its feature covariances to mean anything."""


def level_names(value: Any) -> list[str]:
    """``"relu4_1, relu2_1"`` or a sequence → the names as given (stripped, empty ones dropped)."""
    items = [str(item).strip() for item in (value.split(",") if isinstance(value, str) else value)]
    return [item for item in items if item]


def parse_levels(value: Any) -> tuple[str, ...]:
    """``"relu4_1,relu2_1"`` or a sequence of names → the levels in cascade order (coarse first)."""
    items = level_names(value)
    if not items:
        raise ConfigError("choose at least one WCT level")
    for item in items:
        level_of(item)
    if len(set(items)) != len(items):
        raise ConfigError(f"WCT levels repeat: {', '.join(items)}")
    return tuple(sorted(items, key=level_of, reverse=True))


def parse_alphas(value: Any) -> tuple[float, ...] | None:
    """``"1,0.8,0.6,0.5"`` or a sequence of numbers → a tuple (None stays None)."""
    if value is None:
        return None
    items = [item for item in value.split(",") if item.strip()] if isinstance(value, str) else list(value)
    try:
        alphas = tuple(float(item) for item in items)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"level alphas must be numbers, got {value!r}") from error
    if not alphas or not all(0.0 <= alpha <= 1.0 for alpha in alphas):
        raise ConfigError(f"level alphas must be numbers within 0..1, got {value!r}")
    return alphas


@dataclass(frozen=True)
class WCTOptions:
    """Inference options; the names follow the other one-pass methods.

    ``alpha``: 0 returns the decoders' reconstruction of the photo, 1 the full whitening and colouring, at every
    level. ``level_alphas``: one alpha per level of ``levels``, overriding ``alpha``. ``levels``: the cascade, run
    coarse to fine (default relu3_1, relu2_1, relu1_1; relu4_1 is available). ``model``: a decoder set from
    ``painterly train decoders``.
    """

    alpha: float = 1.0
    level_alphas: tuple[float, ...] | None = None
    levels: tuple[str, ...] = DEFAULT_LEVELS
    color: ColorMode = "none"
    style_scale: float = 1.0
    size: int | None = None
    tile_size: int | None = None
    max_pass_pixels: int = DEFAULT_MAX_PASS_PIXELS
    device: str = "auto"
    precision: str = "auto"
    model: Path | None = None

    def __post_init__(self) -> None:
        if not (0.0 <= self.alpha <= 1.0):
            raise ConfigError(f"alpha must be within 0..1, got {self.alpha}")
        given = [
            str(item).strip() for item in (self.levels.split(",") if isinstance(self.levels, str) else self.levels)
        ]
        levels = parse_levels(self.levels)
        alphas = parse_alphas(self.level_alphas)
        if alphas is not None:
            if len(alphas) != len(levels):
                raise ConfigError(
                    f"give one level alpha per level: {len(alphas)} for {len(levels)} ({', '.join(levels)})"
                )
            by_level = dict(zip(given, alphas, strict=True))
            alphas = tuple(by_level[layer] for layer in levels)  # each alpha stays with its level
        object.__setattr__(self, "levels", levels)
        object.__setattr__(self, "level_alphas", alphas)
        check_one_pass_options(self, COLOR_MODES)

    def alpha_at(self, layer: str) -> float:
        if self.level_alphas is None:
            return self.alpha
        return self.level_alphas[self.levels.index(layer)]


class LevelEncoder(nn.Module):
    """A VGG encoder run only as deep as one of its layers; returns that layer's features."""

    def __init__(self, encoder: VGGEncoder, layer: str) -> None:
        super().__init__()
        if layer not in encoder.layers:
            raise ConfigError(f"the encoder does not provide {layer}")
        self.encoder, self.layer = encoder, layer

    def forward(self, image: Tensor) -> Tensor:
        x = (image - self.encoder.mean) / self.encoder.std
        for name, module in self.encoder.body.named_children():
            x = module(x)
            if name == self.layer:
                break
        return x


ASPECT_TOLERANCE = 0.02


def check_aspect(what: str, image: Tensor, reference: Tensor, reference_name: str) -> None:
    """A mask or label image may be at any scale, but it must have the shape (aspect ratio) of what it covers."""
    height, width = int(image.shape[-2]), int(image.shape[-1])
    target_height, target_width = int(reference.shape[-2]), int(reference.shape[-1])
    if abs(width / height - target_width / target_height) > ASPECT_TOLERANCE * target_width / target_height:
        raise InputImageError(
            f"{what} is {width}x{height} px but the {reference_name} is {target_width}x{target_height}: it must have "
            f"the {reference_name}'s shape (any scale)"
        )


def check_style_sizes(styles: Sequence[Tensor]) -> None:
    for index, style in enumerate(styles):
        height, width = int(style.shape[-2]), int(style.shape[-1])
        if min(height, width) < MIN_STYLE_SIDE:
            raise InputImageError(
                f"style {index + 1} is {width}x{height} px: WCT needs at least {MIN_STYLE_SIDE} px on each side to "
                "measure its feature covariances"
            )


class WCTStylizer:
    """The VGG16 encoder and one reconstruction decoder per level, on one device and precision, with a cache of
    style statistics (``cache_size`` style images, least recently used first out). ``timings`` holds the seconds of
    each stage of the last :meth:`stylize` call: ``style``, then ``encode``/``transform``/``decode`` summed over the
    levels, ``colors``."""

    def __init__(
        self,
        decoders: Mapping[str, Decoder],
        *,
        encoder: VGGEncoder | None = None,
        device: str = "auto",
        precision: str = "auto",
        cache_size: int = 16,
    ) -> None:
        from ..encoders.vgg import vgg16

        if not decoders:
            raise WeightsError("no WCT decoders given")
        if cache_size < 0:
            raise ConfigError(f"cache_size must be >= 0, got {cache_size}")
        self.device = resolve_device(device)
        self.dtype = resolve_precision(precision, self.device)
        encoder = encoder if encoder is not None else vgg16(layers=list(LEVELS))
        self.encoders: dict[str, LevelEncoder] = {}
        self.decoders = dict(decoders)
        for layer, decoder in self.decoders.items():
            level = level_of(layer)
            if decoder.spec.level != level:
                raise WeightsError(f"the decoder filed for {layer} is a level-{decoder.spec.level} decoder")
            self.encoders[layer] = LevelEncoder(encoder, layer)
            with torch.no_grad():
                channels = int(self.encoders[layer](torch.zeros(1, 3, 16, 16)).shape[1])
            if channels != decoder.spec.in_channels:
                raise WeightsError(
                    f"the {layer} decoder expects {decoder.spec.in_channels} channels but the encoder gives {channels}"
                )
            prepare_for_inference(decoder, self.device)
        prepare_for_inference(encoder, self.device)
        self.cache_size = cache_size
        self._cache: OrderedDict[str, FeatureStatistics] = OrderedDict()
        self.timings: dict[str, float] = {}

    def halo(self, layer: str) -> int:
        radius = self.decoders[layer].spec.receptive_radius
        return max(TILE_HALO, math.ceil(radius / ALIGN) * ALIGN)

    def _run(self, module: nn.Module, tensor: Tensor) -> Tensor:
        return run_inference(module, tensor, self.device, self.dtype)

    def encode(self, image: Tensor, layer: str, *, tile_size: int | None, max_pass_pixels: int) -> Tensor:
        """``image`` (already padded to the stride) → its fp32 features at ``layer``, in one pass or in tiles."""
        return encode_in_tiles(
            lambda part: self._run(self.encoders[layer], part),
            image,
            stride=level_stride(level_of(layer)),
            channels=self.decoders[layer].spec.in_channels,
            halo=self.halo(layer),
            tile_size=tile_size,
            max_pass_pixels=max_pass_pixels,
        )

    def decode(self, features: Tensor, layer: str, *, tile_size: int | None, max_pass_pixels: int) -> Tensor:
        return decode_in_tiles(
            lambda part: self._run(self.decoders[layer], part),
            features,
            stride=level_stride(level_of(layer)),
            halo=self.halo(layer),
            tile_size=tile_size,
            max_pass_pixels=max_pass_pixels,
        )

    def style_statistics(
        self, style: Tensor, layer: str, *, tile_size: int | None = None, max_pass_pixels: int = DEFAULT_MAX_PASS_PIXELS
    ) -> FeatureStatistics:
        """Mean and covariance eigenpairs of a style image's features at ``layer``, cached by its pixels."""
        key = f"{pixels_key(style)}-{layer}-{self.dtype}"
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        features = self.encode(
            pad_to_multiple(style, ENCODER_STRIDE), layer, tile_size=tile_size, max_pass_pixels=max_pass_pixels
        )
        visible = feature_crop(features, style.shape[-2:], layer)
        statistics = feature_statistics(visible)
        if self.cache_size:
            self._cache[key] = statistics
            while len(self._cache) > self.cache_size * len(LEVELS):
                self._cache.popitem(last=False)
        return statistics

    def stylize(
        self,
        content: Tensor,
        styles: Sequence[Tensor],
        *,
        weights: Sequence[float] | None = None,
        masks: Sequence[Tensor] | None = None,
        options: WCTOptions | None = None,
        progress: ProgressCallback | None = None,
    ) -> Tensor:
        """``content`` (1, 3, H, W) in [0, 1] with ``styles`` (each (1, 3, h, w)) → the result (1, 3, H', W')."""
        options = options or WCTOptions()
        check_inputs(content, styles, masks, None)
        check_style_sizes(styles)
        for index, mask in enumerate(masks or ()):
            check_aspect(f"mask {index + 1}", mask, content, "photo")
        if weights is not None:
            normalised_blend(weights, len(styles))
            if masks is not None and len(set(weights)) > 1:
                raise ConfigError("style weights and masks cannot be combined: the masks say where each style goes")
        missing = [layer for layer in options.levels if layer not in self.decoders]
        if missing:
            raise WeightsError(
                f"the decoder set has no decoder for {', '.join(missing)}: choose the levels it has "
                f"({', '.join(sorted(self.decoders, key=level_of, reverse=True))}) with the option levels"
            )
        mode = options.color
        tiles: dict[str, Any] = {"tile_size": options.tile_size, "max_pass_pixels": options.max_pass_pixels}
        clock = StageClock("style", "encode", "transform", "decode", "colors")
        size = fit_output_size(content.shape[-2:], options.size)
        content = content.float()
        content = resize_to(content, size) if size != tuple(content.shape[-2:]) else content
        style_long_side = max(MIN_STYLE_SIDE, round(max(size) * options.style_scale))
        prepared = [
            resize_long_side(prepare_style_colors(style.float(), content, mode), style_long_side) for style in styles
        ]
        statistics = {
            layer: [self.style_statistics(style, layer, **tiles) for style in prepared] for layer in options.levels
        }
        clock.lap("style")
        picture = prepare_content_colors(content, mode)
        for step, layer in enumerate(options.levels):
            features = self.encode(pad_to_multiple(picture, ENCODER_STRIDE), layer, **tiles)
            clock.lap("encode")
            feature_masks = None
            if masks is not None:
                shape = (int(features.shape[-2]), int(features.shape[-1]))
                feature_masks = [mask_at_features(mask, size, shape, ENCODER_STRIDE) for mask in masks]
            target = whiten_and_colour(
                features,
                statistics[layer],
                weights,
                feature_masks,
                options.alpha_at(layer),
                measured=feature_size_of(size, layer),
            )
            clock.lap("transform")
            picture = self.decode(target, layer, **tiles)[..., : size[0], : size[1]].clamp(0, 1)
            clock.lap("decode")
            if progress is not None:
                progress({"level": layer, "done": step + 1, "of": len(options.levels)})
        result = finish_colors(picture, content, mode).clamp(0, 1)
        clock.lap("colors")
        self.timings = clock.timings
        return result


def feature_size_of(size: torch.Size | tuple[int, int], layer: str) -> tuple[int, int]:
    """The part of a padded image's features at ``layer`` that covers the unpadded ``size`` (padding is not the
    image)."""
    stride = level_stride(level_of(layer))
    return -(-int(size[0]) // stride), -(-int(size[1]) // stride)


def feature_crop(features: Tensor, size: torch.Size | tuple[int, int], layer: str) -> Tensor:
    height, width = feature_size_of(size, layer)
    return features[..., :height, :width]


def prepare(
    styles: Sequence[Tensor],
    options: WCTOptions,
    *,
    weights: Sequence[float] | None = None,
    masks: Sequence[Tensor] | None = None,
    encoder: VGGEncoder | None = None,
) -> PreparedStyles:
    """WCT with the shipped (or ``options.model``) decoder set for ``styles`` (image tensors)."""
    from ..decoder_model import load_wct_decoders

    styles = single_image_styles(styles)
    check_style_sizes(styles)  # before the networks load
    decoders = load_wct_decoders(options.model)
    stylizer = WCTStylizer(decoders, encoder=encoder, device=options.device, precision=options.precision)
    return PreparedStyles(stylizer, styles, options, weights=weights, masks=masks, with_progress=True)


METHOD = Method(
    name="wct",
    summary="universal style transfer (WCT): any painting, coarse-to-fine whitening and colouring, in one pass",
    options_type=WCTOptions,
    style_kind="images",
    prepare=prepare,
    weights=("vgg16", "wct_decoders"),
    strength_field="alpha",
)
