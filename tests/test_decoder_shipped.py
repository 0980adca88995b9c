"""The AdaIN decoder that ships inside the package: present, small, documented, and it works with the real VGG16."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from painterly.decoder_model import decoder_card_text, decoder_path, load_shipped_decoder
from painterly.methods.arbitrary import ArbitraryOptions, ArbitraryStylizer
from painterly.methods.model_files import read_decoder_metadata
from painterly.weights import get_shipped

HELD_OUT = {"starry_night", "the_scream", "udnie"}


@pytest.fixture(autouse=True)
def shipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAINTERLY_DECODER", raising=False)


def test_shipped_decoder_is_small_fp16_and_recorded() -> None:
    path = decoder_path()
    assert path.is_file(), f"the package must ship {path}"
    assert path.stat().st_size <= 15 * 1024 * 1024
    with safe_open(str(path), framework="pt") as handle:
        assert {handle.get_tensor(key).dtype for key in handle.keys()} == {torch.float16}  # noqa: SIM118
    spec, info = read_decoder_metadata(path)
    assert spec.in_channels == 512 and info["steps"] > 0
    assert set(info["held_out"]) == HELD_OUT and not HELD_OUT & set(info["paintings"])


def test_model_card_names_the_data_and_the_training() -> None:
    assert get_shipped("adain_decoder").card_path().is_file()
    card = decoder_card_text()
    _, info = read_decoder_metadata(decoder_path())
    assert "public domain" in card and f"Trained {info['steps']} of" in card
    for name in HELD_OUT:
        assert f"`{name}`" in card


@pytest.mark.real_weights
def test_shipped_decoder_reconstructs_and_stylises(real_weights: Path) -> None:
    from skimage import data

    from painterly.image.io import as_loaded_image, resize_long_side

    stylizer = ArbitraryStylizer(load_shipped_decoder(), device="cpu", precision="fp32")
    photo = resize_long_side(as_loaded_image(data.astronaut()).rgb, 256)
    reconstruction = stylizer.stylize(photo, [photo], options=ArbitraryOptions(alpha=0.0))
    flat = photo.mean(dim=(2, 3), keepdim=True).expand_as(photo)
    # the decoder inverts the encoder, roughly: measured 0.14 against 0.27 for the photo's mean colour
    assert float((reconstruction - photo).abs().mean()) < 0.65 * float((flat - photo).abs().mean())
    stripes = torch.zeros(1, 3, 64, 64)
    stripes[:, 0, ::8] = 1.0  # red stripes
    styled = stylizer.stylize(photo, [stripes])
    assert float((styled - reconstruction).abs().mean()) > 0.05
