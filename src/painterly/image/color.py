"""Colour handling for style transfer: luminance-only transfer and colour matching of the style image.

Gatys et al. (2016), "Preserving color in neural artistic style transfer", give two ways to keep the content's
colours:

* **luminance-only transfer** — run the transfer on luminance only (the style's luminance remapped to the
  content's mean and deviation, the content as grey) and put the result's luminance back together with the
  content's chroma, in YIQ space (``prepare_style_colors`` / ``prepare_content_colors`` / ``finish_colors``
  with ``mode="luminance"``);
* **colour histogram matching** — recolour the style image to the content's colour distribution before the
  transfer, either with a linear map matching mean and 3×3 covariance (``"meancov"``) or by matching each
  channel's histogram (``"histogram"``).

Every function takes and returns float tensors (B, 3, H, W) RGB in [0, 1] (YIQ tensors are (B, 3, H, W) with I
and Q signed), works on any device and batch size, and never modifies its inputs. Where two images are
combined, their batch sizes must be equal or one of them 1 (broadcast).

>>> content, style = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 16, 16)
>>> prepare_style_colors(style, content, "meancov").shape
torch.Size([1, 3, 16, 16])
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Literal, get_args

import torch
import torch.nn.functional as F

from ..errors import ConfigError

Tensor = torch.Tensor

ColorMode = Literal["none", "luminance", "histogram", "meancov"]
COLOR_MODES: tuple[str, ...] = get_args(ColorMode)
CovarianceMode = Literal["cholesky", "symmetric"]
COVARIANCE_MODES: tuple[str, ...] = get_args(CovarianceMode)

# NTSC (FCC) RGB -> YIQ matrix. Y is the Rec. 601 luma; the I and Q rows sum to zero, so grey has no chroma.
_RGB_TO_YIQ_ROWS = (
    (0.299, 0.587, 0.114),
    (0.59590059, -0.27455667, -0.32134392),
    (0.21153661, -0.52273617, 0.31119955),
)


@functools.cache
def _yiq_matrices() -> tuple[Tensor, Tensor]:
    """(RGB->YIQ, YIQ->RGB) as float64 CPU tensors; the second is the exact inverse of the first."""
    forward = torch.tensor(_RGB_TO_YIQ_ROWS, dtype=torch.float64)
    return forward, torch.linalg.inv(forward)


def require_rgb_batch(image: object, name: str = "image") -> Tensor:
    """Return ``image`` if it is a floating-point (B, 3, H, W) tensor with B, H, W >= 1, else ConfigError."""
    if not isinstance(image, torch.Tensor):
        raise ConfigError(f"{name} must be a torch.Tensor of shape (B, 3, H, W), got {type(image).__name__}")
    if image.ndim != 4 or image.shape[1] != 3 or image.numel() == 0:
        raise ConfigError(f"{name} must have shape (B, 3, H, W) with B, H, W >= 1, got {tuple(image.shape)}")
    if not image.is_floating_point():
        raise ConfigError(f"{name} must be a floating-point tensor (values in [0, 1]), got {image.dtype}")
    return image


def _broadcast_batch(first: Tensor, second: Tensor, names: tuple[str, str]) -> int:
    """Batch size of an operation combining ``first`` and ``second`` (equal, or one of them 1)."""
    a, b = first.shape[0], second.shape[0]
    if a != b and a != 1 and b != 1:
        raise ConfigError(
            f"{names[0]} and {names[1]} have batch sizes {a} and {b}; they must be equal or one of them 1"
        )
    return max(a, b)


def _apply_matrix(matrix: Tensor, image: Tensor) -> Tensor:
    """Multiply every pixel's 3-vector by a (3, 3) matrix: (B, 3, H, W) -> (B, 3, H, W)."""
    return torch.einsum("ij,bjhw->bihw", matrix.to(device=image.device, dtype=image.dtype), image)


def _stat_dtype(image: Tensor) -> torch.dtype:
    """Dtype for statistics over pixels: float64 stays float64, everything else is promoted to float32."""
    return torch.float64 if image.dtype == torch.float64 else torch.float32


def rgb_to_yiq(image: Tensor) -> Tensor:
    """Convert RGB (B, 3, H, W) to NTSC YIQ (B, 3, H, W): Y in [0, 1], I and Q signed.

    ``yiq_to_rgb`` is its exact inverse (the inverse matrix, not the rounded textbook one).

    >>> [abs(round(v, 4)) for v in rgb_to_yiq(torch.ones(1, 3, 1, 1)).flatten().tolist()]  # white: no chroma
    [1.0, 0.0, 0.0]
    """
    require_rgb_batch(image)
    return _apply_matrix(_yiq_matrices()[0], image)


