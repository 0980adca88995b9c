"""Neural style transfer for density volumes (Kim et al. 2019, "Transport-based neural style transfer for smoke").

The density is not painted directly: a velocity field moves it (advected in flux form, so the mass is conserved),
and the velocity is what the optimisation changes — from a stream function (its curl is divergence-free: the smoke
only moves) or a potential (compressible: it may also gather and spread). Every step renders the moved density from
a few jittered cameras around it and compares the views with the style image through VGG16's Gram matrices, plus a
content term that keeps each view's silhouette. Coarse to fine over grid sizes; a direct density mode is there for
comparison. A sequence of frames starts each frame's velocity from the previous frame's, so the style does not
flicker.

>>> transfer = VolumeStyleTransfer([style_image], VolumeOptions(strength=0.6))   # doctest: +SKIP
>>> result = transfer.run(density, progress=print)                             # doctest: +SKIP
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..config import DEFAULT_STYLE_LAYERS
from ..devices import autocast, resolve_precision
from ..encoders.vgg import VGGEncoder, vgg16
from ..errors import ConfigError, TrainingError
from ..image.color import luminance_as_rgb
from ..image.io import resize_long_side
from ..losses import StyleLoss
from ..ops import gram_matrix, resize_mask
from .render import (
    Camera,
    RenderSettings,
    opacity_views,
    render_views_and_opacity,
    sample_cameras,
    turntable_cameras,
)
from .transport import advect, stream_function_shape, velocity_from_potential, velocity_from_stream_function

Mode = Literal["incompressible", "compressible", "density"]
MODES: tuple[Mode, ...] = ("incompressible", "compressible", "density")
BASE_STYLE_WEIGHT = 20.0
"""Style weight at strength 0.5 against a content (silhouette) weight of 1; strength moves it over four decades."""
STRENGTH_DECADES = 4.0
SMOKE_MASK_OPACITY = 0.05
"""Opacity at which a pixel of the input's silhouette counts fully as smoke for the style statistics."""
SMOKE_MASK_GROWTH = 5
"""Pixels (of the view) the smoke region is grown by, so that the style may move the smoke a little outwards."""
StyleRegion = Literal["smoke", "view"]
STYLE_REGIONS: tuple[StyleRegion, ...] = ("smoke", "view")
MIN_EXPOSURE, MAX_EXPOSURE = 0.1, 100.0
EXPOSURE_VIEWS = 6
MIN_LEVEL_SIDE = 16
"""Coarser levels than this teach the velocity nothing the renderer can show."""


def style_weight_for_strength(strength: float) -> float:
    return float(BASE_STYLE_WEIGHT * 10.0 ** (STRENGTH_DECADES * (strength - 0.5)))


