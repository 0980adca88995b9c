"""The level decoders: AdaIN's layout kept at level 4, every level's shape, receptive radius, and decoder-set files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from painterly.errors import ConfigError, WeightsError
from painterly.methods.decoders import (
    LEVELS,
    Decoder,
    DecoderSpec,
    decoder_for_level,
    layer_plan,
    level_of,
    level_stride,
    parameters_of,
)
from painterly.methods.model_files import (
    DECODER_SET_FORMAT,
    load_decoder_set,
    read_decoder_set_metadata,
    save_decoder,
    save_decoder_set,
)
from painterly.weights import get_shipped
from tests.conftest import he_initialised

# The AdaIN decoder files written before levels existed (width 32, two quarter convolutions, from relu4_1): every
# convolution's index in ``body`` and its weight's shape. Level 4 must load them unchanged.
ADAIN_LAYOUT = {
    1: (128, 512),
    5: (128, 128),
    8: (128, 128),
    11: (64, 128),
    15: (64, 64),
    18: (32, 64),
    22: (32, 32),
    25: (3, 32),
}


def expected_state(spec: DecoderSpec) -> dict[str, tuple[int, ...]]:
    """State-dict keys and shapes walked from the layer plan: a conv is a padding then a Conv2d, relu and up one
    module each."""
    shapes: dict[str, tuple[int, ...]] = {}
    index, channels = 0, spec.in_channels
    for item in layer_plan(spec):
        if item in ("relu", "up"):
            index += 1
            continue
        shapes[f"body.{index + 1}.weight"] = (int(item), channels, 3, 3)
        shapes[f"body.{index + 1}.bias"] = (int(item),)
        channels = int(item)
        index += 2
    return shapes


def state_shapes(decoder: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in decoder.state_dict().items()}


def tiny_level_decoder(level: int, *, in_channels: int = 6, seed: int = 0) -> Decoder:
    torch.manual_seed(seed)
    return he_initialised(decoder_for_level(level, width=4, quarter_convs=1, in_channels=in_channels), bias=0.02)


def test_level_four_keeps_the_adain_layout() -> None:
    spec = DecoderSpec(32, 2)
    assert spec.level == 4 and spec.in_channels == 512
    old: dict[str, tuple[int, ...]] = {f"body.{index}.weight": (*shape, 3, 3) for index, shape in ADAIN_LAYOUT.items()}
    old |= {f"body.{index}.bias": (shape[0],) for index, shape in ADAIN_LAYOUT.items()}
    assert state_shapes(Decoder(spec)) == old == expected_state(spec)
    assert list(Decoder(spec).state_dict()) == list(expected_state(spec))
    assert state_shapes(decoder_for_level(4)) == old
    assert layer_plan(spec)[:3] == ["128", "relu", "up"] and layer_plan(spec)[-1] == "3"


def test_level_four_loads_the_shipped_adain_decoder_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAINTERLY_DECODER", raising=False)
    path = get_shipped("adain_decoder").packaged_path()
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    with safe_open(str(path), framework="pt") as handle:
        shipped = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118
        spec = DecoderSpec.from_dict(json.loads(handle.metadata()["spec"]))
    assert spec.level == 4
    assert state_shapes(Decoder(spec)) == shipped


def test_old_positional_specs_still_work() -> None:
    spec = DecoderSpec(8, 0, 8)
    assert (spec.width, spec.quarter_convs, spec.in_channels, spec.level) == (8, 0, 8, 4)
    assert state_shapes(Decoder(spec)) == expected_state(spec)
    assert Decoder(spec)(torch.rand(1, 8, 3, 5)).shape == (1, 3, 24, 40)
    assert Decoder().spec == DecoderSpec()


@pytest.mark.parametrize("level", [1, 2, 3, 4])
def test_every_level_decodes_at_its_scale_and_trains(level: int) -> None:
    decoder = tiny_level_decoder(level)
    assert decoder.spec.level == level and decoder.spec.stride == level_stride(level) == 2 ** (level - 1)
    assert state_shapes(decoder) == expected_state(decoder.spec)
    features = torch.rand(2, 6, 5, 7)
    output = decoder(features)
    stride = 2 ** (level - 1)
    assert output.shape == (2, 3, 5 * stride, 7 * stride)
    output.mean().backward()
    for name, parameter in decoder.named_parameters():
        assert parameter.grad is not None and bool(torch.isfinite(parameter.grad).all()), name
    assert parameters_of(decoder) == sum(parameter.numel() for parameter in decoder.parameters())


def test_layer_plans_and_radii() -> None:
    assert layer_plan(DecoderSpec(width=4, quarter_convs=0, level=1)) == ["4", "relu", "3"]
    assert layer_plan(DecoderSpec(width=4, quarter_convs=0, level=2)) == [
        *["8", "relu", "4", "relu", "up"],
        *["4", "relu", "3"],
    ]
    # level 3 has one quarter convolution more than it is asked for (level 4's first one runs at its size)
    assert layer_plan(DecoderSpec(width=4, quarter_convs=1, level=3)).count("16") == 2
    assert DecoderSpec(width=32, quarter_convs=2, level=4).receptive_radius == 40
    assert DecoderSpec(width=4, quarter_convs=0, level=1).receptive_radius == 2
    radii = [DecoderSpec(quarter_convs=2, level=level).receptive_radius for level in (1, 2, 3, 4)]
    assert radii == sorted(radii) and len(set(radii)) == 4


def test_level_names() -> None:
    assert [level_of(name) for name in LEVELS] == [1, 2, 3, 4]
    with pytest.raises(ConfigError, match="unknown decoder level 'relu5_1': choose one of relu1_1, relu2_1"):
        level_of("relu5_1")


def test_spec_dicts_and_bad_settings() -> None:
    spec = DecoderSpec(width=8, quarter_convs=0, in_channels=16, level=2)
    assert spec.as_dict() == {"width": 8, "quarter_convs": 0, "in_channels": 16, "level": 2}
    assert DecoderSpec.from_dict(dict(spec.as_dict())) == spec
    old = DecoderSpec.from_dict({"width": 32, "quarter_convs": 2, "in_channels": 512})
    assert old.level == 4 and old == DecoderSpec()
    with pytest.raises(ConfigError, match=r"unknown decoder settings \['depth'\]"):
        DecoderSpec.from_dict({"width": 8, "depth": 3})
    with pytest.raises(ConfigError, match="whole numbers"):
        DecoderSpec.from_dict({"width": 8.0})
    with pytest.raises(ConfigError, match="whole numbers"):
        DecoderSpec.from_dict({"level": True})
    with pytest.raises(ConfigError, match="decoder level must be 1, 2, 3 or 4, got 5"):
        DecoderSpec(level=5)
    with pytest.raises(ConfigError, match="decoder level must be 1, 2, 3 or 4, got 0"):
        DecoderSpec.from_dict({"level": 0})
    with pytest.raises(ConfigError, match=r"width must be within 4\.\.256"):
        DecoderSpec(width=2)
    with pytest.raises(ConfigError, match=r"in_channels must be within 1\.\.4096"):
        decoder_for_level(1, in_channels=0)


def tiny_set() -> dict[str, Decoder]:
    return {layer: tiny_level_decoder(level_of(layer), seed=level_of(layer)) for layer in LEVELS}


def test_decoder_sets_round_trip_in_half_precision(tmp_path: Path) -> None:
    decoders = tiny_set()
    path = save_decoder_set(decoders, tmp_path / "sub" / "set.safetensors", info={"steps": 3, "psnr": {"a": 1.0}})
    assert path == tmp_path / "sub" / "set.safetensors" and not path.with_name("set.safetensors.tmp").exists()
    with safe_open(str(path), framework="pt") as handle:
        assert {handle.get_tensor(key).dtype for key in handle.keys()} == {torch.float16}  # noqa: SIM118
        assert handle.metadata()["format"] == DECODER_SET_FORMAT
    specs, info = read_decoder_set_metadata(path)
    assert specs == {layer: decoder.spec for layer, decoder in decoders.items()}
    assert info == {"steps": 3, "psnr": {"a": 1.0}}
    loaded, info = load_decoder_set(path)
    assert list(loaded) == list(LEVELS) and info["steps"] == 3
    for layer, decoder in decoders.items():
        assert not loaded[layer].training
        for key, value in decoder.state_dict().items():
            torch.testing.assert_close(loaded[layer].state_dict()[key], value, atol=2e-3, rtol=1e-3)
        features = torch.rand(1, 6, 4, 4)
        with torch.no_grad():
            torch.testing.assert_close(loaded[layer](features), decoder(features), atol=1e-2, rtol=1e-2)
    partial, _ = load_decoder_set(save_decoder_set({"relu2_1": decoders["relu2_1"]}, tmp_path / "one.safetensors"))
    assert list(partial) == ["relu2_1"]


def write_set(path: Path, tensors: dict[str, torch.Tensor], specs: object, *, fmt: str = DECODER_SET_FORMAT) -> Path:
    save_file(tensors, str(path), metadata={"format": fmt, "specs": json.dumps(specs), "info": "{}"})
    return path


def test_damaged_or_mismatched_decoder_sets_raise(tmp_path: Path) -> None:
    decoders = tiny_set()
    good = save_decoder_set(decoders, tmp_path / "good.safetensors")
    with safe_open(str(good), framework="pt") as handle:
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    specs = {layer: decoder.spec.as_dict() for layer, decoder in decoders.items()}

    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a model at all")
    with pytest.raises(WeightsError, match="not a readable safetensors model file"):
        load_decoder_set(garbage)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(WeightsError, match=r"truncated\.safetensors"):
        load_decoder_set(truncated)
    with pytest.raises(WeightsError, match="not a readable"):
        load_decoder_set(tmp_path / "missing.safetensors")
    adain = save_decoder(decoders["relu4_1"], tmp_path / "adain.safetensors")
    with pytest.raises(WeightsError, match="not a painterly decoder set model"):
        load_decoder_set(adain)
    misfiled = {**specs, "relu3_1": specs["relu2_1"]}
    with pytest.raises(WeightsError, match="a level-2 decoder filed as 'relu3_1'"):
        load_decoder_set(write_set(tmp_path / "misfiled.safetensors", tensors, misfiled))
    with pytest.raises(WeightsError, match="a level-1 decoder filed as 'relu9_1'"):
        load_decoder_set(write_set(tmp_path / "unknown.safetensors", tensors, {"relu9_1": specs["relu1_1"]}))
    with pytest.raises(WeightsError, match="holds no decoder"):
        load_decoder_set(write_set(tmp_path / "empty.safetensors", tensors, {}))
    with pytest.raises(WeightsError, match="damaged model metadata"):
        load_decoder_set(write_set(tmp_path / "bad.safetensors", tensors, {"relu1_1": {"width": "wide"}}))
    with pytest.raises(WeightsError, match="damaged model metadata"):
        load_decoder_set(write_set(tmp_path / "list.safetensors", tensors, [1, 2]))
    wider = {**specs, "relu1_1": {**specs["relu1_1"], "width": 8}}
    with pytest.raises(WeightsError, match="tensors do not fit the network it describes"):
        load_decoder_set(write_set(tmp_path / "wider.safetensors", tensors, wider))
    fewer = {key: value for key, value in tensors.items() if not key.startswith("relu4_1")}
    with pytest.raises(WeightsError, match="tensors do not fit"):
        load_decoder_set(write_set(tmp_path / "fewer.safetensors", fewer, specs))
