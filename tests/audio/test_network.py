from __future__ import annotations

import math

import pytest
import torch

from painterly.audio.network import (
    GramTarget,
    NetworkSettings,
    RandomSpectralNetwork,
    content_loss,
    gram_loss,
    gram_matrix,
)
from painterly.errors import ConfigError


def test_the_network_is_a_valid_1d_convolution_with_relu() -> None:
    settings = NetworkSettings(filters=10, kernel_widths=(3, 5), seed=4)
    network = RandomSpectralNetwork(bins=7, settings=settings)
    features = torch.rand(7, 12)
    activations = network(features)
    assert [tuple(h.shape) for h in activations] == [(5, 10), (5, 8)]
    for width, weight, h in zip(settings.kernel_widths, network.weights, activations, strict=True):
        kernel = weight.reshape(-1, width, 7).permute(0, 2, 1)  # (filters, bins, width): conv1d's layout
        assert torch.allclose(h, torch.relu(torch.nn.functional.conv1d(features[None], kernel))[0], atol=1e-5)


def test_filters_are_he_scaled_and_seeded() -> None:
    a = RandomSpectralNetwork(bins=64, settings=NetworkSettings(filters=256, kernel_widths=(11,), seed=1))
    b = RandomSpectralNetwork(bins=64, settings=NetworkSettings(filters=256, kernel_widths=(11,), seed=1))
    c = RandomSpectralNetwork(bins=64, settings=NetworkSettings(filters=256, kernel_widths=(11,), seed=2))
    assert torch.equal(a.weights[0], b.weights[0]) and not torch.equal(a.weights[0], c.weights[0])
    assert a.weights[0].std().item() == pytest.approx(math.sqrt(2 / (64 * 11)), rel=0.02)
    assert NetworkSettings(filters=4096, kernel_widths=(3, 11, 31)).filters_per_bank() == [1366, 1365, 1365]


def test_bf16_is_close_to_fp32() -> None:
    settings = NetworkSettings(filters=64, kernel_widths=(5,))
    features = torch.rand(33, 20)
    exact = RandomSpectralNetwork(33, settings)(features)[0]
    rounded = RandomSpectralNetwork(33, settings, precision="bf16")(features)[0]
    assert rounded.dtype == torch.float32
    assert torch.allclose(rounded, exact, rtol=0.03, atol=0.03)


@pytest.mark.parametrize("filters", [8, 400])
def test_gram_loss_matches_the_plain_formula_both_ways(filters: int) -> None:
    # 8 filters: the Gram matrix is formed; 400 filters against ~60 frames: computed through the factor.
    generator = torch.Generator().manual_seed(0)
    h = torch.relu(torch.randn(filters, 30, generator=generator))
    styles = [torch.relu(torch.randn(filters, 20, generator=generator)) for _ in range(2)]
    target = GramTarget.from_activations(styles, [0.25, 0.75], frames=30)
    assert (target.gram is None) == (filters == 400)
    blended = 0.25 * gram_matrix(styles[0]) + 0.75 * gram_matrix(styles[1])
    expected = (gram_matrix(h) - blended).square().sum() / filters**2
    assert gram_loss(h, target).item() == pytest.approx(expected.item(), rel=1e-4)


def test_gram_loss_gradient_matches_finite_differences() -> None:
    generator = torch.Generator().manual_seed(1)
    style = torch.relu(torch.randn(40, 9, generator=generator, dtype=torch.float64))
    target = GramTarget.from_activations([style], [1.0], frames=6)
    assert target.gram is None
    h = torch.rand(40, 6, generator=generator, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: gram_loss(x, target), (h,))
    content = torch.rand(40, 6, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: content_loss(x, content), (h,))


def test_loss_of_the_style_itself_is_zero() -> None:
    style = torch.relu(torch.randn(300, 25))
    target = GramTarget.from_activations([style], [1.0], frames=25)
    assert gram_loss(style, target).item() == pytest.approx(0.0, abs=1e-6)
    assert content_loss(style, style).item() == 0.0


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (dict(kernel_widths=()), "at least one kernel width"),
        (dict(kernel_widths=(0,)), "at least 1 frame"),
        (dict(kernel_widths=(3, 3)), "repeat"),
        (dict(filters=1, kernel_widths=(3, 5)), "cannot be split"),
    ],
)
def test_bad_network_settings(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        NetworkSettings(**settings)  # type: ignore[arg-type]


def test_too_few_frames_and_wrong_bins() -> None:
    network = RandomSpectralNetwork(bins=9, settings=NetworkSettings(filters=4, kernel_widths=(11,)))
    with pytest.raises(ConfigError, match="fewer than the widest kernel"):
        network(torch.rand(9, 10))
    with pytest.raises(ConfigError, match="expected features"):
        network(torch.rand(8, 20))
