"""The whitening and colouring transform (WCT, Li et al. 2017) on feature maps.

Content features ``f`` (C x N, centred) are whitened, ``E_c D_c^-1/2 E_c^T f``, so that their covariance becomes the
identity, then coloured with a style's covariance, ``E_s D_s^1/2 E_s^T``, and the style's mean is added. Means and
matrices are computed in float64 (eigh of a C x C covariance; its products are accumulated by an fp32 matmul of the
centred features, whose error lies far below the eigenvalue cut); the transform is one C x C matrix and an offset,
applied to the fp32 features. Eigenvalues below ``relative_cut`` times the mean eigenvalue are dropped: torchvision's
VGG16 is not the normalised VGG19 of the reference code, so no absolute threshold fits every level, and flat regions or
flat styles (rank-deficient covariances) must give a clean result rather than NaNs.

>>> content, style = torch.randn(1, 8, 16, 16), 3 * torch.randn(1, 8, 16, 16) + 1
>>> out = whiten_and_colour(content, [feature_statistics(style)])
>>> bool(torch.allclose(out.mean(dim=(2, 3)), style.mean(dim=(2, 3)), atol=1e-4))
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import ConfigError
from ..losses import normalised_blend
from ..ops import resize_mask

RELATIVE_CUT = 1e-5
"""Eigenvalues below this share of the mean eigenvalue count as zero."""
ABSOLUTE_FLOOR = 1e-12
"""A covariance whose mean eigenvalue is below this is treated as zero (a flat colour)."""


@dataclass(frozen=True)
class FeatureStatistics:
    """Mean (C,) and the kept eigenpairs of the covariance of a feature map, in float64."""

    mean: Tensor
    eigenvalues: Tensor
    eigenvectors: Tensor

    @property
    def channels(self) -> int:
        return int(self.mean.shape[0])

    def colouring(self) -> Tensor:
        """``E D^1/2 E^T`` (C x C)."""
        return (self.eigenvectors * self.eigenvalues.sqrt()) @ self.eigenvectors.T

    def whitening(self) -> Tensor:
        """``E D^-1/2 E^T`` (C x C) over the kept eigenpairs (zero on the dropped directions)."""
        return (self.eigenvectors * self.eigenvalues.rsqrt()) @ self.eigenvectors.T


def symmetric_eigh(matrix: Tensor) -> tuple[Tensor, Tensor]:
    """``torch.linalg.eigh`` on one thread. A C x C problem (C <= 512) gains nothing from threads, and LAPACK's
    threaded path spins when the cores are busy: measured on 2 cores beside a training run, 512 x 512 in float64
    took 10.7 s threaded and 0.06 s on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return torch.linalg.eigh(matrix)  # type: ignore[no-any-return]
    finally:
        torch.set_num_threads(threads)


def _flatten(features: Tensor) -> Tensor:
    if features.dim() != 4 or features.shape[0] != 1:
        raise ConfigError(f"features must be (1, C, H, W), got {tuple(features.shape)}")
    return features[0].reshape(features.shape[1], -1).float()


def feature_statistics(
    features: Tensor, mask: Tensor | None = None, *, relative_cut: float = RELATIVE_CUT
) -> FeatureStatistics:
    """Statistics of ``features`` (1, C, H, W), over the pixels of ``mask`` (1, 1, H, W) in [0, 1] if given
    (weighted by it). Covariance ``f f^T / (n - 1)`` of the centred features, ``n`` the (weighted) pixel count."""
    flat = _flatten(features)
    if mask is None:
        weights = None
        total = float(flat.shape[1])
    else:
        if tuple(mask.shape[-2:]) != tuple(features.shape[-2:]):
            size = tuple(features.shape[-2:])
            raise ConfigError(f"mask of size {tuple(mask.shape[-2:])} for features of size {size}")
        weights = mask.reshape(-1).float().clamp(0, 1)
        total = float(weights.double().sum())
    if total < 2:
        raise ConfigError("a region needs at least two feature pixels for its statistics: enlarge it or the image")
    summed = flat.sum(dim=1, dtype=torch.float64) if weights is None else (flat.double() @ weights.double())
    mean = summed / total
    # centred in fp32, products accumulated by an fp32 matmul (its error, ~1e-6 relative, is far below the cut),
    # everything after in float64
    centred = flat - mean.float()[:, None]
    weighted = centred if weights is None else centred * weights
    with torch.autocast(features.device.type, enabled=False):  # fp32 even inside a bf16 region
        covariance = (weighted @ centred.T).double() / (total - 1)
    eigenvalues, eigenvectors = symmetric_eigh(covariance)
    scale = float(eigenvalues.clamp_min(0).mean())
    keep = eigenvalues > max(relative_cut * scale, ABSOLUTE_FLOOR) if scale > ABSOLUTE_FLOOR else eigenvalues < -1
    return FeatureStatistics(mean, eigenvalues[keep], eigenvectors[:, keep])


