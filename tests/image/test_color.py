"""Tests of painterly.image.color against plain numpy (float64) references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from painterly.errors import ConfigError
from painterly.image.color import (
    COLOR_MODES,
    combine_luminance_with_chroma,
    finish_colors,
    luminance,
    luminance_as_rgb,
    match_histogram,
    match_luminance,
    match_mean_covariance,
    prepare_content_colors,
    prepare_style_colors,
    rgb_to_yiq,
    yiq_to_rgb,
)

# Standard NTSC (FCC) coefficients, written out independently of the module.
NTSC_RGB_TO_YIQ = np.array(
    [
        [0.299, 0.587, 0.114],
        [0.596, -0.274, -0.322],
        [0.211, -0.523, 0.312],
    ]
)


def rand(*shape: int, low: float = 0.0, high: float = 1.0, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(*shape, generator=generator)


def correlated_colors(batch: int, size: int, mean: list[float], mix: list[list[float]], seed: int) -> torch.Tensor:
    """Gaussian pixel colours ``mean + mix @ z``: a known, correlated colour distribution."""
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, 3, size * size, generator=generator)
    pixels = torch.tensor(mix) @ z + torch.tensor(mean).reshape(1, 3, 1)
    return pixels.reshape(batch, 3, size, size)


def covariance_np(image: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    pixels = image.double().numpy().reshape(3, -1)
    return pixels.mean(axis=1), np.cov(pixels, bias=True)


def histogram_match_np(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Float64 reference: unique source value -> its mid-rank quantile -> np.interp of reference quantiles."""
    _, inverse, counts = np.unique(source, return_inverse=True, return_counts=True)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    midranks = starts + (counts - 1) / 2.0
    quantiles = midranks / max(source.size - 1, 1)
    ref_sorted = np.sort(reference.ravel())
    ref_positions = np.linspace(0.0, 1.0, ref_sorted.size)
    return np.interp(quantiles, ref_positions, ref_sorted)[inverse].reshape(source.shape)


# --- YIQ ----------------------------------------------------------------------------------------------------


def test_yiq_round_trip_is_exact() -> None:
    image = rand(2, 3, 9, 7)
    assert torch.allclose(yiq_to_rgb(rgb_to_yiq(image)), image, atol=1e-6)
    yiq = rgb_to_yiq(image)
    assert torch.allclose(rgb_to_yiq(yiq_to_rgb(yiq)), yiq, atol=1e-6)


def test_yiq_matches_ntsc_reference() -> None:
    image = rand(2, 3, 5, 6, seed=1)
    expected = np.einsum("ij,bjhw->bihw", NTSC_RGB_TO_YIQ, image.double().numpy())
    # The printed NTSC coefficients are rounded to 3 decimals; Y's are exact.
    np.testing.assert_allclose(rgb_to_yiq(image).numpy(), expected, atol=2e-3)
    np.testing.assert_allclose(rgb_to_yiq(image)[:, :1].numpy(), expected[:, :1], atol=1e-6)
    np.testing.assert_allclose(luminance(image).numpy(), expected[:, :1], atol=1e-6)


def test_grey_has_no_chroma_and_luminance_as_rgb_is_grey() -> None:
    grey = rand(1, 1, 4, 4).expand(1, 3, 4, 4)
    assert torch.allclose(rgb_to_yiq(grey)[:, 1:], torch.zeros(1, 2, 4, 4), atol=1e-6)
    image = rand(2, 3, 4, 5)
    as_rgb = luminance_as_rgb(image)
    assert as_rgb.shape == (2, 3, 4, 5)
    for channel in range(3):
        assert torch.equal(as_rgb[:, channel : channel + 1], luminance(image))


# --- luminance-only transfer -------------------------------------------------------------------------------


def test_match_luminance_has_content_statistics() -> None:
    style = rand(2, 3, 12, 10, seed=2)
    content = rand(2, 3, 8, 8, low=0.3, high=0.7, seed=3)
    matched = match_luminance(style, content)
    assert matched.shape == style.shape
    assert torch.equal(matched[:, 0], matched[:, 1]) and torch.equal(matched[:, 0], matched[:, 2])
    content_y = luminance(content).double()
    matched_y = luminance(matched).double()
    for b in range(2):
        assert matched_y[b].mean().item() == pytest.approx(content_y[b].mean().item(), abs=1e-5)
        assert matched_y[b].std(unbiased=False).item() == pytest.approx(
            content_y[b].std(unbiased=False).item(), abs=1e-5
        )
    # The shape of the style's luminance is kept (a positive linear map of it).
    corr = np.corrcoef(matched_y[0].flatten().numpy(), luminance(style)[0].flatten().double().numpy())[0, 1]
    assert corr == pytest.approx(1.0, abs=1e-6)


