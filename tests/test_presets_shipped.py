"""The presets that ship inside the package: present, small, complete, documented, and working."""

from __future__ import annotations

import pytest
import torch
from safetensors import safe_open

from painterly.methods.feedforward import style_weights
from painterly.methods.stylizer import NetworkStylizer
from painterly.presets import list_presets, load_presets, model_card_path, preset_info, presets_path

SHIPPED_STYLES = {
    "contrast_of_forms",
    "mondrian",
    "picasso_selfport1907",
    "seated_nude",
    "shipwreck",
    "starry_night",
    "the_resevoir_at_poitiers",
    "the_scream",
    "udnie",
    "woman_with_hat_matisse",
}


@pytest.fixture(autouse=True)
def shipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAINTERLY_PRESETS", raising=False)


def test_shipped_model_is_small_fp16_and_has_every_style() -> None:
    path = presets_path()
    assert path.is_file(), f"the package must ship {path}"
    assert path.stat().st_size <= 15 * 1024 * 1024
    with safe_open(str(path), framework="pt") as handle:
        assert {handle.get_tensor(key).dtype for key in handle.keys()} == {torch.float16}  # noqa: SIM118
    assert {preset.name for preset in list_presets()} == SHIPPED_STYLES
    info = preset_info()
    assert info["steps"] > 0 and info["final_losses"]["total"] > 0


def test_model_card_describes_every_style_and_the_training() -> None:
    card = model_card_path().read_text(encoding="utf-8")
    for name in SHIPPED_STYLES:
        assert f"`{name}`" in card
    assert "public domain" in card and f"Trained {preset_info()['steps']} of" in card


def test_shipped_network_runs_forward_and_backward_on_32px() -> None:
    network, names = load_presets()
    image = torch.rand(1, 3, 32, 32, requires_grad=True)
    output = network(image, style_weights(len(names), {0: 1.0}))
    assert output.shape == image.shape and torch.isfinite(output).all()
    output.mean().backward()
    assert image.grad is not None and torch.isfinite(image.grad).all()


def test_shipped_styles_differ() -> None:
    network, names = load_presets()
    stylizer = NetworkStylizer(network, names, device="cpu", precision="fp32")
    photo = torch.rand(1, 3, 48, 64)
    first = stylizer.stylize(photo, {"starry_night": 1.0})
    second = stylizer.stylize(photo, {"the_scream": 1.0})
    assert (first - second).abs().mean() > 0.01
