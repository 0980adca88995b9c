"""The one method interface: registry, options, prepare once, one call per frame, the previous result in video."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import painterly
from painterly.config import GatysConfig
from painterly.errors import ConfigError, WeightsError
from painterly.methods.arbitrary import ArbitraryOptions
from painterly.methods.base import PreviousResult
from painterly.methods.registry import get_method, list_methods
from painterly.methods.stylizer import StylizeOptions
from painterly.weights import SHIPPED, get_shipped, verify_shipped
from tests.conftest import PRESET_NAMES, gradient_image


def styles_for(kind: str) -> list[object]:
    return [PRESET_NAMES[0], PRESET_NAMES[1]] if kind == "presets" else [gradient_image(32, 32, seed=3) ** 2]


def test_registry_lists_every_method_with_its_options() -> None:
    assert list_methods() == ["gatys", "preset", "adain", "wct", "photo"]
    assert get_method("gatys").options_type is GatysConfig and get_method("gatys").uses_previous
    assert get_method("preset").options_type is StylizeOptions and get_method("preset").style_kind == "presets"
    assert get_method("adain").options_type is ArbitraryOptions and get_method("adain").strength_field == "alpha"
    with pytest.raises(ConfigError, match="unknown method 'wct2': choose one of gatys, preset, adain, wct, photo"):
        get_method("wct2")


def test_options_from_values_and_their_errors() -> None:
    adain = get_method("adain")
    assert adain.options(None, alpha=0.5, **{"style-scale": 2}) == ArbitraryOptions(alpha=0.5, style_scale=2.0)
    assert adain.options(None, model="x.safetensors").model == Path("x.safetensors")
    with pytest.raises(ConfigError, match=r"unknown option.*method='adain'.*strength"):
        adain.options(None, strength=0.5)
    with pytest.raises(ConfigError, match=r"alpha must be within 0\.\.1"):
        adain.options(None, alpha=2)
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        get_method("preset").options(None, device="tpu")
    with pytest.raises(ConfigError, match="takes StylizeOptions options, got GatysConfig"):
        get_method("preset").options(GatysConfig())
    gatys = get_method("gatys").options(GatysConfig(size=64), iterations="3,2", frame_iterations="4")
    assert gatys.iterations == (3, 2) and gatys.effective_frame_iterations == (4,) and gatys.size == 64


@pytest.mark.usefixtures("tiny_methods")
@pytest.mark.parametrize("name", ["gatys", "preset", "adain"])
def test_every_method_prepares_once_and_stylises_frames(name: str) -> None:
    method = get_method(name)
    options = method.options(None, size=40, **({"iterations": "2"} if name == "gatys" else {}))
    stylizer = method.prepare(
        styles_for(method.style_kind), options, weights=[1.0] * len(styles_for(method.style_kind))
    )
    frame = gradient_image(30, 40)
    first, second = stylizer(frame), stylizer(frame.flip(-1))
    assert first.shape == second.shape == (1, 3, 30, 40)
    assert first.dtype == torch.float32 and float(first.min()) >= 0 and float(first.max()) <= 1
    assert not torch.equal(first, frame)


@pytest.mark.usefixtures("tiny_methods")
def test_preset_prepare_checks_names_and_refuses_masks() -> None:
    method = get_method("preset")
    with pytest.raises(ConfigError, match="unknown style 'monet'"):
        method.prepare(["monet"], StylizeOptions())
    with pytest.raises(ConfigError, match="presets take no masks"):
        method.prepare(["starry"], StylizeOptions(), masks=[torch.ones(1, 1, 8, 8)])


@pytest.mark.usefixtures("tiny_methods")
def test_gatys_follows_the_previous_result_where_the_mask_allows() -> None:
    method = get_method("gatys")
    options = method.options(None, size=48, iterations="6", frame_iterations="6", seed=1, style_weight=1.0)
    style = gradient_image(32, 32, seed=4) ** 3
    frame = gradient_image(36, 48, seed=5)
    target = frame.flip(-1).roll(7, dims=-2)
    mask = torch.zeros(1, 1, 36, 48)
    mask[..., :24] = 1.0
    # both start from the previous result; only the temporal term (inside the mask) keeps the result near it
    released = method.prepare([style], options)(frame, previous=PreviousResult(target, torch.zeros_like(mask), 1.0))
    held = method.prepare([style], options)(frame, previous=PreviousResult(target, mask, 1.0))
    weightless = method.prepare([style], options)(frame, previous=PreviousResult(target, mask, 0.0))
    inside_released = float((released - target)[..., :24].abs().mean())
    assert float((held - target)[..., :24].abs().mean()) < 0.5 * inside_released
    assert torch.allclose(weightless, released, atol=1e-6)


@pytest.mark.usefixtures("tiny_methods")
def test_gatys_computes_the_style_grams_once_per_size() -> None:
    method = get_method("gatys")
    stylizer = method.prepare([gradient_image(32, 32, seed=4)], method.options(None, size=40, iterations="2"))
    stylizer(gradient_image(30, 40))
    cache = stylizer.transfer.style_cache
    assert len(cache) == 1
    stylizer(gradient_image(30, 40, seed=9))
    assert len(cache) == 1


@pytest.mark.usefixtures("tiny_methods")
def test_python_api_goes_through_the_registry() -> None:
    image = painterly.stylize(gradient_image(30, 40), "starry:0.5,udnie:0.5", method="preset")
    assert image.shape == (1, 3, 30, 40)
    with pytest.raises(ConfigError, match="unknown method"):
        painterly.stylize(gradient_image(30, 40), "starry", method="nope")


def test_shipped_networks_are_weights_entries_with_checksums(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(SHIPPED) >= {"presets", "adain_decoder", "wct_decoders", "photo_decoder"}
    for name, entry in SHIPPED.items():
        monkeypatch.delenv(entry.override, raising=False)
        assert verify_shipped(name) == entry.sha256
        assert entry.card_path().is_file()
    with pytest.raises(ConfigError, match="no shipped network 'wct'"):
        get_shipped("wct")
    damaged = tmp_path / "presets.safetensors"
    damaged.write_bytes(b"not the presets")
    monkeypatch.setattr(type(SHIPPED["presets"]), "packaged_path", lambda self: damaged)
    with pytest.raises(WeightsError, match="installation is damaged"):
        verify_shipped("presets")
