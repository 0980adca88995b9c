"""The presets that ship inside the package, a quality network and a fast one with the same styles: present, small,
complete, documented, pinned, and working."""

from __future__ import annotations

import pytest
import torch
from safetensors import safe_open

from painterly.methods.feedforward import style_weights
from painterly.methods.stylizer import NetworkStylizer
from painterly.presets import (
    PRESET_NETWORKS,
    list_presets,
    load_presets,
    model_card_path,
    model_card_text,
    preset_info,
    presets_path,
)
from painterly.weights import SHIPPED, verify_shipped

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
NETWORKS = list(PRESET_NETWORKS)


@pytest.fixture(autouse=True)
def shipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAINTERLY_PRESETS", raising=False)
    monkeypatch.delenv("PAINTERLY_PRESETS_FAST", raising=False)


def test_the_pair_is_quality_and_fast() -> None:
    assert NETWORKS == ["quality", "fast"]
    assert presets_path() == presets_path(network="quality") == SHIPPED["presets"].packaged_path()
    assert presets_path(network="fast") == SHIPPED["presets_fast"].packaged_path()
    assert presets_path(network="fast").name == "presets_fast.safetensors"
    assert model_card_path(network="fast").name == "presets_fast.md"


@pytest.mark.parametrize("network", NETWORKS)
def test_shipped_model_is_small_fp16_and_has_every_style(network: str) -> None:
    path = presets_path(network=network)
    assert path.is_file(), f"the package must ship {path}"
    assert path.stat().st_size <= 15 * 1024 * 1024
    with safe_open(str(path), framework="pt") as handle:
        assert {handle.get_tensor(key).dtype for key in handle.keys()} == {torch.float16}  # noqa: SIM118
    assert {preset.name for preset in list_presets(network=network)} == SHIPPED_STYLES
    info = preset_info(network=network)
    assert info["steps"] > 0 and info["final_losses"]["total"] > 0


def test_both_networks_have_the_same_styles_in_the_same_order() -> None:
    # the studio lists the quality network's presets and the webcam picks the fast network's style by that index
    quality = [(preset.name, preset.index) for preset in list_presets(network="quality")]
    assert [(preset.name, preset.index) for preset in list_presets(network="fast")] == quality


@pytest.mark.parametrize(("network", "entry"), [("quality", "presets"), ("fast", "presets_fast")])
def test_shipped_files_match_their_pinned_sha256(network: str, entry: str) -> None:
    assert verify_shipped(entry) == SHIPPED[entry].sha256
    assert SHIPPED[entry].path() == presets_path(network=network)
    assert SHIPPED[entry].card_path() == model_card_path(network=network)


@pytest.mark.parametrize("network", NETWORKS)
def test_model_card_describes_every_style_and_the_training(network: str) -> None:
    card = model_card_path(network=network).read_text(encoding="utf-8")
    assert model_card_text(network=network) == card
    for name in SHIPPED_STYLES:
        assert f"`{name}`" in card
    assert "public domain" in card and f"Trained {preset_info(network=network)['steps']} of" in card


def test_the_fast_card_says_what_it_is_for() -> None:
    title, _, rest = model_card_text(network="fast").partition("\n")
    assert "fast" in title
    assert "webcam" in rest and "--network fast" in rest


@pytest.mark.parametrize("network", NETWORKS)
def test_shipped_network_runs_forward_and_backward_on_32px(network: str) -> None:
    model, names = load_presets(network=network)
    image = torch.rand(1, 3, 32, 32, requires_grad=True)
    output = model(image, style_weights(len(names), {0: 1.0}))
    assert output.shape == image.shape and torch.isfinite(output).all()
    output.mean().backward()
    assert image.grad is not None and torch.isfinite(image.grad).all()


@pytest.mark.parametrize("network", NETWORKS)
def test_shipped_styles_differ(network: str) -> None:
    model, names = load_presets(network=network)
    stylizer = NetworkStylizer(model, names, device="cpu", precision="fp32")
    photo = torch.rand(1, 3, 48, 64)
    first = stylizer.stylize(photo, {"starry_night": 1.0})
    second = stylizer.stylize(photo, {"the_scream": 1.0})
    assert (first - second).abs().mean() > 0.01


def test_the_weights_commands_know_the_fast_network(capsys: pytest.CaptureFixture[str]) -> None:
    from painterly.cli import main
    from painterly.weights import fingerprints

    assert main(["weights", "list"]) == 0
    listing = capsys.readouterr().out
    assert "presets_fast" in listing and "presets_fast.md" in listing and "webcam" in listing
    assert main(["weights", "verify", "presets", "presets_fast"]) == 0
    verified = capsys.readouterr().out.splitlines()
    assert f"presets_fast: ok sha256 {SHIPPED['presets_fast'].sha256}" in verified
    assert f"presets: ok sha256 {SHIPPED['presets'].sha256}" in verified
    assert main(["weights", "path", "presets_fast"]) == 0
    assert capsys.readouterr().out.strip() == str(presets_path(network="fast"))
    assert set(fingerprints(["presets", "presets_fast"])) == {"presets", "presets_fast"}
