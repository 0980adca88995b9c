"""Arbitrary style in one pass: AdaIN (Huang & Belongie 2017) with a decoder trained by painterly.

The frozen VGG16 encodes the photo to ``relu4_1``; adaptive instance normalisation gives those features the channel
means and deviations of the style's ``relu4_1`` features; a small decoder turns them back into an image::

    stylizer = ArbitraryStylizer(decoder)                                        # doctest: +SKIP
    picture = stylizer.stylize(photo, [painting], options=ArbitraryOptions(alpha=0.8))  # doctest: +SKIP

Controls: ``alpha`` (feature-space trade-off: 0 is the decoder's reconstruction of the photo), several styles with
weights (their statistics are interpolated), one mask per style (each style acts only where its mask is white, with
the photo's statistics taken over that region), colour preservation (the Gatys modes), and the style image's size
relative to the output. Every image is processed at its own resolution; above ``max_pass_pixels`` the encoder and
the decoder run in tiles whose halo exceeds their receptive fields, so the tiled result equals the untiled one
(statistics are computed on the whole feature map, which is small: 1/64 of the pixels).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from ..devices import prepare_for_inference, resolve_device, resolve_precision, run_inference
from ..encoders.vgg import VGGEncoder
from ..errors import ConfigError, WeightsError
from ..image.color import (
    COLOR_MODES,
    ColorMode,
    finish_colors,
    match_palette,
    palette,
    prepare_content_colors,
    prepare_style_colors,
)
from ..image.io import resize_long_side, resize_to
from ..losses import normalised_blend
from ..ops import mask_at_features, masked_mean_std, mean_std, pad_to_multiple, pixels_key, renormalise, resize_mask
from ..tiling import ALIGN, decode_in_tiles, encode_in_tiles
from .base import Method, StageClock, single_image_styles
from .decoders import Decoder
from .gatys import check_inputs
from .prepared import PreparedStyles
from .stylizer import DEFAULT_MAX_PASS_PIXELS, check_one_pass_options, fit_output_size

BOTTLENECK = "relu4_1"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
FEATURE_CHANNELS = 512
ENCODER_STRIDE = 8
# Context around each tile, in pixels: above the receptive-field radius of VGG16 to relu4_1 (~30 px) and of the
# decoder (DecoderSpec.receptive_radius), on the tile lattice.
TILE_HALO = 64
EPS = 1e-5


@dataclass(frozen=True)
class StyleStatistics:
    """Channel means and deviations of a style's relu4_1 features, each (1, 512, 1, 1) in fp32."""

    mean: Tensor
    std: Tensor


def blend_statistics(statistics: Sequence[StyleStatistics], weights: Sequence[float]) -> StyleStatistics:
    """Weighted mean of several styles' statistics: AdaIN with it equals the weighted sum of the AdaIN outputs."""
    mean = sum((weight * item.mean for item, weight in zip(statistics, weights, strict=True)), torch.zeros(()))
    std = sum((weight * item.std for item, weight in zip(statistics, weights, strict=True)), torch.zeros(()))
    return StyleStatistics(torch.as_tensor(mean), torch.as_tensor(std))


