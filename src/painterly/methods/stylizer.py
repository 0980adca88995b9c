"""Running a trained :class:`StyleNetwork` on photos of any size: blends, strength, colour, precision, tiles.

>>> stylizer = NetworkStylizer(network, ["starry_night", "the_scream"])          # doctest: +SKIP
>>> picture = stylizer.stylize(photo, {"starry_night": 0.7, "the_scream": 0.3}, strength=0.8)  # doctest: +SKIP

Images above ``max_pass_pixels`` are processed in tiles. The instance-norm statistics of every layer are first
recorded on the whole image (scaled down to ``max_pass_pixels`` if needed) and then shared by all tiles; each tile
is run with a halo wider than the network's receptive field and only its interior is kept, so tiles cannot disagree
and no seams form (with statistics from the full-size image the tiled result equals the untiled one; tested).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor

from ..devices import prepare_for_inference, resolve_device, resolve_precision, run_inference
from ..errors import ConfigError
from ..image.color import finish_colors, prepare_content_colors
from ..image.io import resize_to
from ..presets import check_network
from ..tiling import ALIGN, Tile, assemble_tiles, default_tile
from .base import Method, PreviousResult, ProgressCallback, check_runtime
from .feedforward import NormStatistics, StyleNetwork, blend_weights, style_weights
from .gatys import output_size

FEEDFORWARD_COLOR_MODES = ("none", "luminance")
DEFAULT_MAX_PASS_PIXELS = 2048 * 2048


@dataclass(frozen=True)
class StylizeOptions:
    """Inference options shared by the CLI and the API.

    ``strength`` mixes the result with the content (0 returns the content, 1 the network's output); ``style_scale``
    above 1 makes brush strokes larger (the network runs on a smaller copy), below 1 smaller; ``size`` is the
    output's long side (None: the photo's own size). ``network`` picks the shipped preset network: ``quality`` (the
    default, the stronger network for stills) or ``fast`` (about 10 % faster, the one the studio's webcam mode runs);
    ``model`` wins over it.
    """

    strength: float = 1.0
    color: str = "none"
    style_scale: float = 1.0
    size: int | None = None
    tile_size: int | None = None
    max_pass_pixels: int = DEFAULT_MAX_PASS_PIXELS
    device: str = "auto"
    precision: str = "auto"
    model: Path | None = None
    """A model file from ``painterly train feedforward`` instead of the shipped presets."""
    network: str = "quality"
    """The shipped preset network: "quality" (default) or "fast"."""

    def __post_init__(self) -> None:
        if not (0.0 <= self.strength <= 1.0):
            raise ConfigError(f"strength must be within 0..1, got {self.strength}")
        check_network(self.network)
        check_one_pass_options(self, FEEDFORWARD_COLOR_MODES)


class OnePassOptions(Protocol):
    """The fields the one-pass methods (presets, arbitrary style) share."""

    @property
    def color(self) -> str: ...
    @property
    def style_scale(self) -> float: ...
    @property
    def size(self) -> int | None: ...
    @property
    def tile_size(self) -> int | None: ...
    @property
    def max_pass_pixels(self) -> int: ...
    @property
    def device(self) -> str: ...
    @property
    def precision(self) -> str: ...


def check_one_pass_options(options: OnePassOptions, color_modes: tuple[str, ...]) -> None:
    """Validate the options the one-pass methods share; a ConfigError names the bad one."""
    if options.color not in color_modes:
        raise ConfigError(f"unknown color mode '{options.color}' here: choose one of {', '.join(color_modes)}")
    if not (0.1 <= options.style_scale <= 8.0):
        raise ConfigError(f"style_scale must be within 0.1..8, got {options.style_scale}")
    if options.size is not None and options.size < 16:
        raise ConfigError(f"size must be at least 16 pixels, got {options.size}")
    if options.tile_size is not None and (options.tile_size < 64 or options.tile_size % ALIGN):
        raise ConfigError(f"tile size must be a multiple of {ALIGN} and at least 64, got {options.tile_size}")
    if options.max_pass_pixels < 64 * 64:
        raise ConfigError("max_pass_pixels must be at least 4096")
    check_runtime(options.device, options.precision)


class NetworkStylizer:
    """A trained network ready for inference on one device and precision."""

    def __init__(
        self, network: StyleNetwork, style_names: list[str], *, device: str = "auto", precision: str = "auto"
    ) -> None:
        if len(style_names) != network.spec.styles:
            raise ConfigError(f"{len(style_names)} style names for a network with {network.spec.styles} styles")
        self.device = resolve_device(device)
        self.dtype = resolve_precision(precision, self.device)
        prepare_for_inference(network, self.device)
        self.network = network
        self.style_names = list(style_names)

    @property
    def halo(self) -> int:
        """Context around each tile: the receptive-field radius plus one stride, rounded up to the tile lattice."""
        spec = self.network.spec
        return int(math.ceil((spec.receptive_radius + spec.stride) / ALIGN) * ALIGN)

    def weights_for(self, blend: Mapping[str, float]) -> Tensor:
        return style_weights(len(self.style_names), blend_weights(self.style_names, blend)).to(self.device)

    def stylize(self, content: Tensor, blend: Mapping[str, float], options: StylizeOptions | None = None) -> Tensor:
        """``content`` (1, 3, H, W) in [0, 1] → the stylised image (1, 3, H', W') in [0, 1], fp32 on the CPU."""
        options = options or StylizeOptions()
        if content.ndim != 4 or content.shape[:2] != (1, 3):
            raise ConfigError(f"expected one RGB image (1, 3, H, W), got shape {tuple(content.shape)}")
        weights = self.weights_for(blend)
        output_size = fit_output_size(content.shape[-2:], options.size)
        content = resize_to(content, output_size) if output_size != tuple(content.shape[-2:]) else content
        if options.strength == 0.0:
            return content.clone()
        run_size = fit_output_size(output_size, round(max(output_size) / options.style_scale))
        network_input = prepare_content_colors(content, "luminance" if options.color == "luminance" else "none")
        if run_size != output_size:
            network_input = resize_to(network_input, run_size)
        styled = self.run(network_input, weights, tile_size=options.tile_size, max_pass_pixels=options.max_pass_pixels)
        if run_size != output_size:
            styled = resize_to(styled, output_size)
        styled = finish_colors(styled, content, "luminance" if options.color == "luminance" else "none").clamp(0, 1)
        if options.strength < 1.0:
            styled = options.strength * styled + (1.0 - options.strength) * content
        return styled

    def run(
        self,
        image: Tensor,
        weights: Tensor,
        *,
        tile_size: int | None = None,
        max_pass_pixels: int = DEFAULT_MAX_PASS_PIXELS,
        statistics_image: Tensor | None = None,
    ) -> Tensor:
        """The network's output for ``image``, in one pass or in tiles (``tile_size``, or when above
        ``max_pass_pixels``). ``statistics_image`` overrides where the tiles' norm statistics come from."""
        height, width = image.shape[-2:]
        if tile_size is None and height * width <= max_pass_pixels:
            return self._forward(image, weights)
        if tile_size is None:
            tile_size = default_tile(max_pass_pixels, self.halo)
        if statistics_image is None:
            statistics_image = image
            if height * width > max_pass_pixels:
                shrink = math.sqrt(max_pass_pixels / (height * width))
                statistics_image = resize_to(image, (max(1, int(height * shrink)), max(1, int(width * shrink))))
        statistics = NormStatistics()

        def compute(tile: Tile) -> Tensor:
            statistics.replay()
            return self._forward(image[..., tile.py0 : tile.py1, tile.px0 : tile.px1], weights)

        with self.network.shared_statistics(statistics):
            self._forward(statistics_image, weights)
            return assemble_tiles(height, width, tile=tile_size, halo=self.halo, channels=3, compute=compute)

    def _forward(self, image: Tensor, weights: Tensor) -> Tensor:
        return run_inference(self.network, image, self.device, self.dtype, weights)


