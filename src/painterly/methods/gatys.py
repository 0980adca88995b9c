"""Optimisation-based style transfer (Gatys, Ecker & Bethge 2015/16) with a coarse-to-fine pyramid.

The output pixels are optimised so that the frozen encoder sees the content's features at the content layers and the
style images' Gram matrices at the style layers, with a total-variation prior. Each pyramid level starts from the
upsampled result of the previous one.

>>> transfer = GatysTransfer(GatysConfig(size=64, iterations=(5,)), encoder=tiny_encoder)  # doctest: +SKIP
>>> result = transfer.run(content, [style])  # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

import torch
import torch.nn.functional as F

from ..config import GatysConfig
from ..devices import autocast, resolve_device, resolve_precision
from ..encoders.vgg import VGGEncoder, build_vgg
from ..encoders.vgg_pass import FastVGG, supports_fast_pass
from ..errors import ConfigError, PainterlyError
from ..image.color import ColorMode, finish_colors, prepare_content_colors, prepare_style_colors
from ..image.io import resize_long_side, resize_to
from ..losses import ContentLoss, StyleLoss, TemporalLoss, TotalVariationLoss
from ..ops import upsample_circular
from ..postprocess import apply_finish
from ..tiling import ALIGN, available_memory, choose_tile, encoder_pass_bytes
from .base import Method, PreviousResult, single_image_styles
from .evaluation import TiledEvaluator, WholeEvaluator, layer_stride
from .fused_evaluation import FusedEvaluator
from .one_pass_start import ONE_PASS_INITS, one_pass_start

Tensor = torch.Tensor
EARLY_STOP_WINDOW = 20
LBFGS_HISTORY = 50
TILE_HALO = 96
MEMORY_SHARE = 0.6
"""Share of the available memory one encoder pass may use before the image is tiled."""
TILE_MEMORY_CAP = 6 << 30
"""Most memory one tile's encoder pass may use."""
HISTORY_MEMORY_SHARE = 0.15
"""Share of the available memory the L-BFGS history may use."""
MIN_SIDE = 16
"""Shortest image side the encoder accepts (four 2x2 poolings before relu5_1)."""
FUSED_DEVICES = ("cpu", "cuda")
"""Devices the hand-written backward runs on (plain aten operators); elsewhere (MPS) autograd."""


@dataclass(frozen=True)
class Progress:
    """What a progress callback receives after every iteration."""

    level: int
    """Pyramid level, 0 = coarsest."""
    levels: int
    level_size: tuple[int, int]
    """(height, width) of this level."""
    step: int
    """Iteration within the level, from 1."""
    level_steps: int
    total_step: int
    total_steps: int
    losses: dict[str, float]
    """Weighted terms: ``total``, ``content``, ``style``, ``tv``."""
    layer_losses: dict[str, float]
    """Weighted loss of each layer: ``content/relu4_2``, ``style/relu1_1``, ..."""
    elapsed: float
    snapshot: Tensor = field(repr=False)
    finisher: Callable[[Tensor], Tensor] = field(repr=False)

    def image(self) -> Tensor:
        """The best image of the level so far as the final output would be (output size, colours, finishing),
        (1, 3, H, W) on the CPU."""
        return self.finisher(self.snapshot).cpu()


ProgressCallback = Callable[[Progress], None]


@dataclass
class GatysResult:
    image: Tensor
    """(1, 3, H, W) float32 in [0, 1], on the CPU."""
    losses: dict[str, float]
    """Weighted terms of the returned image (the best evaluation of the last level)."""
    layer_losses: dict[str, float]
    history: list[dict[str, float]]
    timings: dict[str, float]
    level_sizes: list[tuple[int, int]]
    iterations_run: list[int]
    stopped_early: list[bool]
    diverged: bool
    """True when a level stopped on a non-finite loss (the best image before it is kept)."""
    tiles: list[int | None]
    """Tile size used at each level, None where the whole image was evaluated in one pass."""
    device: str
    precision: str
    start: str = "content"
    """What the first level started from: ``wct`` or ``adain`` (that method's result), ``content``, ``noise``,
    ``mix``, or ``image`` (an image given by the caller)."""