def yiq_to_rgb(yiq: Tensor) -> Tensor:
    """Convert YIQ (B, 3, H, W) back to RGB with the inverse of ``rgb_to_yiq``'s matrix (no clamping)."""
    require_rgb_batch(yiq, "yiq")
    return _apply_matrix(_yiq_matrices()[1], yiq)


def luminance(image: Tensor) -> Tensor:
    """The Y channel of YIQ (Rec. 601 luma ``0.299 R + 0.587 G + 0.114 B``), shape (B, 1, H, W)."""
    require_rgb_batch(image)
    weights = _yiq_matrices()[0][0].to(device=image.device, dtype=image.dtype).reshape(1, 3, 1, 1)
    return (image * weights).sum(dim=1, keepdim=True)


def luminance_as_rgb(image: Tensor) -> Tensor:
    """Luminance repeated to three channels (B, 3, H, W): what the network sees in luminance-only mode."""
    return luminance(image).expand(-1, 3, -1, -1).contiguous()


def match_luminance(style: Tensor, content: Tensor, eps: float = 1e-8) -> Tensor:
    """The style's luminance linearly remapped to the content's luminance mean and deviation, as grey RGB.

    This is the luminance-only transfer step of Gatys et al. (2016): ``L' = σ_c / σ_s (L_s − μ_s) + μ_c`` with
    the statistics taken per image over all pixels (population deviation). The result is deliberately not
    clamped so that its statistics are exactly the content's; it can leave [0, 1] slightly, which the encoder
    does not mind. ``eps`` bounds σ_s from below for flat style images.
    """
    require_rgb_batch(style, "style")
    require_rgb_batch(content, "content")
    _broadcast_batch(style, content, ("style", "content"))
    style_y = luminance(style)
    content_y = luminance(content)
    style_mean = style_y.mean(dim=(2, 3), keepdim=True)
    style_std = style_y.std(dim=(2, 3), keepdim=True, unbiased=False).clamp_min(eps)
    content_mean = content_y.mean(dim=(2, 3), keepdim=True)
    content_std = content_y.std(dim=(2, 3), keepdim=True, unbiased=False)
    matched = (style_y - style_mean) * (content_std / style_std) + content_mean  # (B, 1, H, W)
    return matched.expand(-1, 3, -1, -1).contiguous()


def _resize(image: Tensor, size: tuple[int, int]) -> Tensor:
    """Bicubic resize to (height, width), antialiased when shrinking; ``image`` itself if the size matches."""
    if tuple(image.shape[-2:]) == size:
        return image
    shrinking = size[0] < image.shape[-2] or size[1] < image.shape[-1]
    return F.interpolate(image, size=size, mode="bicubic", align_corners=False, antialias=shrinking)


def combine_luminance_with_chroma(stylised: Tensor, content: Tensor) -> Tensor:
    """Y from ``stylised``, I and Q from ``content``, converted back to RGB and clamped to [0, 1].

    The final step of luminance-only transfer. ``content`` is resized to the stylised image's size (bicubic)
    if they differ. The result has ``stylised``'s spatial size.
    """
    require_rgb_batch(stylised, "stylised")
    require_rgb_batch(content, "content")
    batch = _broadcast_batch(stylised, content, ("stylised", "content"))
    height, width = stylised.shape[-2:]
    stylised_y = luminance(stylised).expand(batch, -1, -1, -1)  # (B, 1, H, W)
    content_iq = _resize(rgb_to_yiq(content)[:, 1:], (height, width)).to(stylised.dtype)
    content_iq = content_iq.expand(batch, -1, -1, -1)  # (B, 2, H, W)
    return yiq_to_rgb(torch.cat([stylised_y, content_iq], dim=1)).clamp(0.0, 1.0)


