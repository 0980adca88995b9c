"""Photorealistic style transfer in the spirit of WCT2 (Yoo et al. 2019): a day photo in the light and colours of a
sunset photo, without painterly texture or bent edges.

VGG16 runs with Haar wavelet pooling (:mod:`painterly.encoders.haar`): the low band goes on, the high bands skip to
a decoder trained only to reconstruct, whose unpooling is the exact inverse transform. The photo is whitened and
coloured with the style photo's statistics at each level as it is encoded (relu1_1 → relu4_1, progressively), and
decoded once; its edges come back through the high bands. Options: label images that pair regions of the photo with
regions of the style photo (sky with sky), masks and blends as in the other methods, and an edge-preserving
guided-filter smoothing with the photo as guide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..devices import prepare_for_inference, resolve_device, resolve_precision
from ..encoders.haar import HaarEncoder, PhotoDecoder, PhotoDecoderSpec
from ..encoders.vgg import VGGEncoder
from ..errors import ConfigError, InputImageError, WeightsError
from ..image.io import resize_long_side, resize_to
from ..image.smoothing import guided_filter
from ..losses import normalised_blend
from ..ops import mask_at_features, pad_to_multiple, pixels_key, resize_mask
from .base import Method, StageClock, check_runtime, single_image_styles
from .decoders import LEVELS
from .gatys import check_inputs
from .prepared import PreparedStyles
from .stylizer import fit_output_size
from .wct import MIN_STYLE_SIDE, check_aspect, check_style_sizes, parse_levels
from .whitening import FeatureStatistics, feature_statistics, whiten_and_colour

MAX_PIXELS = 16_000_000
"""Photo mode runs in one pass (statistics at every level of the whole picture): larger outputs are refused."""
MIN_REGION_SHARE = 0.001
"""A label region smaller than this share of an image is ignored (too few pixels for a covariance)."""


@dataclass(frozen=True)
class PhotoOptions:
    """``alpha``: 0 returns the decoder's reconstruction of the photo, 1 the full transfer. ``levels``: where the
    features are whitened and coloured. ``labels``: (photo labels, style labels) image files whose colours name
    regions; each region of the photo takes the statistics of the style's region of the same colour. ``smooth``:
    guided-filter smoothing with the photo as guide (``smooth_radius`` px, ``smooth_eps``). ``style_scale``: the
    style photo's long side relative to the output's."""

    alpha: float = 1.0
    levels: tuple[str, ...] = LEVELS
    labels: tuple[Path, Path] | None = None
    smooth: bool = False
    smooth_radius: int = 8
    smooth_eps: float = 1e-3
    style_scale: float = 1.0
    size: int | None = None
    device: str = "auto"
    precision: str = "auto"
    model: Path | None = None
    """A decoder file from ``painterly train decoders --target photo`` instead of the shipped one."""

    def __post_init__(self) -> None:
        if not (0.0 <= self.alpha <= 1.0):
            raise ConfigError(f"alpha must be within 0..1, got {self.alpha}")
        object.__setattr__(self, "levels", parse_levels(self.levels))
        if self.labels is not None:
            pair = parse_label_pair(self.labels)
            object.__setattr__(self, "labels", pair)
        if not 1 <= self.smooth_radius <= 256 or not 0 < self.smooth_eps <= 1:
            raise ConfigError(
                f"smoothing needs a radius within 1..256 and eps within (0, 1], got {self.smooth_radius}"
                f" and {self.smooth_eps}"
            )
        if not (0.1 <= self.style_scale <= 8.0):
            raise ConfigError(f"style_scale must be within 0.1..8, got {self.style_scale}")
        if self.size is not None and self.size < 16:
            raise ConfigError(f"size must be at least 16 pixels, got {self.size}")
        check_runtime(self.device, self.precision)


def parse_label_pair(value: Any) -> tuple[Path, Path]:
    """``"photo_labels.png:style_labels.png"`` or a pair of paths → (photo labels, style labels)."""
    if isinstance(value, str):
        head, separator, tail = value.rpartition(":")
        if not separator or not head or not tail:
            raise ConfigError(f"labels must be PHOTO_LABELS:STYLE_LABELS, got '{value}'")
        return Path(head), Path(tail)
    items = list(value)
    if len(items) != 2:
        raise ConfigError(f"labels must be two images (photo, style), got {len(items)}")
    return Path(items[0]), Path(items[1])


def label_regions(
    content_labels: Tensor, style_labels: Tensor, content_size: tuple[int, int], style_size: tuple[int, int]
) -> list[tuple[Tensor, Tensor]]:
    """Pairs of (photo mask, style mask), (1, 1, H, W) each, for every label colour both images have.

    Label images are compared by colour (quantised to 8 bits) after a nearest-neighbour resize to their image's
    size; a colour covering under :data:`MIN_REGION_SHARE` of either image is ignored.
    """

    def codes(labels: Tensor, size: tuple[int, int]) -> Tensor:
        resized = torch.nn.functional.interpolate(labels.float(), size=size, mode="nearest")
        quantised = (resized[0].clamp(0, 1) * 255).round().long()
        return quantised[0] * 65536 + quantised[1] * 256 + quantised[2]

    content_codes, style_codes = codes(content_labels, content_size), codes(style_labels, style_size)
    pairs = []
    for code in torch.unique(content_codes).tolist():
        content_mask = (content_codes == code).float()
        style_mask = (style_codes == code).float()
        if content_mask.mean() < MIN_REGION_SHARE or style_mask.mean() < MIN_REGION_SHARE:
            continue
        pairs.append((content_mask[None, None], style_mask[None, None]))
    if not pairs:
        raise InputImageError(
            "the photo's and the style's label images share no region colour: paint matching regions in the same colour"
        )
    return pairs


def feature_size(features: Tensor) -> tuple[int, int]:
    return int(features.shape[-2]), int(features.shape[-1])


class PhotoStylizer:
    """The wavelet encoder and decoder on one device and precision; ``timings`` holds the stages of the last call
    (``style``, ``encode`` with the transforms inside it, ``decode``, ``smooth``)."""

    def __init__(
        self,
        decoder: PhotoDecoder,
        *,
        encoder: VGGEncoder | None = None,
        device: str = "auto",
        precision: str = "auto",
    ) -> None:
        from ..encoders.vgg import vgg16

        self.device = resolve_device(device)
        self.dtype = resolve_precision(precision, self.device)
        self.encoder = HaarEncoder(encoder if encoder is not None else vgg16(layers=["relu4_1"]))
        expected = PhotoDecoderSpec.of(self.encoder, feature_skips=decoder.spec.feature_skips)
        if decoder.spec != expected:
            raise WeightsError(
                f"the photo decoder has the shape {decoder.spec.as_dict()}, the encoder needs {expected}"
            )
        prepare_for_inference(self.encoder, self.device)
        prepare_for_inference(decoder, self.device)
        self.decoder = decoder
        self.stride = expected.stride
        self.timings: dict[str, float] = {}
        self._cache: dict[str, tuple[dict[str, list[FeatureStatistics | None]], list[Tensor] | None]] = {}

    def _encode(self, image: Tensor, transform: Any = None) -> Any:
        batch = image.to(self.device).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), torch.autocast(self.device.type, self.dtype, enabled=self.dtype != torch.float32):
            return self.encoder(batch, transform)

    def style_levels(self, style: Tensor) -> dict[str, Tensor]:
        """The style photo's features at every relu{k}_1 (padding cropped off), fp32."""
        padded = pad_to_multiple(style, self.stride)
        features = self._encode(padded).levels
        result = {}
        for layer, value in features.items():
            stride = padded.shape[-1] // value.shape[-1]
            result[layer] = value.float()[..., : -(-style.shape[-2] // stride), : -(-style.shape[-1] // stride)]
        return result

    def _style_statistics(
        self,
        prepared: Sequence[Tensor],
        labels: tuple[Tensor, Tensor] | None,
        size: tuple[int, int],
        levels: Sequence[str],
    ) -> tuple[dict[str, list[FeatureStatistics | None]], list[Tensor] | None]:
        """Each level's statistics of the style photos (of each labelled region), and the photo's region masks.
        A region too small to measure at a level (under two feature pixels) is None there: the photo's region keeps
        its own features at that level."""
        style_features = [self.style_levels(style) for style in prepared]
        statistics: dict[str, list[FeatureStatistics | None]] = {}
        if labels is None:
            for layer in levels:
                statistics[layer] = [feature_statistics(features[layer]) for features in style_features]
            return statistics, None
        pairs = label_regions(labels[0], labels[1], size, (int(prepared[0].shape[-2]), int(prepared[0].shape[-1])))
        for layer in levels:
            features = style_features[0][layer]
            region_maps = [resize_mask(style_mask, feature_size(features)).clamp(0, 1) for _, style_mask in pairs]
            statistics[layer] = [
                feature_statistics(features, region) if float(region.sum()) >= 2 else None for region in region_maps
            ]
        return statistics, [content_mask for content_mask, _ in pairs]

    def stylize(
        self,
        content: Tensor,
        styles: Sequence[Tensor],
        *,
        weights: Sequence[float] | None = None,
        masks: Sequence[Tensor] | None = None,
        labels: tuple[Tensor, Tensor] | None = None,
        options: PhotoOptions | None = None,
    ) -> Tensor:
        """``content`` (1, 3, H, W) with style photos → the result (1, 3, H', W'); ``labels`` (photo labels, style
        labels) as images pair regions (one style photo only)."""
        options = options or PhotoOptions()
        check_inputs(content, styles, masks, None)
        check_style_sizes(styles)
        if weights is not None:
            normalised_blend(weights, len(styles))
        for index, mask in enumerate(masks or ()):
            check_aspect(f"mask {index + 1}", mask, content, "photo")
        if masks is not None and weights is not None and len(set(weights)) > 1:
            raise ConfigError("style weights and masks cannot be combined: the masks say where each style goes")
        if labels is not None:
            if len(styles) != 1 or masks is not None:
                raise ConfigError("label images pair regions of one style photo: give one style and no masks")
            check_aspect("the photo's label image", labels[0], content, "photo")
            check_aspect("the style's label image", labels[1], styles[0], "style photo")
        clock = StageClock("style", "encode", "decode", "smooth")
        size = fit_output_size(content.shape[-2:], options.size)
        if size[0] * size[1] > MAX_PIXELS:
            raise InputImageError(
                f"photo mode works on the whole picture at once: {size[1]}x{size[0]} is above its "
                f"{MAX_PIXELS // 1_000_000} MP limit (choose --size)"
            )
        content = content.float()
        content = resize_to(content, size) if size != tuple(content.shape[-2:]) else content
        long_side = max(MIN_STYLE_SIDE, round(max(size) * options.style_scale))
        prepared = [resize_long_side(style.float(), long_side) for style in styles]
        key = "-".join([*(pixels_key(style) for style in prepared), *(pixels_key(label) for label in labels or ())])
        key += f"-{options.levels}-{size}-{self.dtype}"
        cached = self._cache.get(key)
        if cached is None:
            cached = self._style_statistics(prepared, labels, size, options.levels)
            self._cache = {key: cached}  # one style setting at a time: a video or an app calls again with it
        statistics, region_masks = cached
        if region_masks is None and masks is not None:
            region_masks = list(masks)
        clock.lap("style")
        padded = pad_to_multiple(content, self.stride)

        def transform(layer: str, features: Tensor) -> Tensor:
            if layer not in statistics:
                return features
            feature_masks = None
            if region_masks is not None:
                shape = feature_size(features)
                feature_masks = [mask_at_features(mask, size, shape, self.stride) for mask in region_masks]
            chosen = [(index, item) for index, item in enumerate(statistics[layer]) if item is not None]
            if not chosen:
                return features
            if feature_masks is not None:
                feature_masks = [feature_masks[index] for index, _ in chosen]
            blend = None if labels is not None else weights
            kept = [item for _, item in chosen]
            result = whiten_and_colour(features.float(), kept, blend, feature_masks, options.alpha)
            return result.to(features.dtype)

        encoded = self._encode(padded, transform)
        clock.lap("encode")
        with torch.inference_mode(), torch.autocast(self.device.type, self.dtype, enabled=self.dtype != torch.float32):
            decoded = self.decoder(encoded.bottleneck, encoded.skips, encoded.pooled)
        result: Tensor = decoded.float().cpu()[..., : size[0], : size[1]].clamp(0, 1)
        clock.lap("decode")
        if options.smooth:
            result = guided_filter(content, result, radius=options.smooth_radius, eps=options.smooth_eps).clamp(0, 1)
        clock.lap("smooth")
        self.timings = clock.timings
        return result


def read_labels(pair: tuple[Path, Path]) -> tuple[Tensor, Tensor]:
    from ..image.io import load_image

    return load_image(pair[0]), load_image(pair[1])


def prepare(
    styles: Sequence[Tensor],
    options: PhotoOptions,
    *,
    weights: Sequence[float] | None = None,
    masks: Sequence[Tensor] | None = None,
    encoder: VGGEncoder | None = None,
) -> PreparedStyles:
    """The photorealistic mode with the shipped (or ``options.model``) decoder for ``styles`` (style photos)."""
    from ..decoder_model import load_shipped_photo_decoder

    styles = single_image_styles(styles)
    check_style_sizes(styles)  # before the networks load
    labels = read_labels(options.labels) if options.labels is not None else None
    stylizer = PhotoStylizer(
        load_shipped_photo_decoder(options.model), encoder=encoder, device=options.device, precision=options.precision
    )
    return PreparedStyles(stylizer, styles, options, weights=weights, masks=masks, labels=labels)


METHOD = Method(
    name="photo",
    summary="photorealistic transfer (WCT2-style wavelet encoder): the light and colours of a style photo",
    options_type=PhotoOptions,
    style_kind="images",
    prepare=prepare,
    weights=("vgg16", "photo_decoder"),
    strength_field="alpha",
)