@dataclass(frozen=True)
class VolumeOptions:
    """Every option of volume style transfer; validated on construction."""

    strength: float = 0.5
    style_weight: float | None = None
    """Overrides ``strength`` (content weight 1)."""
    style_blend: tuple[float, ...] | None = None
    mode: Mode = "incompressible"
    iterations: tuple[int, ...] = (80, 60)
    """Steps per level, coarse to fine: the grid halves from one level to the one below."""
    views: int = 3
    """Cameras per step, azimuths stratified around the volume, elevations in ``elevation_range``."""
    elevation_range: tuple[float, float] = (-15.0, 15.0)
    render_size: int = 128
    """Side of each rendered view in pixels (what VGG16 sees)."""
    style_size: int = 256
    """Long side of the style image: larger means finer style features on the smoke."""
    learning_rate: float = 0.05
    """Adam's step on the stream function / potential (voxel units of the level) or on the density."""
    style_region: StyleRegion = "smoke"
    """Where each view's style statistics are taken: inside the input's silhouette (``smoke``, the guided Gram
    matrix), or over the whole view, background included (``view``)."""
    exposure: float | None = None
    """The views VGG16 sees are exposed as film is, ``1 - exp(-exposure * view)`` (bright smoke saturates softly,
    never clips); None: set once (on the first grid) so that the smoke's mean brightness inside its silhouette (six
    views around) matches the style's mean luminance. Sequences keep the first frame's, so it cannot flicker."""
    absorption: float = 4.0
    light: tuple[float, float, float] | None = (0.5, 1.0, 0.3)
    seed: int = 0
    precision: str = "auto"

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise ConfigError(f"strength must be within 0..1, got {self.strength}")
        if self.style_weight is not None and not (self.style_weight >= 0 and math.isfinite(self.style_weight)):
            raise ConfigError(f"style weight must be a finite number of at least 0, got {self.style_weight}")
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not self.iterations or any(steps < 0 for steps in self.iterations):
            raise ConfigError(f"iterations must be one or more counts of at least 0, got {list(self.iterations)}")
        if self.style_region not in STYLE_REGIONS:
            raise ConfigError(f"style region must be one of {', '.join(STYLE_REGIONS)}, got {self.style_region!r}")
        if self.views < 1:
            raise ConfigError(f"views must be at least 1, got {self.views}")
        if self.render_size < 32 or self.style_size < 32:
            raise ConfigError("render size and style size must be at least 32 px (VGG16 pools five times)")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ConfigError(f"learning rate must be a positive number, got {self.learning_rate}")
        if self.exposure is not None and not (self.exposure > 0 and math.isfinite(self.exposure)):
            raise ConfigError(f"exposure must be a positive number, got {self.exposure}")
        if self.seed < 0:
            raise ConfigError(f"seed must be at least 0, got {self.seed}")
        low, high = self.elevation_range
        if not -90.0 <= low <= high <= 90.0:
            raise ConfigError(f"elevation range must be within -90..90 and low <= high, got {self.elevation_range}")
        self.render_settings()

    @property
    def effective_style_weight(self) -> float:
        return self.style_weight if self.style_weight is not None else style_weight_for_strength(self.strength)

    def render_settings(self) -> RenderSettings:
        return RenderSettings(absorption=self.absorption, light=self.light, resolution=self.render_size)


@dataclass(frozen=True)
class VolumeProgress:
    level: int
    levels: int
    grid: tuple[int, int, int]
    step: int
    steps: int
    total_step: int
    total_steps: int
    losses: dict[str, float]
    elapsed: float


VolumeProgressCallback = Callable[[VolumeProgress], None]


@dataclass
class VolumeResult:
    density: Tensor
    """The stylised grid at the input's size."""
    parameters: Tensor
    """The finest level's stream function, potential or density change: where the next frame of a sequence starts."""
    losses: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False


@dataclass
class VolumeCheckpoint:
    """Where a run stands after a step: enough to continue it exactly (same cameras, same Adam state)."""

    level: int
    step: int
    """Steps done on ``level``."""
    parameters: Tensor
    optimizer: dict[str, Any]
    generator: Tensor
    history: list[dict[str, float]]
    seconds: float
    exposure: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VolumeCheckpoint:
        return cls(**data)


def level_shapes(shape: tuple[int, int, int], levels: int) -> list[tuple[int, int, int]]:
    """Grid shapes coarse to fine: each level halves the one above (rounded up), never below 16 voxels a side."""
    shapes = [shape]
    for _ in range(levels - 1):
        coarser = tuple(max(1, math.ceil(side / 2)) for side in shapes[0])
        if min(coarser) < MIN_LEVEL_SIDE:
            break
        shapes.insert(0, (coarser[0], coarser[1], coarser[2]))
    return shapes


def resample_density(density: Tensor, shape: tuple[int, int, int]) -> Tensor:
    """Trilinear resampling that keeps the opacity of a ray: density values, not masses, are interpolated."""
    if tuple(density.shape) == shape:
        return density
    return F.interpolate(density[None, None], size=shape, mode="trilinear", align_corners=False)[0, 0].clamp_min(0)


def parameter_shape(mode: Mode, shape: tuple[int, int, int]) -> tuple[int, ...]:
    return stream_function_shape(shape) if mode == "incompressible" else shape