def match_histogram(source: Tensor, reference: Tensor) -> Tensor:
    """Match each channel's histogram of ``source`` to ``reference`` (quantile mapping); sizes may differ.

    Each source pixel gets its quantile ``q = r / (N − 1)`` from its rank ``r`` among the N values of its
    channel, and is replaced by the reference channel's quantile function at ``q`` (linear interpolation
    between the sorted reference values, like ``np.interp(q, linspace(0, 1, M), sorted_reference)``). Tied
    source values get the mean rank of their tie group, so equal inputs stay equal (a flat region does not
    turn into a ramp); without ties the sorted output is exactly the reference's quantiles at
    ``linspace(0, 1, N)``. Works per image and per channel. The result stays inside the reference's value
    range and has the source's shape (broadcast batch). No gradient flows to ``source`` (ranks are piecewise
    constant).
    """
    require_rgb_batch(source, "source")
    require_rgb_batch(reference, "reference")
    batch = _broadcast_batch(source, reference, ("source", "reference"))
    work = _stat_dtype(source)
    src = source.detach().to(work).reshape(source.shape[0], 3, -1)  # (Bs, 3, N)
    ref = reference.to(work).reshape(reference.shape[0], 3, -1)  # (Br, 3, M)
    count, ref_count = src.shape[-1], ref.shape[-1]

    src_sorted = src.sort(dim=-1).values.contiguous()
    first = torch.searchsorted(src_sorted, src.contiguous(), side="left")
    last = torch.searchsorted(src_sorted, src.contiguous(), side="right") - 1
    quantile = (first + last).to(work) / (2 * max(count - 1, 1))  # (Bs, 3, N) in [0, 1]

    position = (quantile * (ref_count - 1)).expand(batch, -1, -1)  # fractional index into sorted reference
    lower = position.floor().clamp(0, ref_count - 1)
    fraction = position - lower
    lower_index = lower.long()
    upper_index = (lower_index + 1).clamp_max(ref_count - 1)
    ref_sorted = ref.sort(dim=-1).values.expand(batch, -1, -1)  # (B, 3, M)
    low_value = ref_sorted.gather(-1, lower_index)
    high_value = ref_sorted.gather(-1, upper_index)
    matched = low_value + fraction * (high_value - low_value)  # (B, 3, N)
    return matched.reshape(batch, 3, *source.shape[-2:]).to(source.dtype)