def transfer_features(
    content: Tensor,
    styles: Sequence[StyleStatistics],
    weights: Sequence[float] | None = None,
    masks: Sequence[Tensor] | None = None,
    alpha: float = 1.0,
) -> Tensor:
    """The decoder's input: ``content`` (1, C, h, w) features renormalised to the styles' statistics.

    Without masks the styles' statistics are blended with ``weights``; with masks (one (1, 1, h, w) map in [0, 1]
    per style), style k replaces the content's statistics *measured over its mask* and acts only there; where the
    masks add up to less than 1 the content's own features remain (where more, they are scaled to sum to 1).
    ``alpha`` mixes the result with the content features (0: the content unchanged).
    """
    content = content.float()
    if not styles:
        raise ConfigError("at least one style is needed")
    if masks is None:
        shares = normalised_blend(weights, len(styles))
        target = blend_statistics(styles, shares)
        result = renormalise(content, mean_std(content, EPS), (target.mean, target.std))
    else:
        if len(masks) != len(styles):
            raise ConfigError(f"got {len(masks)} mask(s) for {len(styles)} style(s): give one mask per style")
        if weights is not None and len(set(weights)) > 1:
            raise ConfigError("style weights and masks cannot be combined: the masks say where each style goes")
        feature_size = (int(content.shape[-2]), int(content.shape[-1]))
        maps = [resize_mask(mask.float(), feature_size).clamp(0, 1) for mask in masks]
        coverage = torch.stack(maps).sum(dim=0)
        scale = 1.0 / coverage.clamp_min(1.0)
        result = content * (1.0 - coverage * scale)
        for statistics, mask in zip(styles, maps, strict=True):
            renormalised = renormalise(content, masked_mean_std(content, mask, EPS), (statistics.mean, statistics.std))
            result = result + mask * scale * renormalised
    if alpha != 1.0:
        result = alpha * result + (1.0 - alpha) * content
    return result


@dataclass(frozen=True)
class ArbitraryOptions:
    """Inference options; the names follow the Gatys and preset methods.

    ``alpha``: 0 returns the decoder's reconstruction of the photo, 1 the full style. ``style_scale``: the style
    image's long side relative to the output's (above 1: larger brush strokes). ``size``: output long side (None:
    the photo's own). ``color``: none, luminance, histogram or meancov, as in the Gatys method. ``palette`` (with
    color none): recolour the decoded picture to the style's colour mean and covariance (of the blend; per mask with
    masks), scaled by ``alpha`` — the exact pixel-space form of what AdaIN's lowest style layer asks for.
    """

    alpha: float = 1.0
    color: ColorMode = "none"
    palette: bool = True
    style_scale: float = 1.0
    size: int | None = None
    tile_size: int | None = None
    max_pass_pixels: int = DEFAULT_MAX_PASS_PIXELS
    device: str = "auto"
    precision: str = "auto"
    model: Path | None = None
    """A decoder file from ``painterly train arbitrary`` instead of the shipped one."""

    def __post_init__(self) -> None:
        if not (0.0 <= self.alpha <= 1.0):
            raise ConfigError(f"alpha must be within 0..1, got {self.alpha}")
        check_one_pass_options(self, COLOR_MODES)


class Bottleneck(nn.Module):
    """The encoder's relu4_1 features alone (a module that returns one tensor)."""

    def __init__(self, encoder: VGGEncoder) -> None:
        super().__init__()
        if BOTTLENECK not in encoder.layers:
            raise ConfigError(f"the encoder must provide {BOTTLENECK}")
        self.encoder = encoder

    def forward(self, image: Tensor) -> Tensor:
        features: Tensor = self.encoder(image)[BOTTLENECK]
        return features

    def channels(self) -> int:
        """Channels of relu4_1 (512 for VGG16), probed on a tiny input."""
        parameter = next(self.encoder.parameters())
        with torch.no_grad():
            return int(self(torch.zeros(1, 3, 16, 16, device=parameter.device, dtype=parameter.dtype)).shape[1])


