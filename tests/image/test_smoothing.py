"""Edge-preserving smoothing: the box mean and the guided filter."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from painterly.errors import ConfigError
from painterly.image.smoothing import box_mean, guided_filter


def loop_box_mean(image: np.ndarray, radius: int) -> np.ndarray:
    """Mean over the (2r+1)^2 window around each pixel of (C, H, W), the window clipped at the borders."""
    channels, height, width = image.shape
    result = np.zeros_like(image, dtype=np.float64)
    for y in range(height):
        for x in range(width):
            window = image[:, max(0, y - radius) : y + radius + 1, max(0, x - radius) : x + radius + 1]
            result[:, y, x] = window.reshape(channels, -1).mean(axis=1)
    return result


@pytest.mark.parametrize(("height", "width", "radius"), [(9, 13, 1), (7, 5, 3), (6, 11, 8)])
def test_box_mean_matches_a_loop_with_clipped_windows(height: int, width: int, radius: int) -> None:
    image = torch.rand(1, 2, height, width, generator=torch.Generator().manual_seed(radius))
    result = box_mean(image, radius)
    assert result.shape == image.shape and result.dtype == image.dtype
    np.testing.assert_allclose(result[0].numpy(), loop_box_mean(image[0].double().numpy(), radius), atol=1e-5)


def test_guided_filter_of_the_guide_by_itself_returns_it() -> None:
    guide = torch.rand(1, 3, 24, 31, generator=torch.Generator().manual_seed(0))
    result = guided_filter(guide, guide, radius=3, eps=1e-6)
    assert result.shape == guide.shape and result.dtype == torch.float32
    torch.testing.assert_close(result, guide, atol=2e-3, rtol=0)
    # any source that is an affine function of the guide's colours comes back too
    source = torch.cat([0.5 * guide[:, :1] + 0.2, guide[:, 1:2] - guide[:, 2:3]], dim=1)
    torch.testing.assert_close(guided_filter(guide, source, radius=4, eps=1e-6), source, atol=2e-3, rtol=0)


def test_noise_is_smoothed_while_the_guides_edge_is_kept() -> None:
    height, width, edge = 40, 48, 24
    guide = torch.full((1, 3, height, width), 0.2)
    guide[..., edge:] = 0.8
    noise = 0.05 * torch.randn(1, 1, height, width, generator=torch.Generator().manual_seed(1))
    source = guide[:, :1] + noise
    result = guided_filter(guide, source, radius=4, eps=1e-3)
    assert result.shape == (1, 1, height, width)
    # inside each flat side (away from the edge and the borders) the noise is mostly gone
    for side in (slice(4, edge - 6), slice(edge + 6, width - 4)):
        before, after = float(source[..., 4:-4, side].std()), float(result[..., 4:-4, side].std())
        assert after < 0.35 * before, (before, after)
    # the step stays a step: one pixel across the edge the output jumps by nearly the full 0.6
    jump = (result[..., edge] - result[..., edge - 1]).mean()
    assert float(jump) > 0.5
    assert float((result[..., : edge - 1] - 0.2).abs().mean()) < 0.02
    assert float((result[..., edge + 1 :] - 0.8).abs().mean()) < 0.02
    # a plain box blur of the same radius smears the edge over several pixels
    blurred = box_mean(source, 4)
    assert float((blurred[..., edge] - blurred[..., edge - 1]).mean()) < 0.2


def test_larger_eps_smooths_more() -> None:
    generator = torch.Generator().manual_seed(2)
    guide = torch.rand(1, 3, 32, 32, generator=generator)
    source = guide[:, :1] + 0.1 * torch.randn(1, 1, 32, 32, generator=generator)
    gentle = guided_filter(guide, source, radius=3, eps=1e-4)
    strong = guided_filter(guide, source, radius=3, eps=1e-1)
    roughness = [float((image[..., 1:, :] - image[..., :-1, :]).abs().mean()) for image in (source, gentle, strong)]
    assert roughness[2] < roughness[1] < roughness[0]


@pytest.mark.parametrize(
    ("guide_shape", "source_shape", "radius", "eps", "message"),
    [
        ((1, 1, 8, 8), (1, 3, 8, 8), 2, 1e-3, r"must share H and W, got \(1, 1, 8, 8\) and \(1, 3, 8, 8\)"),
        ((1, 3, 8, 8), (1, 3, 8, 9), 2, 1e-3, "must share H and W"),
        ((2, 3, 8, 8), (2, 3, 8, 8), 2, 1e-3, "must share H and W"),
        ((1, 3, 8, 8), (2, 3, 8, 8), 2, 1e-3, "must share H and W"),
        ((1, 3, 8, 8), (1, 3, 8, 8), 0, 1e-3, "needs radius >= 1 and eps > 0, got 0 and 0.001"),
        ((1, 3, 8, 8), (1, 3, 8, 8), 2, 0.0, "needs radius >= 1 and eps > 0"),
        ((1, 3, 8, 8), (1, 3, 8, 8), 2, -1.0, "needs radius >= 1 and eps > 0"),
        ((1, 3, 8, 8), (1, 3, 8, 8), 2, float("nan"), "needs radius >= 1 and eps > 0"),
    ],
)
def test_bad_shapes_and_arguments_raise(
    guide_shape: tuple[int, ...], source_shape: tuple[int, ...], radius: int, eps: float, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        guided_filter(torch.rand(guide_shape), torch.rand(source_shape), radius=radius, eps=eps)
