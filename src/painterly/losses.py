"""Perceptual losses on encoder features: content (feature MSE), style (Gram MSE, optionally masked), total variation.

Each loss is a module with ``set_target(...)`` (computed once, stored detached in fp32) and a ``forward`` that
returns one weighted loss per layer, so callers can report which layer contributes what.

>>> loss = ContentLoss({"relu4_2": 1.0})
>>> loss.set_target({"relu4_2": torch.zeros(1, 2, 4, 4)})
>>> float(loss({"relu4_2": torch.ones(1, 2, 4, 4)})["relu4_2"])
1.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError
from .ops import gram_matrix, resize_mask, total_variation

Tensor = torch.Tensor
Features = Mapping[str, Tensor]


def upcast(tensor: Tensor) -> Tensor:
    """Half-precision tensors (from an autocast encoder) to fp32 for loss arithmetic; fp32/fp64 stay as they are."""
    return tensor.float() if tensor.dtype in (torch.float16, torch.bfloat16) else tensor


def _check_layer_weights(layer_weights: Mapping[str, float], kind: str) -> dict[str, float]:
    weights = {str(layer): float(weight) for layer, weight in layer_weights.items()}
    if not weights:
        raise ConfigError(f"{kind} loss needs at least one layer")
    negative = [layer for layer, weight in weights.items() if not weight >= 0]
    if negative:
        raise ConfigError(f"{kind} layer weights must be >= 0 (got {negative[0]}={weights[negative[0]]})")
    return weights


class ContentLoss(nn.Module):
    """Mean squared difference between features and the content's features, per layer."""

    def __init__(self, layer_weights: Mapping[str, float]) -> None:
        super().__init__()
        self.layer_weights = _check_layer_weights(layer_weights, "content")
        self.targets: dict[str, Tensor] = {}

    def set_target(self, features: Features) -> None:
        self.targets = {layer: upcast(features[layer].detach()) for layer in self.layer_weights}

    def forward(self, features: Features) -> dict[str, Tensor]:
        if not self.targets:
            raise RuntimeError("ContentLoss.set_target must be called before the loss is evaluated")
        return {
            layer: weight * _mse(upcast(features[layer]), self.targets[layer])
            for layer, weight in self.layer_weights.items()
        }


class StyleLoss(nn.Module):
    """Mean squared difference of Gram matrices, per layer, against one or several style images.

    Without masks, several styles are blended into one target Gram matrix per layer (weighted mean), which gives
    the same gradient as a weighted sum of per-style losses. With masks (one per style, (1, 1, H, W) at the output's
    size, values in [0, 1]) each style is compared with the Gram matrix of the output's features inside its mask only,
    so each style shapes its own region.
    """

    def __init__(self, layer_weights: Mapping[str, float]) -> None:
        super().__init__()
        self.layer_weights = _check_layer_weights(layer_weights, "style")
        self.targets: list[dict[str, Tensor]] = []
        self.style_shares: list[float] = []
        self.masks: list[Tensor] | None = None
        self._mask_cache: dict[tuple[int, int, int], Tensor] = {}

    def set_target(
        self,
        style_features: Sequence[Features],
        *,
        blend: Sequence[float] | None = None,
        masks: Sequence[Tensor] | None = None,
    ) -> None:
        """Targets from each style image's features (see :meth:`set_target_grams`)."""
        grams = [
            {layer: gram_matrix(features[layer]).detach() for layer in self.layer_weights}
            for features in style_features
        ]
        self.set_target_grams(grams, blend=blend, masks=masks)

    def set_target_grams(
        self,
        style_grams: Sequence[Mapping[str, Tensor]],
        *,
        blend: Sequence[float] | None = None,
        masks: Sequence[Tensor] | None = None,
    ) -> None:
        """Targets from each style image's Gram matrices (e.g. accumulated over tiles of a large style image)."""
        if not style_grams:
            raise ConfigError("at least one style image is needed")
        shares = normalised_blend(blend, len(style_grams))
        grams = [{layer: upcast(grams[layer].detach()) for layer in self.layer_weights} for grams in style_grams]
        self._mask_cache = {}
        if masks is None:
            blended = {}
            for layer in self.layer_weights:
                target = shares[0] * grams[0][layer]
                for share, gram in zip(shares[1:], grams[1:], strict=True):
                    target = target + share * gram[layer]
                blended[layer] = target
            self.targets, self.style_shares, self.masks = [blended], [1.0], None
            return
        if len(masks) != len(style_grams):
            raise ConfigError(f"got {len(masks)} mask(s) for {len(style_grams)} style image(s): give one per style")
        # Each masked style acts on its own region: its weight is used as given (1 by default), not shared out.
        self.targets = grams
        self.style_shares = [1.0] * len(grams) if blend is None else [float(w) for w in blend]
        self.masks = [upcast(mask.detach()) for mask in masks]

    @property
    def groups(self) -> int:
        """How many Gram matrices each layer compares: one, or one per masked style."""
        return 1 if self.masks is None else len(self.masks)

    def mask_at(self, index: int, size: tuple[int, int]) -> Tensor | None:
        """Mask of group ``index`` at a layer's (height, width), or None without masks."""
        if self.masks is None:
            return None
        key = (index, *size)
        if key not in self._mask_cache:
            self._mask_cache[key] = resize_mask(self.masks[index], size)
        return self._mask_cache[key]

    @staticmethod
    def grams_of_unmasked(feature: Tensor) -> Tensor:
        """The Gram matrix of one style image's features at one layer, as targets are built from."""
        return gram_matrix(feature).detach()

    def grams_of(self, features: Features) -> dict[str, list[Tensor]]:
        """The Gram matrices the loss compares: per layer, one per group."""
        grams: dict[str, list[Tensor]] = {}
        for layer in self.layer_weights:
            feature = features[layer]
            size = (feature.shape[-2], feature.shape[-1])
            grams[layer] = []
            for index in range(self.groups):
                mask = self.mask_at(index, size)
                grams[layer].append(gram_matrix(feature, None if mask is None else mask.to(feature.dtype)))
        return grams

    def loss_from_grams(self, grams: Mapping[str, Sequence[Tensor]]) -> dict[str, Tensor]:
        """Weighted loss per layer from :meth:`grams_of`-shaped Gram matrices."""
        if not self.targets:
            raise RuntimeError("StyleLoss.set_target must be called before the loss is evaluated")
        losses: dict[str, Tensor] = {}
        for layer, weight in self.layer_weights.items():
            total: Tensor | None = None
            for share, targets, gram in zip(self.style_shares, self.targets, grams[layer], strict=True):
                if share == 0.0:
                    continue
                term = share * _mse(upcast(gram), targets[layer])
                total = term if total is None else total + term
            losses[layer] = weight * (total if total is not None else upcast(grams[layer][0]).sum() * 0.0)
        return losses

    def forward(self, features: Features) -> dict[str, Tensor]:
        return self.loss_from_grams(self.grams_of(features))