class ArbitraryStylizer:
    """Encoder + AdaIN + decoder on one device and precision, with a cache of style statistics.

    The cache (``cache_size`` styles, least recently used first out) pays off when one stylizer serves many calls,
    as in an app or a batch; ``timings`` holds the seconds spent in each stage by the last :meth:`stylize` call
    (``style``, ``encode``, ``transfer``, ``decode``, ``colors``).
    """

    def __init__(
        self,
        decoder: Decoder,
        *,
        encoder: VGGEncoder | None = None,
        device: str = "auto",
        precision: str = "auto",
        cache_size: int = 32,
    ) -> None:
        from ..encoders.vgg import vgg16

        if cache_size < 0:
            raise ConfigError(f"cache_size must be >= 0, got {cache_size}")
        self.device = resolve_device(device)
        self.dtype = resolve_precision(precision, self.device)
        self.encoder = Bottleneck(encoder if encoder is not None else vgg16(layers=[BOTTLENECK]))
        channels = self.encoder.channels()
        if channels != decoder.spec.in_channels:
            raise WeightsError(
                f"the decoder expects {decoder.spec.in_channels} feature channels but the encoder gives {channels}"
            )
        prepare_for_inference(self.encoder, self.device)
        prepare_for_inference(decoder, self.device)
        self.decoder = decoder
        self.cache_size = cache_size
        self._cache: OrderedDict[str, StyleStatistics] = OrderedDict()
        self.timings: dict[str, float] = {}

    @property
    def halo(self) -> int:
        return max(TILE_HALO, math.ceil(self.decoder.spec.receptive_radius / ALIGN) * ALIGN)

    # -- stages -------------------------------------------------------------------------------------------------
    def style_statistics(
        self, style: Tensor, *, tile_size: int | None = None, max_pass_pixels: int = DEFAULT_MAX_PASS_PIXELS
    ) -> StyleStatistics:
        """Statistics of a style image (1, 3, H, W) as given (sized and coloured), cached by its pixels."""
        key = f"{pixels_key(style)}-{self.dtype}"
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        mean, std = mean_std(self.encode(style, tile_size=tile_size, max_pass_pixels=max_pass_pixels), EPS)
        statistics = StyleStatistics(mean, std)
        if self.cache_size:
            self._cache[key] = statistics
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return statistics

    def encode(
        self, image: Tensor, *, tile_size: int | None = None, max_pass_pixels: int = DEFAULT_MAX_PASS_PIXELS
    ) -> Tensor:
        """relu4_1 features (1, C, H'/8, W'/8) in fp32 of ``image`` reflect-padded to multiples of 8 (>= 16 px)."""
        return encode_in_tiles(
            lambda part: self._run(self.encoder, part),
            pad_to_multiple(image, ENCODER_STRIDE),
            stride=ENCODER_STRIDE,
            channels=self.decoder.spec.in_channels,
            halo=self.halo,
            tile_size=tile_size,
            max_pass_pixels=max_pass_pixels,
        )

    def decode(
        self, features: Tensor, *, tile_size: int | None = None, max_pass_pixels: int = DEFAULT_MAX_PASS_PIXELS
    ) -> Tensor:
        """The decoder's image (1, 3, 8h, 8w), in fp32 on the CPU, in one pass or in tiles."""
        return decode_in_tiles(
            lambda part: self._run(self.decoder, part),
            features,
            stride=ENCODER_STRIDE,
            halo=self.halo,
            tile_size=tile_size,
            max_pass_pixels=max_pass_pixels,
        )

    def stylize(
        self,
        content: Tensor,
        styles: Sequence[Tensor],
        *,
        weights: Sequence[float] | None = None,
        masks: Sequence[Tensor] | None = None,
        options: ArbitraryOptions | None = None,
    ) -> Tensor:
        """``content`` (1, 3, H, W) in [0, 1] with ``styles`` (each (1, 3, h, w)) → the result (1, 3, H', W')."""
        options = options or ArbitraryOptions()
        check_inputs(content, styles, masks, None)
        if weights is not None:
            normalised_blend(weights, len(styles))  # validates count and values
        if masks is not None and weights is not None and len(set(weights)) > 1:
            raise ConfigError("style weights and masks cannot be combined: the masks say where each style goes")
        mode = options.color
        tile_size, max_pass_pixels = options.tile_size, options.max_pass_pixels
        clock = StageClock("style", "encode", "transfer", "decode", "colors")
        size = fit_output_size(content.shape[-2:], options.size)
        content = content.float()
        content = resize_to(content, size) if size != tuple(content.shape[-2:]) else content
        style_long_side = max(16, round(max(size) * options.style_scale))
        statistics = []
        for style in styles:
            prepared = resize_long_side(prepare_style_colors(style.float(), content, mode), style_long_side)
            statistics.append(self.style_statistics(prepared, tile_size=tile_size, max_pass_pixels=max_pass_pixels))
        clock.lap("style")
        network_input = prepare_content_colors(content, mode)
        features = self.encode(network_input, tile_size=tile_size, max_pass_pixels=max_pass_pixels)
        clock.lap("encode")
        feature_masks = None
        if masks is not None:
            shape = (int(features.shape[-2]), int(features.shape[-1]))
            feature_masks = [mask_at_features(mask, size, shape, ENCODER_STRIDE) for mask in masks]
        target = transfer_features(features, statistics, weights, feature_masks, options.alpha)
        clock.lap("transfer")
        decoded = self.decode(target, tile_size=tile_size, max_pass_pixels=max_pass_pixels)
        clock.lap("decode")
        result = finish_colors(decoded[..., : size[0], : size[1]].clamp(0, 1), content, mode).clamp(0, 1)
        if options.palette and mode == "none" and options.alpha > 0:
            result = self._match_palette(result, styles, weights, masks, size, options.alpha)
        clock.lap("colors")
        self.timings = clock.timings
        return result

    def encode_batch(self, images: Tensor) -> Tensor:
        """relu4_1 features (B, C, H/8, W/8) in fp32 of a batch whose sides are multiples of 8, in one pass (no
        tiles: for the small images of data augmentation)."""
        return self._run(self.encoder, images).float()

    def decode_batch(self, features: Tensor) -> Tensor:
        """The decoder's images (B, 3, 8h, 8w) in fp32 of a batch of features, in one pass."""
        return self._run(self.decoder, features).float()

    # -- helpers ------------------------------------------------------------------------------------------------
    def _run(self, module: nn.Module, tensor: Tensor) -> Tensor:
        return run_inference(module, tensor, self.device, self.dtype)

    @staticmethod
    def _match_palette(
        picture: Tensor,
        styles: Sequence[Tensor],
        weights: Sequence[float] | None,
        masks: Sequence[Tensor] | None,
        size: tuple[int, int],
        alpha: float,
    ) -> Tensor:
        """The picture recoloured to the styles' palette: of their blend, or of each style inside its mask."""
        if masks is None:
            target = palette(styles, normalised_blend(weights, len(styles)))
            matched = match_palette(picture, target)
        else:
            maps = [resize_mask(mask.float(), size).clamp(0, 1) for mask in masks]
            scale = 1.0 / torch.stack(maps).sum(dim=0).clamp_min(1.0)
            matched = picture * (1.0 - sum(maps, torch.zeros(())) * scale)
            for style, mask in zip(styles, maps, strict=True):
                matched = matched + mask * scale * match_palette(picture, palette([style], [1.0]))
        return (alpha * matched + (1.0 - alpha) * picture).clamp(0, 1)


def prepare(
    styles: Sequence[Tensor],
    options: ArbitraryOptions,
    *,
    weights: Sequence[float] | None = None,
    masks: Sequence[Tensor] | None = None,
    encoder: VGGEncoder | None = None,
) -> PreparedStyles:
    """AdaIN with the shipped (or ``options.model``) decoder for ``styles`` (image tensors)."""
    from ..decoder_model import load_shipped_decoder

    styles = single_image_styles(styles)
    stylizer = ArbitraryStylizer(
        load_shipped_decoder(options.model), encoder=encoder, device=options.device, precision=options.precision
    )
    return PreparedStyles(stylizer, styles, options, weights=weights, masks=masks)


METHOD = Method(
    name="adain",
    summary="arbitrary style in one pass (AdaIN): any painting, with a decoder trained by painterly",
    options_type=ArbitraryOptions,
    style_kind="images",
    prepare=prepare,
    weights=("vgg16", "adain_decoder"),
    strength_field="alpha",
)