def fit_output_size(size: tuple[int, int] | torch.Size, long_side: int | None) -> tuple[int, int]:
    """``size`` scaled to ``long_side`` (the Gatys method's rule), or unchanged when None or already that size."""
    height, width = int(size[0]), int(size[1])
    if long_side is None or long_side == max(height, width):
        return height, width
    return output_size((height, width), long_side)


class PresetStylizer:
    """A preset network prepared for one blend of its styles: call it once per image or video frame."""

    def __init__(self, stylizer: NetworkStylizer, blend: Mapping[str, float], options: StylizeOptions) -> None:
        stylizer.weights_for(blend)  # validates the names now, not at the first frame
        self.stylizer, self.blend, self.options = stylizer, dict(blend), options

    def __call__(
        self, frame: Tensor, *, previous: PreviousResult | None = None, progress: ProgressCallback | None = None
    ) -> Tensor:
        return self.stylizer.stylize(frame, self.blend, self.options)


def prepare(
    styles: Sequence[str],
    options: StylizeOptions,
    *,
    weights: Sequence[float] | None = None,
    masks: Sequence[Tensor] | None = None,
) -> PresetStylizer:
    """The shipped preset network ``options.network`` (or ``options.model``) for the styles named in ``styles``,
    blended by ``weights``."""
    from ..losses import normalised_blend
    from ..presets import load_presets

    if masks:
        raise ConfigError("presets take no masks: use --style images (method adain or gatys) for masked styles")
    if not styles or not all(isinstance(name, str) for name in styles):
        raise ConfigError("presets are chosen by name, e.g. 'starry_night' or 'starry_night:0.7,the_scream:0.3'")
    shares = normalised_blend(weights, len(styles))
    blend: dict[str, float] = {}
    for name, share in zip(styles, shares, strict=True):
        blend[name] = blend.get(name, 0.0) + share
    network, names = load_presets(options.model, network=options.network)
    return PresetStylizer(
        NetworkStylizer(network, names, device=options.device, precision=options.precision), blend, options
    )


METHOD = Method(
    name="preset",
    summary="real-time presets (Johnson et al., Dumoulin et al.): one network pass, ten trained styles",
    options_type=StylizeOptions,
    style_kind="presets",
    prepare=prepare,
    weights=("presets",),
    supports_masks=False,
    strength_field="strength",
)