class TotalVariationLoss(nn.Module):
    """Smoothness prior on the image itself: mean squared difference of neighbouring pixels."""

    def __init__(self, *, circular: bool = False) -> None:
        super().__init__()
        self.circular = circular

    def forward(self, image: Tensor) -> Tensor:
        return total_variation(upcast(image), circular=self.circular)


class TemporalLoss(nn.Module):
    """Short-term temporal consistency (Ruder, Dosovitskiy & Brox 2016): the squared difference to the previous
    frame's result warped into this frame, weighted by where that warp is reliable, over C*H*W.

    ``target`` (1, C, H, W) and ``mask`` (1, 1, H, W) are resized to the image when their sizes differ (pyramids).
    """

    def __init__(self, target: Tensor, mask: Tensor) -> None:
        super().__init__()
        if target.ndim != 4 or mask.ndim != 4 or mask.shape[1] != 1 or target.shape[-2:] != mask.shape[-2:]:
            raise ConfigError(
                f"temporal target (1, C, H, W) and mask (1, 1, H, W) must match, got {tuple(target.shape)} "
                f"and {tuple(mask.shape)}"
            )
        self.target = target.detach().float()
        self.mask = mask.detach().float()

    def forward(self, image: Tensor) -> Tensor:
        target, mask = self.target.to(image.device), self.mask.to(image.device)
        if target.shape[-2:] != image.shape[-2:]:
            size = (int(image.shape[-2]), int(image.shape[-1]))
            target = F.interpolate(target, size=size, mode="bilinear", align_corners=False, antialias=True)
            mask = resize_mask(mask, size)
        return (mask * (upcast(image) - target).pow(2)).sum() / image[0].numel()


def _mse(value: Tensor, target: Tensor) -> Tensor:
    return F.mse_loss(value, target.to(value.dtype))


def normalised_blend(blend: Sequence[float] | None, count: int) -> list[float]:
    if blend is None:
        return [1.0 / count] * count
    if len(blend) != count:
        raise ConfigError(f"got {len(blend)} style weight(s) for {count} style image(s)")
    try:
        values = [float(weight) for weight in blend]
    except (TypeError, ValueError) as error:
        raise ConfigError(f"style weights must be numbers, got {list(blend)}") from error
    if any(not (0 <= weight < math.inf) for weight in values):
        raise ConfigError(f"style weights must be finite and >= 0, got {list(blend)}")
    blend = values
    total = float(sum(blend))
    if total <= 0:
        raise ConfigError("style weights must not all be zero")
    return [float(weight) / total for weight in blend]
