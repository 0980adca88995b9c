"""GatysConfig: defaults, strength mapping, TOML, and every bad value's message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from painterly.config import BASE_STYLE_WEIGHT, GatysConfig, parse_layer_weights, style_weight_for_strength
from painterly.errors import ConfigError


def test_pyramid_sizes_end_at_the_requested_size() -> None:
    assert GatysConfig(size=512, iterations=(1, 2, 3)).level_sizes() == [128, 256, 512]
    assert GatysConfig(size=100, iterations=(5,)).level_sizes() == [100]
    assert GatysConfig(size=64, iterations=(1, 1, 1, 1)).level_sizes()[0] == 32  # never below the minimum


def test_strength_maps_monotonically_around_the_base_weight() -> None:
    assert style_weight_for_strength(0.5) == pytest.approx(BASE_STYLE_WEIGHT)
    weights = [style_weight_for_strength(s / 10) for s in range(11)]
    assert weights == sorted(weights)
    assert GatysConfig(strength=0.9, style_weight=3.0).effective_style_weight == 3.0


def test_toml_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "options.toml"
    path.write_text(
        '[gatys]\nsize = 300\niterations = [100, 50]\nstyle-layers = "relu1_1:2,relu2_1"\n'
        'color = "luminance"\n[gatys.finish]\nsharpen = 0.5\n'
    )
    config = GatysConfig.from_toml(path)
    assert config.size == 300 and config.iterations == (100, 50) and config.color == "luminance"
    assert dict(config.style_layers) == {"relu1_1": 2.0, "relu2_1": 1.0}
    assert config.finish.sharpen == 0.5
    assert GatysConfig.from_mapping({"size": 128}, base=config).size == 128


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"size": 4}, "size must be 32..65536"),
        ({"style_blend": "0.7,x"}, "invalid value for style_blend"),
        ({"style_blend": 0.5}, "invalid value for style_blend"),
        ({"iterations": ["a"]}, "invalid value for iterations"),
        ({"device": 5}, "device must be a string"),
        ({"seed": 2**70}, "seed must be 0..2^63-1"),
        ({"finish": 3}, "finish must be a table"),
        ({"iterations": (10, -1)}, "iterations must be >= 0"),
        ({"strength": 1.5}, "strength must be within 0..1"),
        ({"optimizer": "sgd"}, "unknown optimizer 'sgd': choose one of lbfgs, adam"),
        ({"color": "sepia"}, "unknown color 'sepia'"),
        ({"style_scale": 0.0}, "style_scale must be within"),
        ({"tv_weight": float("nan")}, "tv_weight must be a finite number"),
        ({"style_blend": (0.0, 0.0)}, "not all zero"),
        ({"level_ratio": 1.0}, "level_ratio must be > 1"),
        ({"device": "tpu"}, "unknown device 'tpu'"),
        ({"bogus": 1}, "unknown option 'bogus'"),
    ],
)
def test_bad_values_have_clear_messages(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        GatysConfig.from_mapping(changes)


def test_bad_toml_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        GatysConfig.from_toml(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("size = = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        GatysConfig.from_toml(broken)


def test_layer_weight_parsing() -> None:
    assert parse_layer_weights("relu1_1:0.5, relu2_1") == {"relu1_1": 0.5, "relu2_1": 1.0}
    with pytest.raises(ConfigError, match="must be a number"):
        parse_layer_weights("relu1_1:x")