def refine_parameters(mode: Mode, parameters: Tensor, shape: tuple[int, int, int]) -> Tensor:
    """Carry a level's parameters to a finer grid. A stream function or potential sampled on a grid twice as fine
    must be four times larger to move the smoke as far (velocity = its differences, in voxels of the level)."""
    target = parameter_shape(mode, shape)
    if mode == "density":
        return resample_density_change(parameters, shape)
    batched = parameters if parameters.ndim == 4 else parameters[None]
    source_side = max(batched.shape[-3:])
    target_side = max(target[-3:])
    scale = (target_side / source_side) ** 2
    refined = F.interpolate(batched[None], size=tuple(target[-3:]), mode="trilinear", align_corners=True)[0]
    return (refined if parameters.ndim == 4 else refined[0]) * scale


def resample_density_change(change: Tensor, shape: tuple[int, int, int]) -> Tensor:
    return F.interpolate(change[None, None], size=shape, mode="trilinear", align_corners=False)[0, 0]


def expose(views: Tensor, exposure: float) -> Tensor:
    """Film-like exposure: ``1 - exp(-exposure * views)``, in [0, 1), smooth, monotone."""
    return -torch.expm1(-exposure * views)


def exposure_matching(views: Tensor, region: Tensor, brightness: float) -> float:
    """The exposure at which the mean of ``expose(views)`` over ``region`` is ``brightness`` (bisection in log
    space within [MIN_EXPOSURE, MAX_EXPOSURE])."""
    area = region.sum().clamp_min(1e-6)
    low, high = math.log(MIN_EXPOSURE), math.log(MAX_EXPOSURE)
    for _ in range(40):
        middle = (low + high) / 2
        if float((expose(views, math.exp(middle)) * region).sum() / area) < brightness:
            low = middle
        else:
            high = middle
    return math.exp((low + high) / 2)


