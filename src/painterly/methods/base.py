"""The one interface every style-transfer method offers, whatever it computes.

A method is an options dataclass, a ``prepare`` step that does once everything that depends only on the styles
(Gram targets, feature statistics, preset rows), and the :class:`Stylizer` it returns, which stylises one image or
one video frame::

    method = get_method("adain")                                          # doctest: +SKIP
    stylizer = method.prepare([painting], method.options(alpha=0.8))      # doctest: +SKIP
    picture = stylizer(photo)                                             # doctest: +SKIP

Callers (``painterly.stylize``, the CLI, video) go through :mod:`painterly.methods.registry` and never branch on a
method's name. A video passes ``previous``: the previous frame's result warped into the current frame and where
that warp is reliable. A method with ``uses_previous`` (optimisation) starts from it and adds a temporal loss; the
one-pass methods ignore it and the caller blends their result with it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
from torch import Tensor

from ..devices import DEVICE_NAMES, PRECISION_NAMES
from ..errors import ConfigError

StyleKind = Literal["images", "presets"]


@dataclass(frozen=True)
class PreviousResult:
    """The previous frame's result brought into the current frame (video)."""

    image: Tensor
    """(1, 3, H, W) in [0, 1]: the previous output warped by the optical flow."""
    mask: Tensor
    """(1, 1, H, W) in [0, 1]: 1 where the warp is reliable (not occluded, no motion boundary)."""
    strength: float
    """The ``--temporal`` knob, 0..1."""


ProgressCallback = Callable[[Any], None]
"""Receives each method's own progress record (the optimisation: a :class:`painterly.Progress` per step)."""


class Stylizer(Protocol):
    """A method prepared for its styles: one call per image or video frame."""

    def __call__(
        self, frame: Tensor, *, previous: PreviousResult | None = None, progress: ProgressCallback | None = None
    ) -> Tensor:
        """``frame`` (1, 3, H, W) in [0, 1] → the stylised picture (1, 3, H', W') in [0, 1], fp32 on the CPU."""
        ...


Prepare = Callable[..., Stylizer]
"""``prepare(styles, options, *, weights=None, masks=None) -> Stylizer``."""


@dataclass(frozen=True)
class Method:
    """A registry entry: what the method is called, its options, the styles it takes, the weights it needs."""

    name: str
    summary: str
    options_type: type[Any]
    style_kind: StyleKind
    """``images``: style images (tensors); ``presets``: names of trained styles."""
    prepare: Prepare
    """``prepare(styles, options, *, weights=None, masks=None) -> Stylizer``: styles are (1, 3, h, w) tensors or
    preset names, ``weights`` one per style (a blend), ``masks`` one (1, 1, H, W) grey map per style."""
    weights: tuple[str, ...] = ()
    """Names in the weights registry (:mod:`painterly.weights`) the method loads."""
    uses_previous: bool = False
    """True when the stylizer itself uses a video's previous result (else the caller blends)."""
    supports_masks: bool = True
    slow: bool = False
    """True for methods that take seconds to minutes per image (progress matters)."""
    strength_field: str = "strength"
    """The options field that the common ``--strength`` knob sets (0: the photo, 1: the full style)."""

    def options(self, base: Any = None, /, **values: Any) -> Any:
        """The method's options: ``base`` (an instance, or None for the defaults) with ``values`` on top."""
        if base is not None and not isinstance(base, self.options_type):
            raise ConfigError(
                f"method '{self.name}' takes {self.options_type.__name__} options, got {type(base).__name__}"
            )
        return options_from_mapping(self.options_type, values, base=base, method=self.name)


def options_from_mapping(
    options_type: type[Any], values: Mapping[str, Any], *, base: Any = None, method: str | None = None
) -> Any:
    """Build an options dataclass from plain values (TOML tables, keyword arguments); dashes equal underscores;
    an unknown key or a bad value is a ConfigError naming it."""
    from_mapping = getattr(options_type, "from_mapping", None)
    if callable(from_mapping):  # a class with its own coercion rules (GatysConfig)
        return from_mapping(values, base=base)
    known = {item.name for item in dataclasses.fields(options_type)}
    changes = {key.replace("-", "_"): value for key, value in values.items()}
    unknown = sorted(set(changes) - known)
    if unknown:
        where = f" for method='{method}'" if method else ""
        raise ConfigError(f"unknown option(s){where}: {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
    if "model" in changes and changes["model"] is not None:
        changes["model"] = Path(changes["model"])
    try:
        return dataclasses.replace(base, **changes) if base is not None else options_type(**changes)
    except (TypeError, ValueError) as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(f"invalid option value: {error}") from error


def check_runtime(device: str, precision: str) -> None:
    """Validate the device and precision names every method takes."""
    if device.split(":")[0] not in DEVICE_NAMES:
        raise ConfigError(f"unknown device '{device}': choose one of {', '.join(DEVICE_NAMES)}")
    if precision not in PRECISION_NAMES:
        raise ConfigError(f"unknown precision '{precision}': choose one of {', '.join(PRECISION_NAMES)}")


def single_image_styles(styles: Sequence[Any]) -> list[Tensor]:
    """Check that every style is a (1, 3, h, w) image tensor."""
    if not styles:
        raise ConfigError("at least one style image is needed")
    for index, style in enumerate(styles):
        if not isinstance(style, torch.Tensor) or style.ndim != 4 or style.shape[:2] != (1, 3):
            shape = tuple(style.shape) if isinstance(style, torch.Tensor) else type(style).__name__
            raise ConfigError(f"style {index + 1} must be a (1, 3, H, W) image tensor, got {shape}")
    return list(styles)


class StageClock:
    """Seconds per named stage of one call: ``lap("encode")`` adds the time since the previous lap to that stage."""

    def __init__(self, *stages: str) -> None:
        self.timings = dict.fromkeys(stages, 0.0)
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - self._last
        self._last = now
