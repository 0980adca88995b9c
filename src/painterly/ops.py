"""Pure tensor functions shared by every method: Gram matrices, channel statistics, AdaIN, total variation.

All take and return torch tensors, keep the batch dimension and never modify their inputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def is_channels_last(tensor: Tensor) -> bool:
    """True when a (B, C, H, W) tensor with several channels is laid out channels-last (and not also plainly)."""
    return (
        tensor.shape[1] > 1 and tensor.is_contiguous(memory_format=torch.channels_last) and not tensor.is_contiguous()
    )


def layout_of(tensor: Tensor) -> torch.memory_format:
    """The memory format a (B, C, H, W) tensor is in: channels-last or the plain one."""
    return torch.channels_last if is_channels_last(tensor) else torch.contiguous_format


def gram_matrix(features: Tensor, mask: Tensor | None = None) -> Tensor:
    """Gram matrix of feature maps, normalised so that its scale does not depend on the image size.

    ``features`` is (B, C, H, W); the result is (B, C, C) with ``G[b, i, j] = sum_p f_i(p) f_j(p) / (C * N)``
    where N is the number of positions (H * W), or, with a ``mask`` of shape (B or 1, 1, H, W) in [0, 1], the
    mask-weighted sum over positions divided by ``C * sum(mask)`` (the guided Gram matrix of Gatys et al. 2017).

    >>> gram_matrix(torch.ones(1, 2, 3, 3))
    tensor([[[0.5000, 0.5000],
             [0.5000, 0.5000]]])
    """
    batch, channels, height, width = features.shape
    if is_channels_last(features):
        # channels-last features (what the encoders give): (B, N, C) is a view, so neither the product nor its
        # gradient copies the activations into (B, C, N) first (at 512 px that copy cost as much as the product)
        rows = features.permute(0, 2, 3, 1).reshape(batch, height * width, channels)  # (B, N, C)
        if mask is None:
            return torch.bmm(rows.transpose(1, 2), rows) / (channels * height * width)
        row_weights = mask.reshape(mask.shape[0], height * width, 1).to(rows.dtype)  # (B|1, N, 1)
        row_area = row_weights.sum(dim=1, keepdim=True).clamp_min(1e-8)  # (B|1, 1, 1)
        return torch.bmm((rows * row_weights).transpose(1, 2), rows) / (channels * row_area)
    flat = features.reshape(batch, channels, height * width)  # (B, C, N)
    if mask is None:
        return torch.bmm(flat, flat.transpose(1, 2)) / (channels * height * width)
    weights = mask.reshape(mask.shape[0], 1, height * width).to(flat.dtype)  # (B|1, 1, N)
    area = weights.sum(dim=2, keepdim=True).clamp_min(1e-8)  # (B|1, 1, 1)
    weighted = flat * weights
    return torch.bmm(weighted, flat.transpose(1, 2)) / (channels * area)


def mean_std(features: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """Per-channel mean and standard deviation over the spatial positions, each (B, C, 1, 1)."""
    batch, channels = features.shape[:2]
    flat = features.reshape(batch, channels, -1)
    mean = flat.mean(dim=2)
    std = (flat.var(dim=2, unbiased=False) + eps).sqrt()
    return mean.reshape(batch, channels, 1, 1), std.reshape(batch, channels, 1, 1)


def masked_mean_std(features: Tensor, mask: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """Channel mean and deviation of ``features`` (B, C, H, W) weighted by ``mask`` (1, 1, H, W) in [0, 1]."""
    weights = mask.to(features.dtype)
    area = weights.sum(dim=(2, 3), keepdim=True).clamp_min(1e-8)
    mean = (features * weights).sum(dim=(2, 3), keepdim=True) / area
    variance = ((features - mean).pow(2) * weights).sum(dim=(2, 3), keepdim=True) / area
    return mean, (variance + eps).sqrt()


def renormalise(features: Tensor, source: tuple[Tensor, Tensor], target: tuple[Tensor, Tensor]) -> Tensor:
    """``features`` moved from the ``source`` (mean, std) to the ``target`` (mean, std), channel by channel."""
    return (features - source[0]) / source[1] * target[1] + target[0]


def adain(content: Tensor, style: Tensor, eps: float = 1e-5) -> Tensor:
    """Adaptive instance normalisation: content features re-scaled to the style's channel means and deviations."""
    return renormalise(content, mean_std(content, eps), mean_std(style, eps))