def test_combine_keeps_content_chroma_and_stylised_luminance() -> None:
    stylised = rand(2, 3, 10, 10, low=0.4, high=0.6, seed=4)
    content = rand(2, 3, 10, 10, low=0.4, high=0.6, seed=5)
    combined = combine_luminance_with_chroma(stylised, content)
    combined_yiq = rgb_to_yiq(combined)
    assert torch.allclose(combined_yiq[:, 1:], rgb_to_yiq(content)[:, 1:], atol=1e-5)
    assert torch.allclose(combined_yiq[:, :1], luminance(stylised), atol=1e-5)


def test_combine_resizes_content_and_clamps() -> None:
    stylised = rand(1, 3, 16, 12, seed=6)
    content = rand(1, 3, 32, 24, seed=7)
    combined = combine_luminance_with_chroma(stylised, content)
    assert combined.shape == (1, 3, 16, 12)
    assert combined.min() >= 0.0 and combined.max() <= 1.0
    # A flat content keeps its flat chroma through the resize.
    flat = torch.tensor([0.6, 0.5, 0.4]).reshape(1, 3, 1, 1).expand(1, 3, 5, 7)
    result = combine_luminance_with_chroma(rand(1, 3, 16, 12, low=0.4, high=0.6), flat)
    expected_iq = rgb_to_yiq(flat)[:, 1:, :1, :1]
    assert torch.allclose(rgb_to_yiq(result)[:, 1:], expected_iq.expand(1, 2, 16, 12), atol=1e-5)


def test_combine_broadcasts_one_content_over_a_batch() -> None:
    stylised = rand(3, 3, 6, 6, low=0.4, high=0.6, seed=8)
    content = rand(1, 3, 6, 6, low=0.4, high=0.6, seed=9)
    combined = combine_luminance_with_chroma(stylised, content)
    for b in range(3):
        assert torch.allclose(combined[b : b + 1], combine_luminance_with_chroma(stylised[b : b + 1], content))


# --- histogram matching ------------------------------------------------------------------------------------


def test_match_histogram_against_numpy_reference() -> None:
    source = rand(2, 3, 13, 11, seed=10)
    reference = rand(2, 3, 7, 9, seed=11).pow(2)  # a different distribution and size
    matched = match_histogram(source, reference)
    assert matched.shape == source.shape
    for b in range(2):
        for c in range(3):
            expected = histogram_match_np(source[b, c].double().numpy(), reference[b, c].double().numpy())
            np.testing.assert_allclose(matched[b, c].numpy(), expected, atol=1e-6)


def test_match_histogram_sorted_output_equals_reference_quantiles() -> None:
    source = rand(1, 3, 20, 20, seed=12)  # continuous values: no ties
    reference = rand(1, 3, 15, 9, seed=13).pow(3)
    matched = match_histogram(source, reference)
    positions = np.linspace(0.0, 1.0, 400)
    for c in range(3):
        ref_sorted = np.sort(reference[0, c].double().numpy().ravel())
        expected = np.quantile(ref_sorted, positions)  # numpy's default "linear" quantiles
        np.testing.assert_allclose(np.sort(matched[0, c].numpy().ravel()), expected, atol=1e-6)


def test_match_histogram_keeps_ties_equal_and_handles_quantised_images() -> None:
    source = torch.round(rand(1, 3, 16, 16, seed=14) * 4) / 4  # only 5 levels: many ties
    reference = rand(1, 3, 16, 16, seed=15)
    matched = match_histogram(source, reference)
    for c in range(3):
        for level in source[0, c].unique():
            assert matched[0, c][source[0, c] == level].unique().numel() == 1
        expected = histogram_match_np(source[0, c].double().numpy(), reference[0, c].double().numpy())
        np.testing.assert_allclose(matched[0, c].numpy(), expected, atol=1e-6)


def test_match_histogram_is_per_image_and_broadcasts() -> None:
    source = rand(2, 3, 8, 8, seed=16)
    reference = rand(1, 3, 5, 5, seed=17)
    matched = match_histogram(source, reference)
    for b in range(2):
        assert torch.allclose(matched[b : b + 1], match_histogram(source[b : b + 1], reference))


# --- mean / covariance matching ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["symmetric", "cholesky"])
def test_match_mean_covariance_gives_reference_statistics(mode: str) -> None:
    source = correlated_colors(2, 32, [0.5, 0.45, 0.55], [[0.06, 0.02, 0.0], [0.02, 0.05, 0.01], [0.0, 0.01, 0.04]], 18)
    reference = correlated_colors(
        2, 24, [0.4, 0.6, 0.5], [[0.05, -0.01, 0.02], [0.0, 0.04, -0.02], [0.01, 0.0, 0.03]], 19
    )
    matched = match_mean_covariance(source, reference, mode=mode)  # type: ignore[arg-type]
    assert matched.min() > 0.0 and matched.max() < 1.0  # no clamping happened
    for b in range(2):
        mean, cov = covariance_np(matched[b])
        ref_mean, ref_cov = covariance_np(reference[b])
        np.testing.assert_allclose(mean, ref_mean, atol=1e-5)
        np.testing.assert_allclose(cov, ref_cov, atol=5e-5)


