"""The presets' pair of networks: ``network="quality"`` (default) and ``"fast"`` pick their own files, a model file
wins, a bad name is a one-line ConfigError, and the studio's webcam exports the fast one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import painterly
from painterly.errors import ConfigError
from painterly.methods.feedforward import NetworkSpec, StyleNetwork, style_weights
from painterly.methods.model_files import save_style_network
from painterly.methods.registry import get_method
from painterly.methods.stylizer import StylizeOptions
from painterly.presets import (
    check_network,
    list_presets,
    load_presets,
    model_card_text,
    preset_info,
    presets_path,
)
from tests.conftest import PRESET_NAMES, gradient_image
from tests.methods.test_feedforward import randomised

SPEC = NetworkSpec(width=4, residual_blocks=1, downsamplings=2, edge_kernel=5, styles=3)
BAD_NETWORK = "unknown preset network 'turbo': choose quality or fast"


@pytest.fixture
def pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Two different tiny networks with the same styles as the quality and the fast presets."""
    quality = save_style_network(randomised(SPEC), PRESET_NAMES, tmp_path / "q.safetensors", info={"steps": 5})
    fast = save_style_network(randomised(SPEC, seed=1), PRESET_NAMES, tmp_path / "f.safetensors", info={"steps": 2})
    monkeypatch.setenv("PAINTERLY_PRESETS", str(quality))
    monkeypatch.setenv("PAINTERLY_PRESETS_FAST", str(fast))
    return {"quality": quality, "fast": fast}


def same_weights(first: StyleNetwork, second: StyleNetwork) -> bool:
    one, two = first.state_dict(), second.state_dict()
    return one.keys() == two.keys() and all(torch.equal(one[key], two[key]) for key in one)


def test_each_network_loads_its_own_file(pair: dict[str, Path]) -> None:
    quality, names = load_presets()
    fast, fast_names = load_presets(network="fast")
    assert names == fast_names == PRESET_NAMES
    assert not same_weights(quality, fast)
    assert same_weights(load_presets(network="quality")[0], quality)
    for network, path in pair.items():
        assert presets_path(network=network) == path
        assert same_weights(load_presets(network=network)[0], load_presets(path)[0])
        assert {preset.model for preset in list_presets(network=network)} == {path}
    assert preset_info()["steps"] == 5 and preset_info(network="fast")["steps"] == 2
    assert "Trained 2 of" in model_card_text(network="fast") and "Trained 5 of" in model_card_text()


def test_a_model_file_wins_over_the_network(pair: dict[str, Path]) -> None:
    chosen, _ = load_presets(pair["quality"], network="fast")
    assert same_weights(chosen, load_presets()[0])
    assert list_presets(pair["quality"], network="fast")[0].model == pair["quality"]
    assert preset_info(pair["quality"], network="fast")["steps"] == 5


def test_a_bad_network_name_is_a_one_line_config_error(pair: dict[str, Path]) -> None:
    assert check_network("fast") == "fast"
    calls = [
        lambda: check_network("turbo"),
        lambda: presets_path(network="turbo"),
        lambda: list_presets(network="turbo"),
        lambda: list_presets(pair["fast"], network="turbo"),  # checked even when a model file decides
        lambda: preset_info(network="turbo"),
        lambda: model_card_text(network="turbo"),
        lambda: load_presets(network="turbo"),
        lambda: StylizeOptions(network="turbo"),
        lambda: get_method("preset").options(None, network="turbo"),
    ]
    for call in calls:
        with pytest.raises(ConfigError) as caught:
            call()
        assert str(caught.value) == BAD_NETWORK


def test_the_preset_method_runs_the_chosen_network(pair: dict[str, Path]) -> None:
    photo = gradient_image(24, 32)
    method = get_method("preset")
    assert StylizeOptions().network == "quality"
    results = {
        network: method.prepare(["udnie"], StylizeOptions(network=network, precision="fp32"))(photo)
        for network in ("quality", "fast")
    }
    with torch.no_grad():
        expected = load_presets(network="fast")[0](photo, style_weights(3, {2: 1.0}))
    torch.testing.assert_close(results["fast"], expected.clamp(0, 1), atol=1e-4, rtol=0)
    assert (results["fast"] - results["quality"]).abs().mean() > 1e-3
    through_api = painterly.stylize(photo, "udnie", method="preset", network="fast", precision="fp32")
    torch.testing.assert_close(through_api, results["fast"])


@pytest.mark.usefixtures("tiny_methods")
def test_the_webcam_exports_the_fast_network(tmp_path: Path) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    from painterly.record import file_sha256
    from painterly.web.webcam import WebcamModel

    fast_file = presets_path(network="fast")
    assert fast_file.name == "presets_fast.safetensors" and fast_file != presets_path()  # both from tiny_methods
    exported = WebcamModel(tmp_path / "webcam").path()
    assert exported.name == f"presets-fast-{file_sha256(fast_file)[:16]}.onnx"
    image = gradient_image(32, 48)
    weights = style_weights(3, {1: 1.0})
    session = onnxruntime.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    (output,) = session.run(None, {"image": image.numpy(), "weights": weights.numpy()})
    with torch.no_grad():
        fast = load_presets(network="fast")[0](image, weights).numpy()
        quality = load_presets(network="quality")[0](image, weights).numpy()
    np.testing.assert_allclose(output, fast, atol=1e-4)
    assert np.abs(output - quality).mean() > 1e-3


@pytest.mark.usefixtures("tiny_methods")
def test_the_webcam_falls_back_to_the_listed_network_when_the_styles_differ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A network of your own in PAINTERLY_PRESETS alone: the page's style indexes are its, so the webcam runs it."""
    from painterly.record import file_sha256
    from painterly.web.webcam import WebcamModel

    own = save_style_network(randomised(SPEC), ["a", "b", "c"], tmp_path / "own.safetensors")
    monkeypatch.setenv("PAINTERLY_PRESETS", str(own))
    exported = WebcamModel(tmp_path / "webcam").path()
    assert exported.name == f"presets-quality-{file_sha256(own)[:16]}.onnx"
