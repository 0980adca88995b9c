"""How a command line chooses a method, its styles and its options: shared by ``stylize`` and ``video``.

``--preset NAME[:W,...]`` picks the preset method, ``--style PATH[:W]`` (repeatable) the arbitrary-style method,
``--method NAME`` any registered one. The common flags map onto the chosen method's options dataclass by field
name; a flag the method does not have is an error naming it, never silently ignored. Nothing here branches on a
method's name: the registry entry says what kind of styles it takes and which field ``--strength`` sets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import click
from torch import Tensor

from ..config import read_options_file
from ..devices import DEVICE_NAMES, PRECISION_NAMES
from ..errors import ConfigError
from ..image.color import COLOR_MODES
from ..image.io import DEFAULT_MAX_PIXELS, read_image
from ..methods.base import Method
from ..methods.registry import get_method, list_methods
from . import Command

# CLI parameter → options field, for the flags every method may take (each only if its options have that field).
COMMON_FLAGS = {
    "color": "color",
    "style_scale": "style_scale",
    "size": "size",
    "tile_size": "tile_size",
    "device": "device",
    "precision": "precision",
    "model": "model",
    "network": "network",
    "alpha": "alpha",
    "palette": "palette",
    "iterations": "iterations",
    "frame_iterations": "frame_iterations",
    "level_alphas": "level_alphas",
    "levels": "levels",
    "smooth": "smooth",
    "labels": "labels",
}
DEFAULT_STYLE_METHOD = "wct"
"""The method behind ``--style`` when ``--method`` is not given."""
STYLE_ONLY_FLAGS = ("alpha", "palette", "level_alphas", "levels", "smooth", "labels")


@dataclass(frozen=True)
class Selection:
    """A method with its styles and options, ready for ``method.prepare``."""

    method: Method
    styles: list[Any]
    """Style images (1, 3, h, w) or preset names."""
    weights: list[float] | None
    masks: list[Tensor] | None
    options: Any
    input_paths: list[Path]
    """The style and mask files read (an output must not overwrite them)."""
    labels: list[str]
    """What the styles are called, for messages and records."""


NETWORK_HELP = (
    "The shipped preset network: quality (default): the stronger network for stills; fast: ~10 % faster, the "
    "studio's webcam mode."
)


def network_option(help_text: str = NETWORK_HELP) -> Callable[[Command], Command]:
    """``--network quality|fast`` (None when not given, so that a ``--config`` file's value stays)."""
    from ..presets import PRESET_NETWORKS

    return click.option("--network", type=click.Choice(tuple(PRESET_NETWORKS)), help=help_text)


def selection_options(function: Command) -> Command:
    """The flags that choose a method and its styles, and the options common to the methods."""
    options = [
        click.option(
            "--preset", "preset", help="A preset or a blend: NAME or NAME:W,NAME:W (see `painterly presets`)."
        ),
        click.option(
            "--style",
            "styles",
            multiple=True,
            help="Any painting, PATH or PATH:WEIGHT (repeat to blend several); method wct unless --method says.",
        ),
        click.option(
            "--method",
            type=click.Choice(list_methods()),
            help=(
                "The method (default: preset with --preset, wct with --style; adain = arbitrary style, photo = "
                "photorealistic, gatys = optimisation)."
            ),
        ),
        click.option(
            "--mask",
            "masks",
            multiple=True,
            type=click.Path(path_type=Path),
            help=("With --style: one grey image per style, white where that style goes."),
        ),
        click.option(
            "--strength",
            type=click.FloatRange(0, 1),
            help=(
                "0 returns the photo, 1 the full style (presets: mix with the photo [1]; gatys: style weight [0.5])."
            ),
        ),
        click.option(
            "--alpha",
            type=click.FloatRange(0, 1),
            help=("With --style (adain, wct, photo): 0 keeps the photo's features, 1 takes the style's."),
        ),
        click.option(
            "--levels",
            help="wct, photo: the VGG16 levels to whiten and colour, e.g. relu4_1,relu3_1,relu2_1,relu1_1 "
            "[wct: relu3_1,relu2_1,relu1_1; photo: all four].",
        ),
        click.option(
            "--level-alphas",
            help="wct: one alpha per level of --levels, in the same order, e.g. 0.6,0.8,1.",
        ),
        click.option(
            "--smooth/--no-smooth",
            default=None,
            help="photo: edge-preserving smoothing of the result with the photo as guide (guided filter) [off].",
        ),
        click.option(
            "--labels",
            help=(
                "photo: PHOTO_LABELS:STYLE_LABELS, two label images whose colours pair regions of the photo with "
                "regions of the style photo."
            ),
        ),
        click.option(
            "--palette/--no-palette",
            default=None,
            help=(
                "With --style (adain): recolour the result to the painting's colours (default), or keep the decoder's."
            ),
        ),
        click.option(
            "--color",
            type=click.Choice(COLOR_MODES),
            help=(
                "luminance: keep the photo's colours; histogram, meancov (style images only): recolour the style to "
                "the photo's colours first [none]."
            ),
        ),
        click.option("--style-scale", type=float, help="Above 1: larger brush strokes; below 1: finer [1]."),
        click.option(
            "--size", type=click.IntRange(min=16), help=("Output long side (default: the photo's own; gatys: 512).")
        ),
        click.option("--tile-size", type=int, help="Process in tiles of this size (default: only when very large)."),
        click.option("--iterations", help="gatys: iterations per pyramid level, coarse to fine, e.g. 300,200."),
        click.option(
            "--model",
            type=click.Path(path_type=Path),
            help=(
                "A model file from `painterly train feedforward` (presets), `painterly train arbitrary` (adain) or "
                "`painterly train decoders` (wct, photo) instead of the shipped one."
            ),
        ),
        network_option(),
        click.option(
            "--config",
            "config_file",
            type=click.Path(path_type=Path),
            help=("Options of the method from a TOML file (top-level keys or a [METHOD] table); flags go on top."),
        ),
        click.option("--device", type=click.Choice(DEVICE_NAMES), help="Compute device [auto]."),
        click.option(
            "--precision", type=click.Choice(PRECISION_NAMES), help="auto = bf16 where the CPU has it [auto]."
        ),
        click.option(
            "--max-pixels", default=DEFAULT_MAX_PIXELS, show_default=True, type=int, help="Refuse larger inputs."
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def choose_method(params: dict[str, Any]) -> Method:
    """The method the flags ask for; a one-line error when the flags do not choose exactly one kind of style."""
    preset, styles = params.get("preset"), params.get("styles") or ()
    if preset is not None and styles:
        raise ConfigError(
            "choose either --preset NAME (list them with `painterly presets`) or --style PAINTING, not both"
        )
    name = params.get("method")
    if name is None:
        if preset is None and not styles:
            raise ConfigError("choose a style: --preset NAME (see `painterly presets`) or --style PAINTING")
        # wct by measurement: on paintings no decoder saw, lower content and style losses than adain at 1024 px on
        # every pair, and lower total loss on two of three at 512 px (benchmarks/arbitrary.py; README)
        name = "preset" if preset is not None else DEFAULT_STYLE_METHOD
    method = get_method(name)
    if method.style_kind == "presets" and preset is None:
        raise ConfigError(f"method '{name}' takes --preset NAME (see `painterly presets`), not --style")
    if method.style_kind == "images" and not styles:
        raise ConfigError(f"method '{name}' takes --style PAINTING (repeat for several), not --preset")
    return method


def select(params: dict[str, Any], *, size: int | None = None) -> Selection:
    """Method, styles, masks and options from the parsed flags; ``size`` (when given) overrides ``--size``."""
    method = choose_method(params)
    if method.style_kind == "presets":
        given = [flag for flag in STYLE_ONLY_FLAGS if params.get(flag) is not None]
        if given or params.get("masks"):
            raise ConfigError("--alpha, --palette and --mask go with --style (as do the wct and photo flags)")
    if params.get("masks") and not method.supports_masks:
        raise ConfigError(f"method '{method.name}' takes no --mask")
    options = method_options(method, params, size=size)
    max_pixels = params.get("max_pixels", DEFAULT_MAX_PIXELS)
    masks = None
    if method.style_kind == "presets":
        from ..presets import parse_blend

        blend = parse_blend(params["preset"])
        return Selection(method, list(blend), list(blend.values()), None, options, [], list(blend))
    paths, weights = zip(*(parse_style_argument(text) for text in params["styles"]), strict=True)
    mask_paths = list(params.get("masks") or ())
    if mask_paths:
        if len(mask_paths) != len(paths):
            raise ConfigError(f"got {len(mask_paths)} --mask for {len(paths)} --style: give one mask per style")
        if len(set(weights)) > 1:
            raise ConfigError("style weights and --mask cannot be combined: the masks say where each style goes")
        from ..image.color import luminance

        masks = [luminance(read_image(path, max_pixels=max_pixels).rgb) for path in mask_paths]
    images = [read_image(path, max_pixels=max_pixels).rgb for path in paths]
    return Selection(method, images, list(weights), masks, options, [*paths, *mask_paths], [str(p) for p in paths])


def method_options(method: Method, params: dict[str, Any], *, size: int | None = None) -> Any:
    """The method's options: a TOML file's values (if ``--config``), then the flags that were given on top."""
    values: dict[str, Any] = {}
    if params.get("config_file") is not None:
        values.update(read_options_file(params["config_file"], method.name))
    known = {item.name for item in fields(method.options_type)}
    if params.get("strength") is not None:
        if method.strength_field != "strength":
            raise ConfigError(
                f"--strength does not apply to method '{method.name}': use --{method.strength_field.replace('_', '-')}"
            )
        values["strength"] = params["strength"]
    for flag, field_name in COMMON_FLAGS.items():
        value = params.get(flag)
        if value is None:
            continue
        if field_name not in known:
            raise ConfigError(f"--{flag.replace('_', '-')} does not apply to method '{method.name}'")
        values[field_name] = value
    if size is not None:
        values["size"] = size
    return method.options(None, **values)


def parse_style_argument(text: str) -> tuple[Path, float]:
    """``PATH`` or ``PATH:WEIGHT`` → (path, weight); a colon not followed by a number belongs to the path."""
    head, separator, tail = text.rpartition(":")
    if separator and head:
        try:
            weight = float(tail)
        except ValueError:
            return Path(text), 1.0
        if not math.isfinite(weight) or weight < 0:
            raise ConfigError(f"style weight must be finite and >= 0 in '{text}'")
        return Path(head), weight
    return Path(text), 1.0