def test_symmetric_and_cholesky_differ_but_both_are_linear() -> None:
    source = correlated_colors(1, 16, [0.5, 0.5, 0.5], [[0.05, 0.03, 0.0], [0.0, 0.05, 0.0], [0.0, 0.0, 0.05]], 20)
    reference = correlated_colors(1, 16, [0.5, 0.5, 0.5], [[0.05, 0.0, 0.0], [0.03, 0.04, 0.0], [0.0, 0.02, 0.05]], 21)
    symmetric = match_mean_covariance(source, reference, mode="symmetric")
    cholesky = match_mean_covariance(source, reference, mode="cholesky")
    assert not torch.allclose(symmetric, cholesky, atol=1e-3)


def test_match_mean_covariance_flat_source_and_clamp() -> None:
    flat = torch.full((1, 3, 4, 4), 0.3)
    reference = rand(1, 3, 6, 6, seed=22)
    matched = match_mean_covariance(flat, reference)
    assert torch.isfinite(matched).all()
    expected_mean = reference.mean(dim=(2, 3))
    assert torch.allclose(matched.mean(dim=(2, 3)), expected_mean, atol=1e-5)
    wild = match_mean_covariance(rand(1, 3, 8, 8, seed=23), rand(1, 3, 8, 8, seed=24) * 3 - 1)
    assert wild.min() >= 0.0 and wild.max() <= 1.0


def test_match_mean_covariance_rejects_bad_arguments() -> None:
    image = rand(1, 3, 4, 4)
    with pytest.raises(ConfigError, match="cholesky, symmetric"):
        match_mean_covariance(image, image, mode="lu")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="eps"):
        match_mean_covariance(image, image, eps=-1.0)


# --- dispatch and validation -------------------------------------------------------------------------------


def test_prepare_and_finish_dispatch() -> None:
    style = rand(1, 3, 12, 12, seed=25)
    content = rand(1, 3, 8, 8, low=0.3, high=0.7, seed=26)
    stylised = rand(1, 3, 8, 8, low=0.4, high=0.6, seed=27)

    assert prepare_style_colors(style, content, "none") is style
    assert torch.equal(prepare_style_colors(style, content, "luminance"), match_luminance(style, content))
    assert torch.equal(prepare_style_colors(style, content, "histogram"), match_histogram(style, content))
    assert torch.equal(prepare_style_colors(style, content, "meancov"), match_mean_covariance(style, content))

    assert torch.equal(prepare_content_colors(content, "luminance"), luminance_as_rgb(content))
    for mode in ("none", "histogram", "meancov"):
        assert prepare_content_colors(content, mode) is content  # type: ignore[arg-type]
        assert finish_colors(stylised, content, mode) is stylised  # type: ignore[arg-type]
    assert torch.equal(finish_colors(stylised, content, "luminance"), combine_luminance_with_chroma(stylised, content))


def test_unknown_mode_lists_the_modes() -> None:
    image = rand(1, 3, 4, 4)
    assert COLOR_MODES == ("none", "luminance", "histogram", "meancov")
    for call in (
        lambda: prepare_style_colors(image, image, "sepia"),  # type: ignore[arg-type]
        lambda: prepare_content_colors(image, "sepia"),  # type: ignore[arg-type]
        lambda: finish_colors(image, image, "sepia"),  # type: ignore[arg-type]
    ):
        with pytest.raises(ConfigError, match="none, luminance, histogram, meancov"):
            call()


def test_bad_images_are_rejected() -> None:
    with pytest.raises(ConfigError, match=r"\(B, 3, H, W\)"):
        rgb_to_yiq(torch.rand(3, 4, 4))
    with pytest.raises(ConfigError, match=r"\(B, 3, H, W\)"):
        luminance(torch.rand(1, 4, 4, 4))
    with pytest.raises(ConfigError, match="floating-point"):
        luminance(torch.zeros(1, 3, 4, 4, dtype=torch.uint8))
    with pytest.raises(ConfigError, match="batch sizes 2 and 3"):
        match_histogram(torch.rand(2, 3, 4, 4), torch.rand(3, 3, 4, 4))


def test_inputs_untouched_and_gradients_flow() -> None:
    stylised = rand(1, 3, 6, 6, low=0.4, high=0.6, seed=28).requires_grad_()
    content = rand(1, 3, 6, 6, seed=29)
    before = (stylised.detach().clone(), content.clone())
    combine_luminance_with_chroma(stylised, content).sum().backward()
    assert stylised.grad is not None and torch.isfinite(stylised.grad).all()
    match_luminance(content, stylised).sum().backward()
    assert torch.equal(stylised.detach(), before[0]) and torch.equal(content, before[1])


def test_float64_and_bfloat16_inputs() -> None:
    image = rand(1, 3, 8, 8, seed=30)
    for dtype in (torch.float64, torch.bfloat16):
        cast = image.to(dtype)
        for result in (
            match_histogram(cast, cast.flip(-1)),
            match_mean_covariance(cast, cast.flip(-1)),
            combine_luminance_with_chroma(cast, cast),
        ):
            assert result.dtype == dtype
            assert torch.allclose(result.double(), image.double(), atol=0.02)