def smoke_region(outlines: Tensor) -> Tensor:
    """(V, 1, H, W) weights in [0, 1]: where the input's silhouettes show smoke, grown by a few pixels."""
    region = (outlines / SMOKE_MASK_OPACITY).clamp(0.0, 1.0)
    grown = F.max_pool2d(region, SMOKE_MASK_GROWTH, stride=1, padding=SMOKE_MASK_GROWTH // 2)
    return F.avg_pool2d(grown, 3, stride=1, padding=1, count_include_pad=False)


def _at(region: Tensor | None, features: Tensor) -> Tensor | None:
    return None if region is None else resize_mask(region, (features.shape[-2], features.shape[-1]))


class VolumeStyleTransfer:
    """The style targets are computed once; :meth:`run` stylises one density grid (a frame)."""

    def __init__(self, styles: Sequence[Tensor], options: VolumeOptions, *, encoder: VGGEncoder | None = None) -> None:
        if not styles:
            raise ConfigError("give at least one style image")
        self.options = options
        self.encoder = encoder if encoder is not None else vgg16(layers=list(DEFAULT_STYLE_LAYERS))
        self.encoder.eval().requires_grad_(False)
        self.dtype = resolve_precision(options.precision, torch.device("cpu"))
        self.style_loss = StyleLoss({layer: 1.0 for layer in DEFAULT_STYLE_LAYERS if layer in self.encoder.layers})
        with torch.no_grad():
            features = [
                self._features(luminance_as_rgb(resize_long_side(style, options.style_size))) for style in styles
            ]
        self.style_loss.set_target(features, blend=options.style_blend)
        self.render_settings = options.render_settings()
        blend = options.style_blend or tuple(1.0 for _ in styles)
        self.style_brightness = sum(
            weight * float(luminance_as_rgb(style).mean()) for weight, style in zip(blend, styles, strict=True)
        ) / sum(blend)
        self.exposure = options.exposure

    def _features(self, images: Tensor) -> dict[str, Tensor]:
        with autocast(torch.device("cpu"), self.dtype):
            return dict(self.encoder(images.contiguous(memory_format=torch.channels_last)))

    def moved(self, content: Tensor, parameters: Tensor) -> Tensor:
        """The density the parameters make of ``content`` (same grid)."""
        mode = self.options.mode
        if mode == "density":
            return (content + parameters).clamp_min(0.0)
        velocity = (
            velocity_from_stream_function(parameters)
            if mode == "incompressible"
            else velocity_from_potential(parameters)
        )
        return advect(content, velocity, dt=1.0)

    def exposure_for(self, content: Tensor) -> float:
        """The exposure of the views: the option's, else fixed from the first grid it sees (see ``VolumeOptions``)."""
        if self.exposure is None:
            with torch.no_grad():
                cameras = turntable_cameras(EXPOSURE_VIEWS, 0.0)
                views, outlines = render_views_and_opacity(content, cameras, self.render_settings)
                region = smoke_region(outlines)
            self.exposure = exposure_matching(views, region, self.style_brightness)
        return self.exposure

    def masked_grams(self, views: Tensor, region: Tensor | None) -> list[Tensor]:
        """Gram matrices (fp32) of grey ``views`` (V, 1, H, W) at the style layers, in the targets' order, weighted by
        ``region`` (V, 1, H, W) where given."""
        features = self._features(views.expand(-1, 3, -1, -1))
        return [
            gram_matrix(features[layer], _at(region, features[layer])).float() for layer in self.style_loss.targets[0]
        ]

    def losses(self, density: Tensor, content: Tensor, cameras: Sequence[Camera]) -> dict[str, Tensor]:
        """Style (mean over the views) and content (the silhouettes' mean squared difference) terms, and the total."""
        views, silhouettes = render_views_and_opacity(density, cameras, self.render_settings)
        with torch.no_grad():
            outlines = opacity_views(content, cameras, self.render_settings)
            region = smoke_region(outlines) if self.options.style_region == "smoke" else None
        targets = self.style_loss.targets[0]
        views = expose(views, self.exposure_for(content))
        # Mean over the views of each view's Gram-matrix MSE, summed over the layers.
        grams = self.masked_grams(views, region)
        style = torch.stack(
            [(gram - targets[layer]).square().mean() for gram, layer in zip(grams, targets, strict=True)]
        ).sum()
        content_term = (silhouettes - outlines).square().mean()
        total = self.options.effective_style_weight * style + content_term
        return {"total": total, "style": style, "content": content_term}

    def run(
        self,
        density: Tensor,
        *,
        start: Tensor | None = None,
        iterations: Sequence[int] | None = None,
        progress: VolumeProgressCallback | None = None,
        on_level: Callable[[int, Tensor], None] | None = None,
        resume: VolumeCheckpoint | None = None,
        on_checkpoint: Callable[[VolumeCheckpoint], None] | None = None,
        checkpoint_every: int = 10,
    ) -> VolumeResult:
        """Stylise ``density`` (D, H, W). ``start``: finest-level parameters to begin from (a previous frame's),
        which skips the coarse levels; ``iterations`` overrides the options' steps per level. After an exception
        (Ctrl-C) :attr:`latest` holds the best result so far and :attr:`checkpoint` the state after the last step.

        ``on_checkpoint`` receives that state every ``checkpoint_every`` steps and at the end of each level;
        ``resume`` (such a state, from a run with the same input, options and ``start``) continues exactly where it
        was taken."""
        options = self.options
        schedule = list(iterations if iterations is not None else options.iterations)
        shapes = level_shapes((density.shape[0], density.shape[1], density.shape[2]), len(schedule))
        schedule = schedule[-len(shapes) :]
        if start is not None:
            shapes, schedule = shapes[-1:], schedule[-1:]
        if resume is not None and not (
            0 <= resume.level < len(shapes)
            and 0 <= resume.step <= schedule[resume.level]
            and tuple(resume.parameters.shape) == parameter_shape(options.mode, shapes[resume.level])
        ):
            raise ConfigError("the checkpoint does not fit this run's grid and schedule")
        if resume is not None and resume.exposure is not None and options.exposure is None:
            self.exposure = resume.exposure
        self.exposure_for(density)  # from the input at its own size, before the levels: a resumed run sees the same
        generator = torch.Generator().manual_seed(options.seed)
        started = time.perf_counter() - (resume.seconds if resume is not None else 0.0)
        history: list[dict[str, float]] = list(resume.history) if resume is not None else []
        total_steps = sum(schedule)
        done = sum(schedule[: resume.level]) + resume.step if resume is not None else 0
        parameters = (
            start.detach().clone() if start is not None else torch.zeros(parameter_shape(options.mode, shapes[0]))
        )
        first_level = 0
        if resume is not None:
            parameters, first_level = resume.parameters.detach().clone(), resume.level
            generator.set_state(resume.generator)
        self.latest = VolumeResult(density=density.clone(), parameters=parameters.clone(), losses={})
        self.checkpoint: VolumeCheckpoint | None = resume
        best = {key: value for key, value in (history[-1] if history else {}).items() if key not in ("level", "step")}
        for level in range(first_level, len(shapes)):
            shape, steps = shapes[level], schedule[level]
            if tuple(parameters.shape[-3:]) != tuple(parameter_shape(options.mode, shape)[-3:]):
                parameters = refine_parameters(options.mode, parameters, shape)
            content = resample_density(density, shape)
            parameters = parameters.detach().requires_grad_(True)
            optimizer = torch.optim.Adam([parameters], lr=options.learning_rate)
            first_step = 1
            if resume is not None and level == resume.level:
                optimizer.load_state_dict(resume.optimizer)
                first_step = resume.step + 1
            for step in range(first_step, steps + 1):
                cameras = sample_cameras(options.views, elevation_range=options.elevation_range, generator=generator)
                optimizer.zero_grad(set_to_none=True)
                terms = self.losses(self.moved(content, parameters), content, cameras)
                terms["total"].backward()  # type: ignore[no-untyped-call]
                values = {name: float(value.detach()) for name, value in terms.items()}
                if not math.isfinite(values["total"]):
                    raise TrainingError(f"the loss diverged at level {level + 1} step {step}; lower --learning-rate")
                optimizer.step()
                done += 1
                history.append({"level": float(level), "step": float(step), **values})
                best = values
                self.checkpoint = VolumeCheckpoint(
                    level,
                    step,
                    parameters.detach().clone(),
                    copy.deepcopy(optimizer.state_dict()),
                    generator.get_state(),
                    list(history),
                    time.perf_counter() - started,
                    self.exposure,
                )
                if on_checkpoint is not None and (step % checkpoint_every == 0 or step == steps):
                    on_checkpoint(self.checkpoint)
                if progress is not None:
                    progress(
                        VolumeProgress(
                            level,
                            len(shapes),
                            shape,
                            step,
                            steps,
                            done,
                            total_steps,
                            values,
                            time.perf_counter() - started,
                        )
                    )
                if level == len(shapes) - 1:
                    self.latest = VolumeResult(
                        density=density, parameters=parameters.detach().clone(), losses=values, history=history
                    )
            if on_level is not None:
                on_level(level, parameters.detach())
        with torch.no_grad():
            final = self.moved(density, parameters.detach()) if shapes[-1] == tuple(density.shape) else density
        self.latest = VolumeResult(
            density=final,
            parameters=parameters.detach().clone(),
            losses=best,
            history=history,
            seconds=time.perf_counter() - started,
        )
        return self.latest

    def finish_interrupted(self, density: Tensor) -> VolumeResult:
        """After an interrupted :meth:`run`: the input moved by the latest finest-level parameters, if any."""
        latest = self.latest
        parameters = latest.parameters
        shape = (density.shape[0], density.shape[1], density.shape[2])
        if tuple(parameters.shape[-3:]) != tuple(parameter_shape(self.options.mode, shape)[-3:]):
            moved = density.clone()  # still on a coarse level: nothing finished at the output's size
        else:
            with torch.no_grad():
                moved = self.moved(density, parameters)
        return VolumeResult(
            density=moved, parameters=parameters, losses=latest.losses, history=latest.history, interrupted=True
        )

    def view_losses(self, density: Tensor, content: Tensor, cameras: Sequence[Camera]) -> list[float]:
        """The style term of each camera's view alone (for seen against unseen views)."""
        with torch.no_grad():
            return [float(self.losses(density, content, [camera])["style"]) for camera in cameras]
