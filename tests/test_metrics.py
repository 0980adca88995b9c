"""LPIPS against a plain per-position reference on a tiny encoder, and its basic properties on the real one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from painterly.encoders.vgg import VGGEncoder
from painterly.errors import ConfigError
from painterly.metrics import LPIPS, LPIPS_LAYERS
from tests.conftest import gradient_image


def tiny_heads(encoder: VGGEncoder) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    channels = {
        name: module.out_channels
        for name, module in encoder.body.named_children()
        if isinstance(module, torch.nn.Conv2d)
    }
    return {
        f"lin{i}.weight": torch.rand(1, channels[layer.replace("relu", "conv")], 1, 1, generator=generator)
        for i, layer in enumerate(LPIPS_LAYERS)
    }


def test_lpips_matches_plain_reference(tiny_encoder_factory: Callable[..., VGGEncoder]) -> None:
    encoder = tiny_encoder_factory(list(LPIPS_LAYERS))
    heads = tiny_heads(encoder)
    metric = LPIPS(encoder=encoder, heads=heads)
    a, b = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        fa, fb = encoder(a), encoder(b)
    expected = np.zeros(2)
    for i, layer in enumerate(LPIPS_LAYERS):
        x, y = fa[layer].double().numpy(), fb[layer].double().numpy()
        x = x / (np.sqrt((x**2).sum(axis=1, keepdims=True)) + 1e-10)
        y = y / (np.sqrt((y**2).sum(axis=1, keepdims=True)) + 1e-10)
        w = heads[f"lin{i}.weight"].double().numpy()
        expected += ((x - y) ** 2 * w).sum(axis=1).mean(axis=(1, 2))
    np.testing.assert_allclose(metric(a, b).numpy(), expected, rtol=1e-5)


def test_lpips_refuses_mismatched_shapes(tiny_encoder_factory: Callable[..., VGGEncoder]) -> None:
    encoder = tiny_encoder_factory(list(LPIPS_LAYERS))
    metric = LPIPS(encoder=encoder, heads=tiny_heads(encoder))
    with pytest.raises(ConfigError, match="one shape"):
        metric(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 16, 32))


@pytest.mark.real_weights
def test_real_lpips_properties(real_weights: Path) -> None:
    metric = LPIPS()
    image = gradient_image(64, 64)
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(image.shape, generator=generator)
    with torch.no_grad():
        assert float(metric(image, image)[0]) == pytest.approx(0.0, abs=1e-6)
        light = float(metric(image, (image + 0.02 * noise).clamp(0, 1))[0])
        heavy = float(metric(image, (image + 0.2 * noise).clamp(0, 1))[0])
        swapped = float(metric((image + 0.2 * noise).clamp(0, 1), image)[0])
    assert 0 < light < heavy < 2
    assert swapped == pytest.approx(heavy, rel=1e-5)