def output_size(content_size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """(height, width) with the content's aspect ratio and ``long_side`` as the longer side."""
    height, width = content_size
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


class GatysTransfer:
    """Runs the optimisation for one configuration; reusable for several images with the same options."""

    def __init__(self, config: GatysConfig, *, encoder: VGGEncoder | None = None) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        self.dtype = resolve_precision(config.precision, self.device)
        started = time.perf_counter()
        layers = [*config.content_layers, *config.style_layers]
        if encoder is None:
            encoder = build_vgg(config.encoder, layers=layers, pooling="avg" if config.pooling == "avg" else "max")
        missing = [layer for layer in layers if layer not in encoder.layers]
        if missing:
            raise ConfigError(f"the encoder does not compute layer(s) {', '.join(missing)}")
        self.encoder = encoder.to(self.device).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.content_loss = ContentLoss(config.content_layers)
        self.style_loss = StyleLoss(config.style_layers)
        self.tv_loss = TotalVariationLoss(circular=config.tileable)
        self.encoder.set_padding_mode("circular" if config.tileable else "zeros")
        self.style_cache: dict[str, dict[str, Tensor]] = {}
        """Gram matrices of the style images seen so far, by pixels: a video's frames compute them once."""
        self.fast_encoder: FastVGG | None = None
        if config.backward == "fused" and self.device.type in FUSED_DEVICES and supports_fast_pass(self.encoder):
            self.fast_encoder = FastVGG(cast(VGGEncoder, self.encoder), dtype=self.dtype)
        self.setup_seconds = time.perf_counter() - started

    def _features(self, image: Tensor) -> dict[str, Tensor]:
        with autocast(self.device, self.dtype):
            features: dict[str, Tensor] = self.encoder(image.contiguous(memory_format=torch.channels_last))
        return features

    def run(
        self,
        content: Tensor,
        styles: Sequence[Tensor],
        *,
        masks: Sequence[Tensor] | None = None,
        init_image: Tensor | None = None,
        progress: ProgressCallback | None = None,
        temporal: TemporalLoss | None = None,
        temporal_weight: float = 0.0,
    ) -> GatysResult:
        """Stylise ``content`` (1, 3, H, W) with ``styles`` (each (1, 3, h, w)); see :class:`GatysConfig`.

        ``temporal`` (video) adds Ruder et al.'s temporal loss with ``temporal_weight`` (the term is reported as
        ``temporal`` in the losses)."""
        config = self.config
        check_inputs(content, styles, masks, init_image)
        color = cast(ColorMode, config.color)
        content = content.to(self.device, torch.float32)
        net_content = prepare_content_colors(content, color)
        net_styles = [prepare_style_colors(style.to(self.device, torch.float32), content, color) for style in styles]
        sizes = [output_size((content.shape[-2], content.shape[-1]), side) for side in config.level_sizes()]
        for size in sizes:
            if min(size) < MIN_SIDE:
                raise ConfigError(
                    f"a pyramid level would be {size[1]}x{size[0]} px; the encoder needs at least {MIN_SIDE} px "
                    "on the short side: use a larger --size or fewer --iterations levels"
                )
        tiles = [self._tile_for(size) for size in sizes]  # decided up front, so bad combinations fail at once
        started = time.perf_counter()
        start_kind = "image"
        if init_image is None:
            init_image, start_kind = self._one_pass_start(net_content, net_styles, masks, sizes[-1])
        start_seconds = time.perf_counter() - started
        content_at_output = resize_to(content, sizes[-1])

        def finisher(image: Tensor) -> Tensor:
            """What the user would get from this image: output size, colours, finishing filters."""
            if image.shape[-2:] != content_at_output.shape[-2:]:
                image = _upsample(image, sizes[-1], circular=config.tileable)
            return apply_finish(finish_colors(image.clamp(0, 1), content_at_output, color), config.finish)

        state = _RunState(
            started=time.perf_counter(),
            total_steps=sum(config.iterations),
            finisher=finisher,
            progress=progress,
            levels=config.levels,
        )
        state.timings["encoder_setup"] = self.setup_seconds
        state.timings["one_pass_start"] = start_seconds
        generator = torch.Generator().manual_seed(config.seed)
        image: Tensor | None = None
        for level, (size, steps, tile) in enumerate(zip(sizes, config.iterations, tiles, strict=True)):
            level_started = time.perf_counter()
            level_content = resize_to(net_content, size)
            evaluator = self._evaluator(tile, temporal_weight if temporal is not None else None)
            evaluator.temporal = temporal
            state.tiles.append(tile)
            self._set_targets(evaluator, level_content, net_styles, masks, size)
            if image is None:
                start = _initial_image(config, level_content, init_image, generator)
            else:
                start = _upsample(image, size, circular=config.tileable)
            state.timings[f"level{level}_targets"] = time.perf_counter() - level_started
            image = self._optimise_level(evaluator, start, level, steps, state)
            state.timings[f"level{level}"] = time.perf_counter() - level_started
            if isinstance(evaluator, FusedEvaluator):
                state.timings["encoder_passes"] = state.timings.get("encoder_passes", 0.0) + evaluator.encoder_seconds

        assert image is not None
        result = finisher(image)
        state.timings["total"] = time.perf_counter() - state.started
        return GatysResult(
            image=result.detach().cpu(),
            losses=state.best_losses,
            layer_losses=state.best_layer_losses,
            history=state.history,
            timings=state.timings,
            level_sizes=sizes,
            iterations_run=state.iterations_run,
            stopped_early=state.stopped_early,
            diverged=state.diverged,
            tiles=state.tiles,
            device=str(self.device),
            precision=str(self.dtype).removeprefix("torch."),
            start=start_kind,
        )

    def _one_pass_start(
        self, content: Tensor, styles: Sequence[Tensor], masks: Sequence[Tensor] | None, size: tuple[int, int]
    ) -> tuple[Tensor | None, str]:
        """The one-pass method's result to start from, or None for the content/noise starts; and the start's name.

        ``auto`` asks WCT, and starts from the content when the output must wrap (WCT's result does not) or WCT
        refuses these inputs (a style too thin to measure, weights combined with masks, its decoders unavailable)."""
        config = self.config
        kind = config.init
        if kind == "auto":
            if config.tileable:
                return None, "content"
            kind = "wct"
        if kind not in ONE_PASS_INITS:
            return None, kind
        try:
            image = one_pass_start(
                kind,
                content,
                styles,
                size=size,
                weights=config.style_blend,
                masks=masks,
                device=config.device,
                precision=config.precision,
            )
        except PainterlyError:
            if config.init != "auto":
                raise
            return None, "content"
        return image.to(self.device), kind

    def _tile_for(self, size: tuple[int, int]) -> int | None:
        """Tile size for a level: None = one pass over the whole image (it fits in memory or tiling is off)."""
        config = self.config
        tile = config.tile_size
        if tile is None:
            available = available_memory()
            half = self.dtype != torch.float32
            budget = int(MEMORY_SHARE * available) - _lbfgs_bytes(size, self._history_size(size, available))
            if budget < encoder_pass_bytes(size[0] * size[1], half_precision=half):
                budget = min(budget, TILE_MEMORY_CAP)  # once tiling, moderate tiles keep the peak well bounded
            tile = choose_tile(*size, budget=budget, half_precision=half, halo=TILE_HALO)
        if not tile or tile >= max(size):
            return None
        if config.tileable:
            raise ConfigError(
                f"--tileable needs the whole {size[1]}x{size[0]} image in one pass, which does not fit in memory; "
                "use a smaller --size"
            )
        deep = [layer for layer in [*config.content_layers, *config.style_layers] if layer_stride(layer) > ALIGN]
        if deep:
            raise ConfigError(f"layer(s) {', '.join(deep)} are too deep for tiled evaluation; use relu/conv layers")
        return tile

    def _evaluator(self, tile: int | None, temporal_weight: float | None = None) -> WholeEvaluator | TiledEvaluator:
        """One pass over the whole image, or tile by tile (see :mod:`.evaluation`)."""
        config = self.config
        weights = {"content": config.content_weight, "style": config.effective_style_weight, "tv": config.tv_weight}
        if temporal_weight is not None:
            weights["temporal"] = temporal_weight
        parts = (self._features, self.content_loss, self.style_loss, self.tv_loss, weights)
        evaluator: WholeEvaluator | TiledEvaluator
        if tile is None and self.fast_encoder is not None:
            evaluator = FusedEvaluator(*parts, fast=self.fast_encoder, style_tiler=self._style_tiler)
        elif tile is None:
            evaluator = WholeEvaluator(*parts, style_tiler=self._style_tiler)
        else:
            evaluator = TiledEvaluator(*parts, tile=tile, halo=TILE_HALO)
        evaluator.style_cache = self.style_cache
        return evaluator

    def _style_tiler(self, style: Tensor) -> int | None:
        """Tile size for computing a (possibly very large) style image's Gram matrices, None when it fits."""
        budget = min(int(MEMORY_SHARE * available_memory()), TILE_MEMORY_CAP)
        return choose_tile(*style.shape[-2:], budget=budget, half_precision=self.dtype != torch.float32, halo=TILE_HALO)

    @staticmethod
    def _history_size(size: tuple[int, int], available: int) -> int:
        """L-BFGS history length: the classic 50 pairs where memory allows, fewer for huge images."""
        vector_bytes = 3 * size[0] * size[1] * 4
        return max(5, min(LBFGS_HISTORY, int(HISTORY_MEMORY_SHARE * available) // (2 * vector_bytes)))

    def _set_targets(
        self,
        evaluator: WholeEvaluator | TiledEvaluator,
        content: Tensor,
        styles: Sequence[Tensor],
        masks: Sequence[Tensor] | None,
        size: tuple[int, int],
    ) -> None:
        """Content features and style Gram matrices for one pyramid level, computed once."""
        style_side = round(max(size) * self.config.style_scale)
        level_masks = None
        if masks is not None:
            level_masks = [resize_to(mask.to(self.device, torch.float32), size) for mask in masks]
        evaluator.set_targets(
            content,
            [resize_long_side(style, _style_long_side(style, style_side)) for style in styles],
            blend=self.config.style_blend,
            masks=level_masks,
        )

    def _optimise_level(
        self, evaluator: WholeEvaluator | TiledEvaluator, start: Tensor, level: int, steps: int, state: _RunState
    ) -> Tensor:
        """Run up to ``steps`` iterations from ``start``; return the best image evaluated."""
        config = self.config
        size = (start.shape[-2], start.shape[-1])
        pixels = start.detach().clone().contiguous().requires_grad_(True)
        optimizer = _make_optimizer(config, pixels, history=self._history_size(size, available_memory()))
        best_loss, best_image = math.inf, start.detach().clone()
        level_losses: list[float] = []

        def closure() -> float:
            nonlocal best_loss, best_image
            optimizer.zero_grad(set_to_none=False)
            if pixels.grad is None:
                pixels.grad = torch.zeros_like(pixels)
            evaluation = evaluator(pixels)
            if not pixels.grad.is_contiguous():
                pixels.grad = pixels.grad.contiguous()  # channels-last flows back; L-BFGS needs a flat view
            value = evaluation.total
            losses = {"total": value, **evaluation.terms}
            if value < best_loss:
                best_loss, best_image = value, pixels.detach().clone()
                state.best_losses, state.best_layer_losses = losses, evaluation.layer_terms
            level_losses.append(value)
            state.record(level, size, len(level_losses), steps, losses, evaluation.layer_terms, best_image)
            return value

        stopped = False
        for _ in range(steps):
            optimizer.step(closure)
            if not math.isfinite(level_losses[-1]):
                state.diverged = stopped = True
                break
            if _converged(level_losses, config.tolerance):
                stopped = True
                break
        state.iterations_run.append(len(level_losses))
        state.stopped_early.append(stopped)
        state.total_steps -= steps - len(level_losses)
        # The last step moved the pixels without evaluating them; keep the best evaluated image.
        return best_image if steps else start


@dataclass
class _RunState:
    """Bookkeeping of one run shared by its levels: history, latest losses, progress reporting."""

    started: float
    total_steps: int
    finisher: Callable[[Tensor], Tensor]
    progress: ProgressCallback | None
    levels: int
    done_steps: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    iterations_run: list[int] = field(default_factory=list)
    stopped_early: list[bool] = field(default_factory=list)
    tiles: list[int | None] = field(default_factory=list)
    best_losses: dict[str, float] = field(default_factory=dict)
    best_layer_losses: dict[str, float] = field(default_factory=dict)
    diverged: bool = False

    def record(
        self,
        level: int,
        size: tuple[int, int],
        step: int,
        steps: int,
        losses: dict[str, float],
        layer_losses: dict[str, float],
        snapshot: Tensor,
    ) -> None:
        self.done_steps += 1
        elapsed = time.perf_counter() - self.started
        self.history.append({"level": float(level), "step": float(step), "elapsed": elapsed, **losses, **layer_losses})
        if self.progress is not None:
            self.progress(
                Progress(
                    level=level,
                    levels=self.levels,
                    level_size=size,
                    step=step,
                    level_steps=steps,
                    total_step=self.done_steps,
                    total_steps=self.total_steps,
                    losses=dict(losses),
                    layer_losses=dict(layer_losses),
                    elapsed=elapsed,
                    snapshot=snapshot,
                    finisher=self.finisher,
                )
            )


def check_inputs(
    content: Tensor, styles: Sequence[Tensor], masks: Sequence[Tensor] | None, init_image: Tensor | None
) -> None:
    if content.ndim != 4 or content.shape[:2] != (1, 3):
        raise ConfigError(f"content must be a (1, 3, H, W) image tensor, got shape {tuple(content.shape)}")
    if not styles:
        raise ConfigError("at least one style image is needed")
    for index, style in enumerate(styles):
        if style.ndim != 4 or style.shape[:2] != (1, 3):
            raise ConfigError(f"style {index + 1} must be a (1, 3, H, W) image tensor, got {tuple(style.shape)}")
    if masks is not None:
        if len(masks) != len(styles):
            raise ConfigError(f"got {len(masks)} mask(s) for {len(styles)} style image(s): give one per style")
        for index, mask in enumerate(masks):
            if mask.ndim != 4 or mask.shape[:2] != (1, 1):
                raise ConfigError(f"mask {index + 1} must be a (1, 1, H, W) tensor, got {tuple(mask.shape)}")
    if init_image is not None and (init_image.ndim != 4 or init_image.shape[:2] != (1, 3)):
        raise ConfigError(f"init image must be a (1, 3, H, W) tensor, got {tuple(init_image.shape)}")


def _initial_image(
    config: GatysConfig, content: Tensor, init_image: Tensor | None, generator: torch.Generator
) -> Tensor:
    size = (content.shape[-2], content.shape[-1])
    if init_image is not None:
        return resize_to(init_image.to(content.device, torch.float32), size)
    if config.init in ("content", "auto"):
        return content.clone()
    noise = torch.rand(content.shape, generator=generator).to(content.device)
    if config.init == "noise":
        return noise
    if config.init == "mix":
        return (1.0 - config.init_noise) * content + config.init_noise * noise
    raise ConfigError(f"init '{config.init}' is an image path: load it and pass it as init_image")


def _style_long_side(style: Tensor, wanted: int) -> int:
    """``wanted``, raised so that the style's short side is at least MIN_SIDE."""
    height, width = style.shape[-2:]
    return max(wanted, math.ceil(MIN_SIDE * max(height, width) / min(height, width)))


def _upsample(image: Tensor, size: tuple[int, int], *, circular: bool) -> Tensor:
    if circular:
        return upsample_circular(image, size).clamp(0, 1)
    return F.interpolate(image, size=size, mode="bicubic", align_corners=False).clamp(0, 1)


def _lbfgs_bytes(size: tuple[int, int], history: int) -> int:
    return 2 * history * 3 * size[0] * size[1] * 4


def _make_optimizer(config: GatysConfig, pixels: Tensor, *, history: int = LBFGS_HISTORY) -> torch.optim.Optimizer:
    if config.optimizer == "lbfgs":
        # One iteration per step() keeps the history across calls and lets us report, stop and save each iteration.
        return torch.optim.LBFGS(
            [pixels],
            lr=config.effective_learning_rate,
            max_iter=1,
            history_size=history,
            tolerance_grad=0.0,
            tolerance_change=0.0,
        )
    return torch.optim.Adam([pixels], lr=config.effective_learning_rate)


def _converged(losses: list[float], tolerance: float) -> bool:
    """True when the loss improved by less than ``tolerance`` per iteration (relative) over the last window."""
    if tolerance <= 0 or len(losses) <= EARLY_STOP_WINDOW:
        return False
    before, now = min(losses[:-EARLY_STOP_WINDOW]), min(losses[-EARLY_STOP_WINDOW:])
    if now <= 0:
        return True
    return (before - now) / now < tolerance * EARLY_STOP_WINDOW


TEMPORAL_LOSS_SCALE = 2e4
"""Temporal-loss weight at ``--temporal 1`` (content weight 1): the loss is a mean over pixels of squared [0, 1]
differences, so it needs a large weight to count beside the content and style terms."""


class GatysStylizer:
    """The optimisation prepared for its styles: call it once per image or video frame.

    The styles' Gram matrices are computed once per output size and reused (:attr:`GatysTransfer.style_cache`).
    With ``previous`` (a video's earlier result warped into this frame), the optimisation starts from it, runs
    ``config.effective_frame_iterations`` and adds the temporal loss (Ruder et al. 2016) weighted by the
    consistency mask. :attr:`last_result` keeps the losses, history and timings of the last call.
    """

    def __init__(
        self,
        styles: Sequence[Tensor],
        config: GatysConfig,
        *,
        masks: Sequence[Tensor] | None = None,
        init_image: Tensor | None = None,
        encoder: VGGEncoder | None = None,
    ) -> None:
        check_inputs(torch.zeros(1, 3, 1, 1), styles, masks, init_image)
        self.styles, self.masks, self.config, self.init_image = list(styles), masks, config, init_image
        self.transfer = GatysTransfer(config, encoder=encoder)
        self._frame_transfer: GatysTransfer | None = None
        self.last_result: GatysResult | None = None

    def __call__(
        self, frame: Tensor, *, previous: PreviousResult | None = None, progress: ProgressCallback | None = None
    ) -> Tensor:
        if previous is None:
            result = self.transfer.run(
                frame, self.styles, masks=self.masks, init_image=self.init_image, progress=progress
            )
        else:
            result = self.frame_transfer.run(
                frame,
                self.styles,
                masks=self.masks,
                init_image=previous.image,
                progress=progress,
                temporal=TemporalLoss(previous.image, previous.mask),
                temporal_weight=TEMPORAL_LOSS_SCALE * previous.strength,
            )
        self.last_result = result
        return result.image

    @property
    def frame_transfer(self) -> GatysTransfer:
        """The optimisation for later video frames: their iterations, the same encoder and style cache."""
        if self._frame_transfer is None:
            config = self.config.replace(iterations=self.config.effective_frame_iterations, init="content")
            self._frame_transfer = GatysTransfer(config, encoder=self.transfer.encoder)
            self._frame_transfer.style_cache = self.transfer.style_cache
        return self._frame_transfer


def prepare(
    styles: Sequence[Tensor],
    options: GatysConfig,
    *,
    weights: Sequence[float] | None = None,
    masks: Sequence[Tensor] | None = None,
    encoder: VGGEncoder | None = None,
) -> GatysStylizer:
    """The optimisation for ``styles`` (image tensors); ``weights`` override ``options.style_blend``; an init image
    named in ``options.init`` is read here."""
    from ..config import INIT_KINDS
    from ..image.io import load_image

    styles = single_image_styles(styles)
    if weights is not None:
        options = options.replace(style_blend=tuple(float(weight) for weight in weights))
    init_image = None if options.init in INIT_KINDS else load_image(options.init)
    return GatysStylizer(styles, options, masks=masks, init_image=init_image, encoder=encoder)


METHOD = Method(
    name="gatys",
    summary="optimisation (Gatys et al.): best quality, seconds to minutes per image",
    options_type=GatysConfig,
    style_kind="images",
    prepare=prepare,
    weights=("vgg16",),
    uses_previous=True,
    slow=True,
    strength_field="strength",
)
