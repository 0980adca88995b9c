"""Tests of painterly.postprocess: identity, filter effects against hand formulas, and argument checks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from painterly.errors import ConfigError
from painterly.postprocess import (
    FinishOptions,
    adjust_contrast,
    adjust_saturation,
    apply_finish,
    denoise,
    sharpen,
)

LUMA = torch.tensor([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1)


def rand(*shape: int, low: float = 0.0, high: float = 1.0, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(*shape, generator=generator)


def smooth_image(batch: int = 2, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Mid-range image with structure at several scales (noise blurred a little), so clamping rarely bites."""
    noise = rand(batch, 3, size, size, seed=seed)
    blurred = F.avg_pool2d(F.pad(noise, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    return 0.3 + 0.4 * blurred


def high_frequency_energy(image: torch.Tensor) -> float:
    laplacian = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).reshape(1, 1, 3, 3)
    response = F.conv2d(image.reshape(-1, 1, *image.shape[-2:]), laplacian)
    return float(response.square().mean())


def test_identity_options_return_an_equal_tensor() -> None:
    image = rand(2, 3, 16, 16)
    options = FinishOptions()
    assert options.is_identity()
    assert torch.equal(apply_finish(image, options), image)
    assert not FinishOptions(sharpen=0.1).is_identity()
    assert not FinishOptions(saturation=0.9).is_identity()
    for result in (
        denoise(image, 0),
        sharpen(image, 0),
        adjust_contrast(image, 1),
        adjust_saturation(image, 1),
    ):
        assert torch.equal(result, image)


def test_sharpen_increases_high_frequency_energy() -> None:
    image = smooth_image()
    sharpened = sharpen(image, 1.0)
    assert sharpened.shape == image.shape
    assert high_frequency_energy(sharpened) > 1.5 * high_frequency_energy(image)
    # Stronger amount -> more energy; a flat image is unchanged; mean is roughly kept.
    assert high_frequency_energy(sharpen(image, 2.0)) > high_frequency_energy(sharpened)
    flat = torch.full((1, 3, 8, 8), 0.4)
    assert torch.allclose(sharpen(flat, 2.0, radius=3.0), flat, atol=1e-6)
    assert sharpened.mean().item() == pytest.approx(image.mean().item(), abs=5e-3)


def test_denoise_reduces_noise_and_keeps_a_step_edge() -> None:
    generator = torch.Generator().manual_seed(1)
    noise = 0.05 * torch.randn(2, 3, 48, 48, generator=generator)
    flat = torch.full((2, 3, 48, 48), 0.5)
    noisy = (flat + noise).clamp(0, 1)
    cleaned = denoise(noisy, 1.0)
    assert cleaned.var().item() < 0.25 * noisy.var().item()
    assert denoise(noisy, 0.3).var().item() > cleaned.var().item()  # strength matters

    step = torch.full((2, 3, 48, 48), 0.2)
    step[..., 24:] = 0.8
    cleaned_step = denoise((step + noise).clamp(0, 1), 1.0)
    left = cleaned_step[..., :, 23].mean().item()
    right = cleaned_step[..., :, 24].mean().item()
    assert right - left > 0.5  # the edge stays a one-pixel step
    assert cleaned_step[..., :, :20].mean().item() == pytest.approx(0.2, abs=0.02)
    assert cleaned_step[..., :, 28:].mean().item() == pytest.approx(0.8, abs=0.02)
    assert (cleaned_step[..., :, :20] - 0.2).var().item() < 0.25 * noise.var().item()


def test_contrast_matches_hand_formula() -> None:
    image = smooth_image(seed=2)
    for factor in (0.5, 1.5, 3.0):
        mean = (image * LUMA).sum(dim=1, keepdim=True).mean(dim=(2, 3), keepdim=True)
        expected = (mean + factor * (image - mean)).clamp(0, 1)
        assert torch.allclose(adjust_contrast(image, factor), expected, atol=1e-6)
    mean = (image * LUMA).sum(dim=1, keepdim=True).mean(dim=(2, 3), keepdim=True)
    assert torch.allclose(adjust_contrast(image, 0.0), mean.expand_as(image), atol=1e-6)


def test_saturation_matches_hand_formula() -> None:
    image = smooth_image(seed=3)
    grey = (image * LUMA).sum(dim=1, keepdim=True)
    for factor in (0.0, 0.5, 2.0):
        expected = (grey + factor * (image - grey)).clamp(0, 1)
        assert torch.allclose(adjust_saturation(image, factor), expected, atol=1e-6)


def test_apply_finish_order_and_clamp() -> None:
    image = smooth_image(seed=4)
    options = FinishOptions(denoise=0.5, sharpen=1.0, contrast=2.5, saturation=2.0)
    expected = adjust_saturation(adjust_contrast(sharpen(denoise(image, 0.5), 1.0), 2.5), 2.0)
    result = apply_finish(image, options)
    assert torch.equal(result, expected)
    assert result.min() >= 0.0 and result.max() <= 1.0
    only_contrast = apply_finish(image, FinishOptions(contrast=1.2))
    assert torch.equal(only_contrast, adjust_contrast(image, 1.2))


def test_inputs_untouched_batches_independent_and_gradients_flow() -> None:
    image = smooth_image(seed=5).requires_grad_()
    before = image.detach().clone()
    result = apply_finish(image, FinishOptions(denoise=0.2, sharpen=0.5, contrast=1.1, saturation=1.3))
    result.sum().backward()
    assert image.grad is not None and torch.isfinite(image.grad).all()
    assert torch.equal(image.detach(), before)
    single = apply_finish(before[1:], FinishOptions(denoise=0.2, sharpen=0.5, contrast=1.1, saturation=1.3))
    assert torch.allclose(result[1:].detach(), single, atol=1e-6)


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("denoise", 1.5, r"\[0, 1\]"),
        ("denoise", -0.1, r"\[0, 1\]"),
        ("sharpen", 2.5, r"\[0, 2\]"),
        ("contrast", -1.0, r"\[0, 3\]"),
        ("saturation", 3.5, r"\[0, 3\]"),
        ("saturation", float("nan"), r"\[0, 3\]"),
    ],
)
def test_bad_options_name_the_range(field: str, value: float, allowed: str) -> None:
    with pytest.raises(ConfigError, match=f"{field}.*{allowed}"):
        FinishOptions(**{field: value})


def test_bad_filter_arguments_name_the_range() -> None:
    image = rand(1, 3, 8, 8)
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        denoise(image, 2.0)
    with pytest.raises(ConfigError, match=r"\[0, 2\]"):
        sharpen(image, -1.0)
    with pytest.raises(ConfigError, match=r"\(0, 10\]"):
        sharpen(image, 1.0, radius=0.0)
    with pytest.raises(ConfigError, match=r"\[0, 3\]"):
        adjust_contrast(image, 4.0)
    with pytest.raises(ConfigError, match=r"\[0, 3\]"):
        adjust_saturation(image, -0.5)
    with pytest.raises(ConfigError, match="number"):
        adjust_saturation(image, "1.2")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"\(B, 3, H, W\)"):
        apply_finish(torch.rand(3, 8, 8), FinishOptions(sharpen=1.0))
