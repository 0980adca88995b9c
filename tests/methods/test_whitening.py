"""The whitening and colouring transform: statistics, whitening, colouring, masks, blends, degenerate inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from painterly.errors import ConfigError
from painterly.methods.whitening import (
    apply_affine,
    blended_colouring,
    feature_statistics,
    symmetric_eigh,
    transform_matrix,
    whiten_and_colour,
)

CHANNELS, HEIGHT, WIDTH = 6, 12, 15


def correlated(seed: int, *, scale: float = 1.0, offset: float = 0.0) -> torch.Tensor:
    """(1, C, H, W) features whose channels are strongly correlated (a random mixing of normal noise)."""
    generator = torch.Generator().manual_seed(seed)
    mixing = torch.randn(CHANNELS, CHANNELS, generator=generator, dtype=torch.float64)
    noise = torch.randn(CHANNELS, HEIGHT * WIDTH, generator=generator, dtype=torch.float64)
    means = torch.linspace(-1, 2, CHANNELS, dtype=torch.float64)[:, None]
    flat = scale * (mixing @ noise) + means + offset
    return flat.reshape(1, CHANNELS, HEIGHT, WIDTH).float()


def pixels(features: torch.Tensor) -> np.ndarray:
    """(C, N) float64 numpy view of (1, C, H, W) features."""
    return features[0].reshape(features.shape[1], -1).double().numpy()


def covariance_of(statistics_eigenvalues: torch.Tensor, eigenvectors: torch.Tensor) -> np.ndarray:
    return ((eigenvectors * statistics_eigenvalues) @ eigenvectors.T).numpy()


def test_statistics_match_numpy() -> None:
    features = correlated(0)
    statistics = feature_statistics(features)
    reference = pixels(features)
    np.testing.assert_allclose(statistics.mean.numpy(), reference.mean(axis=1), rtol=1e-6, atol=1e-6)
    covariance = covariance_of(statistics.eigenvalues, statistics.eigenvectors)
    np.testing.assert_allclose(covariance, np.cov(reference), rtol=1e-4, atol=1e-4)
    assert statistics.mean.dtype == statistics.eigenvalues.dtype == torch.float64
    assert statistics.channels == CHANNELS


def test_whitened_covariance_is_the_identity() -> None:
    content = correlated(1)
    statistics = feature_statistics(content)
    centred = torch.from_numpy(pixels(content)) - statistics.mean[:, None]
    whitened = (statistics.whitening() @ centred).numpy()
    np.testing.assert_allclose(np.cov(whitened), np.eye(CHANNELS), atol=1e-4)
    # and colouring undoes it
    np.testing.assert_allclose((statistics.colouring() @ statistics.whitening()).numpy(), np.eye(CHANNELS), atol=1e-5)


def test_coloured_covariance_and_mean_equal_the_styles() -> None:
    content, style = correlated(2), correlated(3, scale=3.0, offset=1.5)
    result = whiten_and_colour(content, [feature_statistics(style)])
    assert result.shape == content.shape and result.dtype == torch.float32
    output, reference = pixels(result), pixels(style)
    np.testing.assert_allclose(output.mean(axis=1), reference.mean(axis=1), atol=1e-4)
    np.testing.assert_allclose(np.cov(output), np.cov(reference), rtol=1e-4, atol=1e-3)


def test_transform_matrix_is_the_same_affine_map() -> None:
    content, style = correlated(4), correlated(5, scale=2.0)
    content_statistics, style_statistics = feature_statistics(content), feature_statistics(style)
    matrix, offset = transform_matrix(content_statistics, style_statistics.colouring(), style_statistics.mean)
    assert matrix.shape == (CHANNELS, CHANNELS) and offset.shape == (CHANNELS,)
    by_hand = apply_affine(content, matrix, offset)
    torch.testing.assert_close(by_hand, whiten_and_colour(content, [style_statistics]))
    expected = matrix.numpy() @ pixels(content) + offset.numpy()[:, None]
    np.testing.assert_allclose(pixels(by_hand), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ConfigError, match="a 3-channel style for 6-channel features"):
        transform_matrix(content_statistics, torch.eye(3, dtype=torch.float64), torch.zeros(3))


def test_symmetric_eigh_restores_the_thread_count() -> None:
    threads = torch.get_num_threads()
    matrix = torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    values, vectors = symmetric_eigh(matrix)
    np.testing.assert_allclose(values.numpy(), [1.0, 3.0], atol=1e-12)
    torch.testing.assert_close((vectors * values) @ vectors.T, matrix)
    assert torch.get_num_threads() == threads


def test_masked_statistics_are_those_of_the_masked_pixels() -> None:
    features = correlated(6)
    mask = torch.zeros(1, 1, HEIGHT, WIDTH)
    mask[..., 2:9, 3:11] = 1.0
    mask[..., 0, 0] = 1.0
    statistics = feature_statistics(features, mask)
    inside = pixels(features)[:, mask.reshape(-1).numpy() > 0.5]
    assert inside.shape[1] == 7 * 8 + 1
    np.testing.assert_allclose(statistics.mean.numpy(), inside.mean(axis=1), rtol=1e-6, atol=1e-6)
    covariance = covariance_of(statistics.eigenvalues, statistics.eigenvectors)
    np.testing.assert_allclose(covariance, np.cov(inside), rtol=1e-4, atol=1e-4)


def test_a_flat_style_and_a_flat_content_give_the_style_mean() -> None:
    content = correlated(7)
    colour = torch.tensor([0.5, -1.0, 2.0, 0.0, 3.0, 1.0])
    flat_style = colour.reshape(1, CHANNELS, 1, 1).expand(1, CHANNELS, HEIGHT, WIDTH).contiguous()
    statistics = feature_statistics(flat_style)
    assert statistics.eigenvalues.numel() == 0  # zero covariance: nothing kept, no 1/sqrt(0)
    result = whiten_and_colour(content, [statistics])
    assert bool(torch.isfinite(result).all())
    torch.testing.assert_close(result, flat_style, atol=1e-5, rtol=0)
    flat_content = torch.full((1, CHANNELS, HEIGHT, WIDTH), 0.7)
    style = correlated(8, scale=2.0)
    result = whiten_and_colour(flat_content, [feature_statistics(style)])
    assert bool(torch.isfinite(result).all())
    expected = feature_statistics(style).mean.float().reshape(1, CHANNELS, 1, 1).expand_as(result)
    torch.testing.assert_close(result, expected, atol=1e-5, rtol=0)


def test_a_rank_deficient_style_gives_its_covariance_without_nans() -> None:
    generator = torch.Generator().manual_seed(9)
    direction = torch.randn(CHANNELS, 1, generator=generator)
    signal = torch.randn(1, HEIGHT * WIDTH, generator=generator)
    style = (direction @ signal + 1.0).reshape(1, CHANNELS, HEIGHT, WIDTH)  # rank 1
    statistics = feature_statistics(style)
    assert statistics.eigenvalues.numel() == 1
    result = whiten_and_colour(correlated(10), [statistics])
    assert bool(torch.isfinite(result).all())
    np.testing.assert_allclose(pixels(result).mean(axis=1), pixels(style).mean(axis=1), atol=1e-4)
    np.testing.assert_allclose(np.cov(pixels(result)), np.cov(pixels(style)), rtol=1e-3, atol=1e-3)


def test_alpha_zero_returns_the_content_and_alpha_mixes() -> None:
    content, style = correlated(11), feature_statistics(correlated(12, scale=2.0))
    assert torch.equal(whiten_and_colour(content, [style], alpha=0.0), content)
    full = whiten_and_colour(content, [style])
    torch.testing.assert_close(whiten_and_colour(content, [style], alpha=0.25), 0.25 * full + 0.75 * content)


def test_a_blend_is_the_weighted_sum_of_the_single_style_results() -> None:
    content = correlated(13)
    first, second = feature_statistics(correlated(14, scale=3.0)), feature_statistics(correlated(15, offset=-2.0))
    alone = [whiten_and_colour(content, [style]) for style in (first, second)]
    blended = whiten_and_colour(content, [first, second], [1.0, 3.0])  # normalised to 0.25, 0.75
    torch.testing.assert_close(blended, 0.25 * alone[0] + 0.75 * alone[1], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(whiten_and_colour(content, [first, second], [1.0, 0.0]), alone[0], atol=1e-5, rtol=0)
    colouring, mean = blended_colouring([first, second], None)
    torch.testing.assert_close(mean, 0.5 * first.mean + 0.5 * second.mean)
    torch.testing.assert_close(colouring, 0.5 * first.colouring() + 0.5 * second.colouring())


def test_masks_confine_each_style_and_leave_the_content_elsewhere() -> None:
    content = correlated(16)
    style = correlated(17, scale=2.0, offset=3.0)
    mask = torch.zeros(1, 1, HEIGHT, WIDTH)
    mask[..., :7] = 1.0
    result = whiten_and_colour(content, [feature_statistics(style)], masks=[mask])
    assert torch.equal(result[..., 7:], content[..., 7:])
    inside = pixels(result[..., :7].contiguous())
    np.testing.assert_allclose(inside.mean(axis=1), pixels(style).mean(axis=1), atol=1e-4)
    np.testing.assert_allclose(np.cov(inside), np.cov(pixels(style)), rtol=1e-3, atol=1e-3)
    # two styles, two disjoint masks: each region gets its style, nothing of the content remains there
    other = correlated(18, offset=-4.0)
    right = torch.zeros_like(mask)
    right[..., 7:] = 1.0
    both = whiten_and_colour(content, [feature_statistics(style), feature_statistics(other)], masks=[mask, right])
    torch.testing.assert_close(both[..., :7], result[..., :7])
    np.testing.assert_allclose(pixels(both[..., 7:].contiguous()).mean(axis=1), pixels(other).mean(axis=1), atol=1e-4)
    # a mask that vanishes leaves the content
    empty = whiten_and_colour(content, [feature_statistics(style)], masks=[torch.zeros_like(mask)])
    assert torch.equal(empty, content)


def test_masks_of_another_size_are_resized() -> None:
    content = correlated(19)
    mask = torch.zeros(1, 1, 2 * HEIGHT, 2 * WIDTH)
    mask[..., : 2 * 7] = 1.0
    result = whiten_and_colour(content, [feature_statistics(correlated(20, offset=5.0))], masks=[mask])
    assert torch.equal(result[..., 7:], content[..., 7:])
    assert not torch.allclose(result[..., :7], content[..., :7])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda c, s: whiten_and_colour(c, [s, s], masks=[torch.ones(1, 1, HEIGHT, WIDTH)]),
            r"got 1 mask\(s\) for 2 style\(s\): give one mask per style",
        ),
        (lambda c, s: whiten_and_colour(c, [s], alpha=1.5), r"alpha must be within 0\.\.1, got 1\.5"),
        (lambda c, s: whiten_and_colour(c, [s], alpha=-0.1), r"alpha must be within 0\.\.1, got -0\.1"),
        (lambda c, s: whiten_and_colour(c, []), "at least one style is needed"),
        (lambda c, s: whiten_and_colour(c, [s, s], [1.0]), r"got 1 style weight\(s\) for 2 style image\(s\)"),
        (
            lambda c, s: feature_statistics(c, torch.zeros(1, 1, HEIGHT, WIDTH)),
            "a region needs at least two feature pixels for its statistics",
        ),
        (lambda c, s: feature_statistics(c[..., :1, :1]), "a region needs at least two feature pixels"),
        (lambda c, s: feature_statistics(c.repeat(2, 1, 1, 1)), r"features must be \(1, C, H, W\), got \(2, 6"),
        (lambda c, s: feature_statistics(c[0]), r"features must be \(1, C, H, W\)"),
        (lambda c, s: feature_statistics(c, torch.ones(1, 1, 3, 3)), r"mask of size \(3, 3\) for features of size"),
        (
            lambda c, s: blended_colouring([s, feature_statistics(c[:, :3])], None),
            r"styles of different channel counts \[3, 6\] cannot be blended",
        ),
    ],
)
def test_bad_inputs_raise_clear_errors(call: object, message: str) -> None:
    content, style = correlated(21), feature_statistics(correlated(22))
    with pytest.raises(ConfigError, match=message):
        call(content, style)  # type: ignore[operator]


def test_a_one_pixel_region_is_refused() -> None:
    mask = torch.zeros(1, 1, HEIGHT, WIDTH)
    mask[..., 4, 4] = 1.0
    with pytest.raises(ConfigError, match=r"a region needs at least two feature pixels.*enlarge it or the image"):
        feature_statistics(correlated(23), mask)


def test_a_region_too_small_to_measure_leaves_the_content_not_a_hole() -> None:
    torch.manual_seed(3)
    content = torch.rand(1, 8, 4, 4) + 0.5
    style = feature_statistics(torch.rand(1, 8, 8, 8))
    tiny = torch.zeros(1, 1, 4, 4)
    tiny[..., 0, 0] = 1.0
    result = whiten_and_colour(content, [style, style], masks=[tiny, 1.0 - tiny])
    torch.testing.assert_close(result[..., 0, 0], content[..., 0, 0])
    assert not torch.allclose(result[..., 2, 2], content[..., 2, 2])


def test_whitening_runs_in_full_precision_under_autocast() -> None:
    torch.manual_seed(4)
    content, style = torch.randn(1, 16, 12, 12), torch.randn(1, 16, 12, 12) * 2 + 1
    reference = whiten_and_colour(content, [feature_statistics(style)])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under = whiten_and_colour(content, [feature_statistics(style)])
    assert under.dtype == torch.float32
    torch.testing.assert_close(under, reference)


def test_statistics_can_skip_the_padding() -> None:
    torch.manual_seed(5)
    content = torch.randn(1, 6, 10, 10)
    style = feature_statistics(torch.randn(1, 6, 10, 10) + 3)
    cropped = whiten_and_colour(content[..., :7, :8], [style])
    padded = whiten_and_colour(content, [style], measured=(7, 8))
    torch.testing.assert_close(padded[..., :7, :8], cropped)
