"""What a studio job asks for, independent of the method: checked once when it is submitted.

The page speaks one vocabulary for every method (``strength``, ``color``, ``size``, ``iterations``);
:func:`method_options` maps it onto the chosen method's own options dataclass through the registry entry
(``strength_field`` says whether the method calls it strength or alpha), never by branching on a method's name.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import ConfigError
from ..methods.base import Method
from ..methods.registry import get_method, list_methods

StudioColor = Literal["none", "luminance"]
IMAGE_SIZES = (64, 2048)
VIDEO_SIZES = (64, 1280)
ITERATION_RANGE = (10, 2000)
MAX_STYLE_FILES = 2


@dataclass(frozen=True)
class StudioOptions:
    kind: Literal["image", "video"]
    preset: str | None = None
    strength: float | None = None
    """None: the method's own default."""
    color: StudioColor = "none"
    size: int = 512
    iterations: int | None = None
    blend: float = 0.5
    """The first painting's weight when two are given."""

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> StudioOptions:
        return cls(**values)


def check_request(method_name: str, options: StudioOptions, style_files: int) -> Method:
    """The method, after checking that the options and the number of paintings suit it (ConfigError if not)."""
    names = list_methods()
    if method_name not in names:
        raise ConfigError(f"unknown method '{method_name}': choose one of {', '.join(names)}")
    method = get_method(method_name)
    if method.style_kind == "presets":
        if not options.preset:
            raise ConfigError(f"method '{method.name}' needs a preset name (see /api/presets)")
        if style_files:
            raise ConfigError(f"method '{method.name}' takes a preset, not painting files")
        from ..presets import list_presets, parse_blend

        known = {preset.name for preset in list_presets()}
        unknown = sorted(set(parse_blend(options.preset)) - known)
        if unknown:
            raise ConfigError(f"unknown preset {', '.join(unknown)}: choose from {', '.join(sorted(known))}")
    else:
        if options.preset:
            raise ConfigError(f"method '{method.name}' takes painting files (style), not a preset")
        if not 1 <= style_files <= MAX_STYLE_FILES:
            raise ConfigError(f"method '{method.name}' needs one or two paintings (style files), got {style_files}")
    low, high = VIDEO_SIZES if options.kind == "video" else IMAGE_SIZES
    if not low <= options.size <= high:
        raise ConfigError(
            f"size must be within {low}..{high} for a{'' if options.kind == 'video' else 'n'} "
            f"{options.kind}, got {options.size}"
        )
    if options.strength is not None and not (math.isfinite(options.strength) and 0 <= options.strength <= 1):
        raise ConfigError(f"strength must be within 0..1, got {options.strength}")
    if not (math.isfinite(options.blend) and 0 <= options.blend <= 1):
        raise ConfigError(f"blend must be within 0..1, got {options.blend}")
    fields = {item.name for item in dataclasses.fields(method.options_type)}
    if options.color != "none" and "color" not in fields:
        raise ConfigError(f"method '{method.name}' keeps the photo's colours by itself; leave color at none")
    if options.iterations is not None:
        if "iterations" not in fields:
            raise ConfigError(f"iterations apply to the optimisation (gatys), not to method '{method.name}'")
        low, high = ITERATION_RANGE
        if not low <= options.iterations <= high:
            raise ConfigError(f"iterations must be within {low}..{high}, got {options.iterations}")
    method_options(method, options)  # the method's own checks
    return method


def method_options(method: Method, options: StudioOptions) -> Any:
    """The method's options dataclass for these studio options."""
    values: dict[str, Any] = {"size": options.size}
    if options.strength is not None:
        values[method.strength_field] = options.strength
    if options.color != "none":
        values["color"] = options.color
    if options.iterations is not None:
        default = method.options().iterations
        values["iterations"] = split_iterations(options.iterations, tuple(default))
    return method.options(None, **values)


def split_iterations(total: int, default: tuple[int, ...]) -> tuple[int, ...]:
    """``total`` steps shared among the pyramid levels in the proportions of the default schedule."""
    whole = sum(default) or 1
    shares = [max(1, round(total * steps / whole)) for steps in default]
    shares[0] += total - sum(shares)
    return tuple(max(1, share) for share in shares)
