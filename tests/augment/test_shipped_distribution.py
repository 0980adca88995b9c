"""The shipped style distribution, and style augmentation with the real networks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from painterly.augment.distribution import join_statistics
from painterly.augment.shipped import shipped_distribution_path
from painterly.augment.transform import StyleAugmentBatch, _distribution
from painterly.training.model_card import PAINTINGS


@pytest.fixture(autouse=True)
def shipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAINTERLY_STYLE_DISTRIBUTION", raising=False)
    monkeypatch.delenv("PAINTERLY_DECODER", raising=False)


def test_the_shipped_distribution_covers_the_ten_paintings() -> None:
    distribution = _distribution(None)
    assert shipped_distribution_path().name == "style_distribution.safetensors"
    assert distribution.channels == 512 and distribution.rank == 16
    assert set(distribution.sources) == set(PAINTINGS)
    means, deviations = distribution.sample(64, torch.Generator().manual_seed(0))
    assert (deviations > 0).all() and means.shape == (64, 512, 1, 1)
    spread = join_statistics(means, deviations).std(0).mean()
    assert 0.1 * distribution.residual.sqrt().mean() < spread  # styles differ from each other
    card = shipped_distribution_path().with_suffix(".md").read_text()
    assert "480 points" in card and "relu4_1" in card


def test_augmenting_photos_with_the_real_networks(real_weights: Path) -> None:
    from skimage import data

    from painterly.image.io import as_loaded_image, resize_long_side

    photos = torch.cat(
        [
            resize_long_side(as_loaded_image(picture).rgb, 160)[..., :80, :112]
            for picture in (data.astronaut(), data.chelsea())
        ]
    )
    gentle = StyleAugmentBatch(p=1.0, strength=0.0, seed=0, precision="fp32")(photos)
    strong = StyleAugmentBatch(p=1.0, strength=1.0, seed=0, precision="fp32")(photos)
    # strength 0 is the decoder's reconstruction; strength 1 a new style: further from the photo, colours changed
    assert float((gentle - photos).abs().mean()) < float((strong - photos).abs().mean())
    assert float((strong.mean((2, 3)) - photos.mean((2, 3))).abs().max()) > 0.03