def total_variation(image: Tensor, *, circular: bool = False, per_image: bool = False) -> Tensor:
    """Mean squared difference between neighbouring pixels (horizontal and vertical), a scalar.

    ``circular`` also compares the last column with the first and the last row with the first (a wrapping image);
    ``per_image`` returns one value per image of the batch, shape (B,), whose mean is the scalar.
    """
    if circular:
        dx = image - torch.roll(image, shifts=1, dims=-1)
        dy = image - torch.roll(image, shifts=1, dims=-2)
    else:
        dx = image[..., :, 1:] - image[..., :, :-1]
        dy = image[..., 1:, :] - image[..., :-1, :]
    if per_image:
        dims = tuple(range(1, image.dim()))
        return dx.pow(2).mean(dim=dims) + dy.pow(2).mean(dim=dims)
    return dx.pow(2).mean() + dy.pow(2).mean()


def upsample_circular(image: Tensor, size: tuple[int, int]) -> Tensor:
    """Bicubic resize of a wrapping image: neighbours across the edges come from the opposite side."""
    height, width = image.shape[-2:]
    pad_h, pad_w = min(4, height), min(4, width)
    padded = F.pad(image, (pad_w, pad_w, pad_h, pad_h), mode="circular")
    scale_h, scale_w = size[0] / height, size[1] / width
    big = F.interpolate(padded, scale_factor=(scale_h, scale_w), mode="bicubic", align_corners=False)
    top, left = round(pad_h * scale_h), round(pad_w * scale_w)
    return big[..., top : top + size[0], left : left + size[1]]


def resize_mask(mask: Tensor, size: tuple[int, int]) -> Tensor:
    """Area-resample a (B, 1, H, W) mask to (height, width), as used to bring masks to each layer's resolution."""
    if tuple(mask.shape[-2:]) == size:
        return mask
    return (
        F.interpolate(mask, size=size, mode="area")
        if mask.shape[-2] >= size[0]
        else F.interpolate(mask, size=size, mode="bilinear", align_corners=False)
    )


def pad_reflect(image: Tensor, bottom: int, right: int) -> Tensor:
    """Reflection padding that also works when the pad exceeds the side (repeats reflections)."""
    while bottom or right:
        step_bottom = min(bottom, image.shape[-2] - 1)
        step_right = min(right, image.shape[-1] - 1)
        if step_bottom == 0 and step_right == 0:
            return F.pad(image, (0, right, 0, bottom), mode="replicate")
        image = F.pad(image, (0, step_right, 0, step_bottom), mode="reflect")
        bottom -= step_bottom
        right -= step_right
    return image


def pad_to_multiple(image: Tensor, stride: int) -> Tensor:
    """``image`` (B, C, H, W) reflect-padded at the bottom and right to multiples of ``stride``, at least two strides
    on each side (what an encoder with that overall stride needs)."""
    height, width = int(image.shape[-2]), int(image.shape[-1])
    target_height = max(2 * stride, -(-height // stride) * stride)
    target_width = max(2 * stride, -(-width // stride) * stride)
    return pad_reflect(image, target_height - height, target_width - width)


def mask_at_features(mask: Tensor, size: tuple[int, int], feature_size: tuple[int, int], stride: int) -> Tensor:
    """A mask (1, 1, H, W) of any scale brought to the output ``size``, padded as the image is
    (:func:`pad_to_multiple`), then to the ``feature_size`` of a layer, in [0, 1]."""
    mask = resize_mask(mask.float(), size) if tuple(mask.shape[-2:]) != size else mask.float()
    return resize_mask(pad_to_multiple(mask, stride), feature_size).clamp(0, 1)


def pixels_key(image: Tensor) -> str:
    """A cache key of a tensor's values and shape (sha1 of its fp32 bytes)."""
    import hashlib

    digest = hashlib.sha1(image.detach().float().cpu().contiguous().numpy().tobytes()).hexdigest()
    return f"{digest}-{tuple(image.shape)}"