def _mean_and_covariance(image: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """Per-image pixel mean (B, 3, 1) and population covariance (B, 3, 3), computed in ``dtype``."""
    flat = image.to(dtype).reshape(image.shape[0], 3, -1)  # (B, 3, N)
    mean = flat.mean(dim=-1, keepdim=True)
    centred = flat - mean
    covariance = centred @ centred.transpose(1, 2) / flat.shape[-1]
    return mean, covariance


def _symmetric_power(matrices: Tensor, power: float) -> Tensor:
    """``M ** power`` of symmetric positive-definite (B, 3, 3) matrices via their eigendecomposition."""
    eigenvalues, eigenvectors = torch.linalg.eigh(matrices)
    scaled = eigenvectors * eigenvalues.clamp_min(torch.finfo(matrices.dtype).tiny).pow(power).unsqueeze(-2)
    return torch.matmul(scaled, eigenvectors.transpose(-1, -2))


def match_mean_covariance(
    source: Tensor,
    reference: Tensor,
    *,
    mode: CovarianceMode = "symmetric",
    eps: float = 1e-5,
) -> Tensor:
    """Recolour ``source`` by a linear map so its pixels have ``reference``'s mean and 3×3 colour covariance.

    ``x' = A (x − μ_s) + μ_r`` with ``A Σ_s Aᵀ = Σ_r``, the colour-transfer step of Gatys et al. (2016):

    * ``"symmetric"`` — ``A = Σ_r^½ Σ_s^−½`` with matrix square roots from the eigendecomposition (the "image
      analogies" variant; the unique symmetric choice, it rotates colours least);
    * ``"cholesky"`` — ``A = L_r L_s⁻¹`` with ``Σ = L Lᵀ`` the Cholesky factors.

    ``eps`` is added to both covariance diagonals so flat or grey images do not make the map singular. The 3×3
    decompositions run on the CPU in float64 (tiny matrices: faster than a GPU solver launch, and ``eigh`` is
    not available on every accelerator); the per-pixel work stays on the input's device. Gradients flow to the
    pixels and means but not through the decomposition (the result is a style target). Clamped to [0, 1].
    """
    require_rgb_batch(source, "source")
    require_rgb_batch(reference, "reference")
    if mode not in COVARIANCE_MODES:
        raise ConfigError(f"unknown covariance mode {mode!r}; choose one of: {', '.join(COVARIANCE_MODES)}")
    if not eps >= 0.0:
        raise ConfigError(f"eps must be >= 0, got {eps}")
    batch = _broadcast_batch(source, reference, ("source", "reference"))
    work = _stat_dtype(source)
    reference_mean, reference_cov = _mean_and_covariance(reference, work)
    return match_palette(source, (reference_mean, reference_cov), mode=mode, eps=eps).expand(batch, -1, -1, -1)


def palette(images: Sequence[Tensor], weights: Sequence[float]) -> tuple[Tensor, Tensor]:
    """Mean (1, 3, 1) and covariance (1, 3, 3) of the pixels of several images mixed with ``weights`` (summing to 1):
    the colour statistics of a blend of styles (a mixture: covariances plus the spread of the means)."""
    stats = [_mean_and_covariance(require_rgb_batch(image, "image")[:1], torch.float64) for image in images]
    mean = sum(
        (weight * item_mean for (item_mean, _), weight in zip(stats, weights, strict=True)), torch.zeros(1, 3, 1)
    )
    second = sum(
        (
            weight * (cov + item_mean @ item_mean.transpose(1, 2))
            for (item_mean, cov), weight in zip(stats, weights, strict=True)
        ),
        torch.zeros(1, 3, 3),
    )
    mean_tensor = torch.as_tensor(mean, dtype=torch.float64)
    return mean_tensor, torch.as_tensor(second, dtype=torch.float64) - mean_tensor @ mean_tensor.transpose(1, 2)


def match_palette(
    source: Tensor, target: tuple[Tensor, Tensor], *, mode: CovarianceMode = "symmetric", eps: float = 1e-5
) -> Tensor:
    """``source`` recoloured by a linear map to the colour mean and covariance ``target`` (see
    :func:`match_mean_covariance`, which takes them from a reference image, and :func:`palette`)."""
    require_rgb_batch(source, "source")
    if mode not in COVARIANCE_MODES:
        raise ConfigError(f"unknown covariance mode {mode!r}; choose one of: {', '.join(COVARIANCE_MODES)}")
    work = _stat_dtype(source)
    source_mean, source_cov = _mean_and_covariance(source, work)
    reference_mean, reference_cov = target
    batch = max(source.shape[0], reference_mean.shape[0])

    identity = torch.eye(3, dtype=torch.float64)
    source_cov64 = source_cov.detach().to("cpu", torch.float64) + eps * identity
    reference_cov64 = reference_cov.detach().to("cpu", torch.float64) + eps * identity
    if mode == "symmetric":
        transform = _symmetric_power(reference_cov64, 0.5) @ _symmetric_power(source_cov64, -0.5)
    else:
        source_factor = torch.linalg.cholesky(source_cov64)
        reference_factor = torch.linalg.cholesky(reference_cov64)
        # A = L_r L_s^-1, computed as the solution of A L_s = L_r.
        transform = torch.linalg.solve_triangular(source_factor, reference_factor, upper=False, left=False)
    transform = transform.to(device=source.device, dtype=work).expand(batch, -1, -1)  # (B, 3, 3)

    flat = source.to(work).reshape(source.shape[0], 3, -1)  # (B, 3, N)
    matched = transform @ (flat - source_mean) + reference_mean.to(device=source.device, dtype=work)  # (B, 3, N)
    return matched.reshape(batch, 3, *source.shape[-2:]).clamp(0.0, 1.0).to(source.dtype)


def _require_mode(mode: str) -> None:
    if mode not in COLOR_MODES:
        raise ConfigError(f"unknown colour mode {mode!r}; choose one of: {', '.join(COLOR_MODES)}")


def prepare_style_colors(style: Tensor, content: Tensor, mode: ColorMode) -> Tensor:
    """What a method does to each style image before transfer, for colour-preservation ``mode``.

    ``"histogram"`` / ``"meancov"``: the style recoloured to the content's colours (``match_histogram`` /
    ``match_mean_covariance``); ``"luminance"``: ``match_luminance(style, content)``; ``"none"``: ``style``.
    """
    _require_mode(mode)
    if mode == "luminance":
        return match_luminance(style, content)
    if mode == "histogram":
        return match_histogram(style, content)
    if mode == "meancov":
        return match_mean_covariance(style, content)
    return style


def prepare_content_colors(content: Tensor, mode: ColorMode) -> Tensor:
    """Content before transfer: its grey luminance in ``"luminance"`` mode, else as-is."""
    _require_mode(mode)
    if mode == "luminance":
        return luminance_as_rgb(content)
    return content


def finish_colors(stylised: Tensor, content: Tensor, mode: ColorMode) -> Tensor:
    """What a method does to its result: ``"luminance"`` mode puts the content's chroma back, else as is."""
    _require_mode(mode)
    if mode == "luminance":
        return combine_luminance_with_chroma(stylised, content)
    return stylised
