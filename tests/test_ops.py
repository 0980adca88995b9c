"""Tensor ops against plain float64 references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from painterly.ops import adain, gram_matrix, mean_std, resize_mask, total_variation, upsample_circular


def gram_reference(features: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    batch, channels, height, width = features.shape
    out = np.zeros((batch, channels, channels))
    for b in range(batch):
        flat = features[b].reshape(channels, -1).astype(np.float64)
        weights = np.ones(height * width) if mask is None else mask[min(b, mask.shape[0] - 1)].reshape(-1)
        for i in range(channels):
            for j in range(channels):
                out[b, i, j] = np.sum(flat[i] * flat[j] * weights) / (channels * weights.sum())
    return out


def test_gram_matches_reference() -> None:
    features = torch.randn(2, 5, 7, 6, dtype=torch.float64)
    np.testing.assert_allclose(gram_matrix(features).numpy(), gram_reference(features.numpy()), rtol=1e-10)


@pytest.mark.parametrize("masked", [False, True])
def test_gram_of_channels_last_features_matches_the_reference_and_its_gradient(masked: bool) -> None:
    """The channels-last path (no layout copy) gives the plain Gram matrix, batch and broadcast masks included,
    and the same gradient (gradcheck in float64)."""
    features = torch.randn(2, 5, 7, 6, dtype=torch.float64)
    mask = torch.rand(1, 1, 7, 6, dtype=torch.float64) if masked else None
    last = features.contiguous(memory_format=torch.channels_last)
    assert not last.is_contiguous()
    expected = gram_reference(features.numpy(), None if mask is None else mask.expand(2, 1, 7, 6).numpy())
    np.testing.assert_allclose(gram_matrix(last, mask).numpy(), expected, rtol=1e-10)
    leaf = last.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: gram_matrix(x, mask), (leaf,))
    plain = features.clone().requires_grad_(True)
    gram_matrix(plain, mask).square().sum().backward()
    gram_matrix(leaf, mask).square().sum().backward()
    assert plain.grad is not None and leaf.grad is not None
    torch.testing.assert_close(leaf.grad, plain.grad)


def test_gram_is_size_invariant_for_repeated_texture() -> None:
    tile = torch.randn(1, 4, 8, 8, dtype=torch.float64)
    big = tile.repeat(1, 1, 3, 3)
    torch.testing.assert_close(gram_matrix(big), gram_matrix(tile))


def test_masked_gram_matches_reference_and_ignores_outside() -> None:
    features = torch.randn(1, 3, 6, 8, dtype=torch.float64)
    mask = torch.zeros(1, 1, 6, 8, dtype=torch.float64)
    mask[..., :, :4] = 1.0
    mask[..., 0, 5] = 0.5
    np.testing.assert_allclose(
        gram_matrix(features, mask).numpy(), gram_reference(features.numpy(), mask.numpy()), rtol=1e-10
    )
    changed = features.clone()
    changed[..., :, 6:] += 10.0  # outside the mask
    torch.testing.assert_close(gram_matrix(changed, mask), gram_matrix(features, mask))


def test_mean_std_and_adain() -> None:
    content = torch.randn(2, 3, 5, 5, dtype=torch.float64) * 2 + 1
    style = torch.randn(2, 3, 4, 6, dtype=torch.float64) * 0.5 - 3
    mean, std = mean_std(content, eps=0.0)
    flat = content.numpy().reshape(2, 3, -1)
    np.testing.assert_allclose(mean.numpy().squeeze(), flat.mean(axis=2))
    np.testing.assert_allclose(std.numpy().squeeze(), flat.std(axis=2))
    out = adain(content, style, eps=0.0)
    out_mean, out_std = mean_std(out, eps=0.0)
    style_mean, style_std = mean_std(style, eps=0.0)
    torch.testing.assert_close(out_mean, style_mean)
    torch.testing.assert_close(out_std, style_std)


def test_total_variation_reference() -> None:
    image = torch.rand(1, 3, 4, 5, dtype=torch.float64)
    array = image.numpy()
    expected = np.mean(np.diff(array, axis=3) ** 2) + np.mean(np.diff(array, axis=2) ** 2)
    assert abs(float(total_variation(image)) - expected) < 1e-12
    assert float(total_variation(torch.full((1, 3, 4, 4), 0.3))) == 0.0


def test_resize_mask_keeps_range_and_size() -> None:
    mask = (torch.rand(1, 1, 40, 30) > 0.5).float()
    for size in ((10, 7), (80, 60), (40, 30)):
        resized = resize_mask(mask, size)
        assert tuple(resized.shape[-2:]) == size
        assert float(resized.min()) >= 0.0 and float(resized.max()) <= 1.0


def test_circular_total_variation_includes_the_wrap() -> None:
    image = torch.zeros(1, 1, 4, 4)
    image[..., :, 0] = 1.0  # a column at the left edge: with wrapping it has two neighbours that differ
    plain = float(total_variation(image))
    circular = float(total_variation(image, circular=True))
    assert plain == pytest.approx(4 / 12)  # 4 of the 12 horizontal pairs differ (by 1)
    assert circular == pytest.approx(8 / 16)  # plus the 4 pairs across the wrap


def test_upsample_circular_wraps_and_has_the_size() -> None:
    tile = torch.rand(1, 3, 8, 12)
    big = upsample_circular(tile, (16, 24))
    assert big.shape == (1, 3, 16, 24)
    # upsampling a periodic image = upsampling the 3x3 tiling and taking the middle
    tiled = tile.repeat(1, 1, 3, 3)
    reference = torch.nn.functional.interpolate(tiled, size=(48, 72), mode="bicubic", align_corners=False)
    torch.testing.assert_close(big, reference[..., 16:32, 24:48], atol=1e-5, rtol=0)
