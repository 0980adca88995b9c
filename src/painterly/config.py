"""Options of each method as frozen dataclasses, one field per CLI flag, loadable from a TOML file.

>>> config = GatysConfig(size=256, iterations=(200, 50), strength=0.7)
>>> config.levels, config.level_sizes()
(2, [128, 256])
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .devices import DEVICE_NAMES, PRECISION_NAMES
from .errors import ConfigError
from .image.color import COLOR_MODES
from .postprocess import FinishOptions

DEFAULT_STYLE_LAYERS: dict[str, float] = {
    "relu1_1": 1.0,
    "relu2_1": 1.0,
    "relu3_1": 1.0,
    "relu4_1": 1.0,
    "relu5_1": 1.0,
}
DEFAULT_CONTENT_LAYERS: dict[str, float] = {"relu4_2": 1.0}
# Style weight at strength 0.5; strength moves it over four decades (0 -> /100, 1 -> x100).
BASE_STYLE_WEIGHT = 1e5
STRENGTH_DECADES = 4.0
OPTIMIZERS = ("lbfgs", "adam")
INIT_KINDS = ("auto", "content", "noise", "mix", "wct", "adain")
"""Reserved words of ``init``; any other value is an image path (a file called ``wct`` is ``./wct``)."""
POOLINGS = ("max", "avg")
BACKWARDS = ("fused", "autograd")
ENCODERS = ("vgg16", "vgg19")
MIN_LEVEL_SIZE = 32
MIN_SIZE = 32
MAX_SEED = 2**63 - 1
DEFAULT_FRAME_ITERATIONS = 4
"""Video frames after the first: iterations of their one full-size level (they start from the warped result)."""


def style_weight_for_strength(strength: float) -> float:
    """The style weight that the 0–1 ``strength`` knob stands for (content weight 1)."""
    return float(BASE_STYLE_WEIGHT * 10.0 ** (STRENGTH_DECADES * (strength - 0.5)))


@dataclass(frozen=True)
class GatysConfig:
    """Every option of optimisation-based transfer. ``validate()`` runs on construction."""

    size: int = 512
    """Long side of the output in pixels."""
    iterations: tuple[int, ...] = (250,)
    """Iterations per pyramid level, coarse to fine; one number means a single full-size level. The default, one
    level from the WCT start, reached the lowest loss at equal time (``benchmarks/gatys.py`` schedule variants)."""
    level_ratio: float = 2.0
    """Size ratio between neighbouring pyramid levels."""
    encoder: str = "vgg16"
    pooling: str = "max"
    content_layers: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_CONTENT_LAYERS))
    style_layers: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_STYLE_LAYERS))
    strength: float = 0.5
    """0 keeps the content, 1 is all style; ignored when ``style_weight`` is set."""
    content_weight: float = 1.0
    style_weight: float | None = None
    tv_weight: float = 1.0
    tileable: bool = False
    """Make the output wrap seamlessly (left/right and top/bottom edges continue each other)."""
    tile_size: int | None = None
    """Evaluate the image in tiles of this many pixels; None = only when it does not fit in memory, 0 = never."""
    style_blend: tuple[float, ...] | None = None
    """Weight of each style image (any scale, normalised); None = equal."""
    style_scale: float = 1.0
    """Style image long side relative to the output's long side."""
    color: str = "none"
    """Colour handling: none, luminance (keep the content's colours), histogram or meancov (match style colours)."""
    optimizer: str = "lbfgs"
    learning_rate: float | None = None
    """Step size; None = 1.0 for L-BFGS, 0.02 for Adam."""
    tolerance: float = 1e-4
    """Stop a level early when the loss improved by less than this fraction per iteration over 20 iterations."""
    init: str = "auto"
    """auto, content, noise, mix, wct or adain (the one-pass method's result), or the path of an image file. ``auto``
    starts from WCT's result where WCT can make one (not for tileable output, thin styles or inputs WCT refuses) and
    from the content otherwise; :attr:`~painterly.methods.gatys.GatysResult.start` says which."""
    init_noise: float = 0.5
    """Share of noise for ``init='mix'``."""
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    backward: str = "fused"
    """How the encoder's gradient is computed: ``fused`` (hand-written backward, weights cast once, ReLU fused into
    the convolutions; VGG with zero padding, untiled, on the CPU or CUDA) or ``autograd`` (the reference; used
    wherever fused cannot)."""
    finish: FinishOptions = field(default_factory=FinishOptions)
    frame_iterations: tuple[int, ...] | None = None
    """Video: iterations per level for every frame after the first, which starts from the previous result warped
    into it (Ruder et al.); None = one full-size level of DEFAULT_FRAME_ITERATIONS."""

    def __post_init__(self) -> None:
        self.validate()

    @property
    def effective_frame_iterations(self) -> tuple[int, ...]:
        return self.frame_iterations if self.frame_iterations is not None else (DEFAULT_FRAME_ITERATIONS,)

    @property
    def levels(self) -> int:
        return len(self.iterations)

    @property
    def effective_style_weight(self) -> float:
        return self.style_weight if self.style_weight is not None else style_weight_for_strength(self.strength)

    @property
    def effective_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 1.0 if self.optimizer == "lbfgs" else 0.02

    def level_sizes(self) -> list[int]:
        """Long side of each pyramid level, coarse to fine; the last is ``size``."""
        return [
            min(self.size, max(MIN_LEVEL_SIZE, round(self.size / self.level_ratio ** (self.levels - 1 - index))))
            for index in range(self.levels)
        ]

    def validate(self) -> None:
        _require(
            isinstance(self.size, int) and MIN_SIZE <= self.size <= 65536,
            f"size must be {MIN_SIZE}..65536 pixels, got {self.size}",
        )
        for name in ("encoder", "pooling", "optimizer", "color", "device", "precision", "backward", "init"):
            _require(isinstance(getattr(self, name), str), f"{name} must be a string, got {getattr(self, name)!r}")
        _require(
            isinstance(self.finish, FinishOptions), "finish must be a table of denoise/sharpen/contrast/saturation"
        )
        _require(isinstance(self.seed, int) and 0 <= self.seed <= MAX_SEED, f"seed must be 0..2^63-1, got {self.seed}")
        _require(len(self.iterations) >= 1, "iterations needs at least one level")
        _require(
            all(isinstance(n, int) and n >= 0 for n in self.iterations),
            f"iterations must be >= 0, got {self.iterations}",
        )
        if self.frame_iterations is not None:
            _require(
                len(self.frame_iterations) >= 1 and all(isinstance(n, int) and n >= 0 for n in self.frame_iterations),
                f"frame_iterations must be whole numbers >= 0, got {self.frame_iterations}",
            )
        _require(self.level_ratio > 1.0, f"level_ratio must be > 1, got {self.level_ratio}")
        _choice("encoder", self.encoder, ENCODERS)
        _choice("pooling", self.pooling, POOLINGS)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("color", self.color, COLOR_MODES)
        _choice("device", self.device.split(":")[0], DEVICE_NAMES)
        _choice("precision", self.precision, PRECISION_NAMES)
        _choice("backward", self.backward, BACKWARDS)
        _require(0.0 <= self.strength <= 1.0, f"strength must be within 0..1, got {self.strength}")
        for name in ("content_weight", "tv_weight"):
            value = getattr(self, name)
            _require(math.isfinite(value) and value >= 0, f"{name} must be a finite number >= 0, got {value}")
        if self.style_weight is not None:
            _require(
                math.isfinite(self.style_weight) and self.style_weight >= 0,
                f"style_weight must be a finite number >= 0, got {self.style_weight}",
            )
        _require(0.05 <= self.style_scale <= 8.0, f"style_scale must be within 0.05..8, got {self.style_scale}")
        if self.learning_rate is not None:
            _require(self.learning_rate > 0, f"learning_rate must be > 0, got {self.learning_rate}")
        _require(0.0 <= self.tolerance < 1.0, f"tolerance must be within 0..1, got {self.tolerance}")
        if self.tile_size is not None:
            _require(
                self.tile_size == 0 or (self.tile_size >= 32 and self.tile_size % 16 == 0),
                f"tile_size must be 0 or a multiple of 16 from 32 up, got {self.tile_size}",
            )
        _require(0.0 <= self.init_noise <= 1.0, f"init_noise must be within 0..1, got {self.init_noise}")
        _require(bool(self.init), "init must be auto, content, noise, mix, wct, adain or an image path")
        if self.style_blend is not None:
            _require(
                all(w >= 0 for w in self.style_blend) and sum(self.style_blend) > 0,
                f"style weights must be >= 0 and not all zero, got {list(self.style_blend)}",
            )
        for kind, layers in (("content", self.content_layers), ("style", self.style_layers)):
            _require(len(layers) > 0, f"{kind}_layers needs at least one layer")
            _require(all(w >= 0 for w in layers.values()), f"{kind} layer weights must be >= 0")

    def replace(self, **changes: Any) -> GatysConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/TOML-friendly values (for run records)."""
        data = dataclasses.asdict(self)
        data["content_layers"] = dict(self.content_layers)
        data["style_layers"] = dict(self.style_layers)
        data["iterations"] = list(self.iterations)
        data["frame_iterations"] = None if self.frame_iterations is None else list(self.frame_iterations)
        data["style_blend"] = None if self.style_blend is None else list(self.style_blend)
        return data

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, base: GatysConfig | None = None) -> GatysConfig:
        """Build from plain values (a TOML table, CLI flags); unknown keys are an error. Dashes equal underscores."""
        known = {item.name for item in dataclasses.fields(cls)}
        changes: dict[str, Any] = {}
        for raw_key, value in values.items():
            key = raw_key.replace("-", "_")
            if key not in known:
                raise ConfigError(f"unknown option '{raw_key}'; known options: {', '.join(sorted(known))}")
            try:
                changes[key] = _coerce(key, value)
            except ConfigError:
                raise
            except (TypeError, ValueError) as error:
                raise ConfigError(f"invalid value for {raw_key}: {value!r}") from error
        try:
            return dataclasses.replace(base or cls(), **changes)
        except (TypeError, ValueError, AttributeError) as error:
            raise ConfigError(f"invalid option value: {error}") from error

    @classmethod
    def from_toml(cls, path: str | Path, *, base: GatysConfig | None = None) -> GatysConfig:
        """Options from a TOML file: top-level keys, or a ``[gatys]`` table."""
        return cls.from_mapping(read_options_file(path, "gatys"), base=base)


def read_options_file(path: str | Path, method: str) -> dict[str, Any]:
    """Options from a TOML file: top-level keys, or the table named after the method."""
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as error:
        raise ConfigError(f"config file not found: {path}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from error
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from error
    table = data.get(method, data)
    if not isinstance(table, dict):
        raise ConfigError(f"config file {path}: [{method}] must be a table")
    return dict(table)


def _coerce(key: str, value: Any) -> Any:
    if key in ("iterations", "frame_iterations") and value is not None:
        if isinstance(value, int):
            return (value,)
        if isinstance(value, str):
            return parse_int_list(value, key)
        return tuple(int(item) for item in value)
    if key == "style_blend" and value is not None:
        if isinstance(value, str):
            return tuple(float(item) for item in value.split(","))
        return tuple(float(item) for item in value)
    if key in ("content_layers", "style_layers") and isinstance(value, str):
        return parse_layer_weights(value)
    if key in ("content_layers", "style_layers") and isinstance(value, list | tuple):
        return {str(layer): 1.0 for layer in value}
    if key == "finish" and isinstance(value, Mapping):
        try:
            return FinishOptions(**dict(value))
        except TypeError as error:
            raise ConfigError(f"invalid finish option: {error}") from error
    return value


def parse_int_list(text: str, name: str) -> tuple[int, ...]:
    """``"300,100"`` → ``(300, 100)``."""
    try:
        return tuple(int(item) for item in text.split(",") if item.strip())
    except ValueError as error:
        raise ConfigError(f"{name} must be whole numbers separated by commas, got '{text}'") from error


def parse_float_list(text: str, name: str) -> tuple[float, ...]:
    """``"0.7,0.3"`` → ``(0.7, 0.3)``."""
    try:
        return tuple(float(item) for item in text.split(",") if item.strip())
    except ValueError as error:
        raise ConfigError(f"{name} must be numbers separated by commas, got '{text}'") from error


def parse_layer_weights(text: str) -> dict[str, float]:
    """``"relu1_1:1,relu2_1:0.5"`` or ``"relu1_1,relu2_1"`` → ``{layer: weight}``."""
    weights: dict[str, float] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        layer, _, weight = item.partition(":")
        try:
            weights[layer.strip()] = float(weight) if weight else 1.0
        except ValueError as error:
            raise ConfigError(f"layer weight must be a number in '{item}'") from error
    if not weights:
        raise ConfigError(f"no layers in '{text}'")
    return weights


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"unknown {name} '{value}': choose one of {', '.join(choices)}")