def blended_colouring(styles: Sequence[FeatureStatistics], weights: Sequence[float] | None) -> tuple[Tensor, Tensor]:
    """Colouring matrix and mean of a weighted blend of styles: the blend of the coloured features (linear)."""
    shares = normalised_blend(weights, len(styles))
    channels = {style.channels for style in styles}
    if len(channels) != 1:
        raise ConfigError(f"styles of different channel counts {sorted(channels)} cannot be blended")
    colouring = sum((share * style.colouring() for style, share in zip(styles, shares, strict=True)), torch.zeros(()))
    mean = sum((share * style.mean for style, share in zip(styles, shares, strict=True)), torch.zeros(()))
    return torch.as_tensor(colouring), torch.as_tensor(mean)


def transform_matrix(content: FeatureStatistics, colouring: Tensor, style_mean: Tensor) -> tuple[Tensor, Tensor]:
    """``(M, b)`` with ``WCT(f) = M f + b``: whitening by ``content``'s statistics, colouring, the style's mean."""
    if colouring.shape[0] != content.channels:
        raise ConfigError(f"a {colouring.shape[0]}-channel style for {content.channels}-channel features")
    matrix = colouring @ content.whitening()
    return matrix, style_mean - matrix @ content.mean


def apply_affine(features: Tensor, matrix: Tensor, offset: Tensor) -> Tensor:
    """``M f + b`` per pixel of (1, C, H, W) features, in the features' precision (at least fp32)."""
    dtype = torch.promote_types(features.dtype, torch.float32)
    flat = features[0].reshape(features.shape[1], -1).to(dtype)
    result = matrix.to(dtype) @ flat + offset.to(dtype)[:, None]
    return result.reshape(features.shape).to(dtype)


def whiten_and_colour(
    content: Tensor,
    styles: Sequence[FeatureStatistics],
    weights: Sequence[float] | None = None,
    masks: Sequence[Tensor] | None = None,
    alpha: float = 1.0,
    *,
    measured: tuple[int, int] | None = None,
) -> Tensor:
    """WCT of ``content`` (1, C, H, W) with ``styles``: blended by ``weights``, or each inside its mask.

    With masks (one (1, 1, h, w) map in [0, 1] per style, any size: brought to the features' size), style ``k`` acts
    where its mask is white, the content whitened by its statistics over that region; where the masks add up to less
    than 1 the content remains, as it does where a region too small to measure at this level (under two feature
    pixels) is dropped. ``alpha`` mixes the result with the content (0: the content unchanged). ``measured`` (h, w):
    without masks, take the content's statistics over ``[:h, :w]`` only (the rest is padding). Runs in fp32/float64
    whatever autocast region it is called from.
    """
    if not styles:
        raise ConfigError("at least one style is needed")
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"alpha must be within 0..1, got {alpha}")
    with torch.autocast(content.device.type, enabled=False):
        content = content.float()
        if masks is None:
            colouring, mean = blended_colouring(styles, weights)
            visible = content if measured is None else content[..., : measured[0], : measured[1]]
            colouring, mean = colouring.to(content.device), mean.to(content.device)
            matrix, offset = transform_matrix(feature_statistics(visible), colouring, mean)
            result = apply_affine(content, matrix, offset)
        else:
            if len(masks) != len(styles):
                raise ConfigError(f"got {len(masks)} mask(s) for {len(styles)} style(s): give one mask per style")
            size = (int(content.shape[-2]), int(content.shape[-1]))
            maps = [resize_mask(mask.float().to(content.device), size).clamp(0, 1) for mask in masks]
            kept = [(style, region) for style, region in zip(styles, maps, strict=True) if float(region.sum()) >= 2]
            result = content
            if kept:
                coverage = torch.stack([region for _, region in kept]).sum(dim=0)
                scale = 1.0 / coverage.clamp_min(1.0)
                result = content * (1.0 - coverage * scale)
                for style, region in kept:
                    statistics = feature_statistics(content, region)
                    colouring, mean = style.colouring().to(content.device), style.mean.to(content.device)
                    transformed = apply_affine(content, *transform_matrix(statistics, colouring, mean))
                    result = result + region * scale * transformed
        if alpha != 1.0:
            result = alpha * result + (1.0 - alpha) * content
        return result
