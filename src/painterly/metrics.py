"""Perceptual metrics: LPIPS v0.1 (Zhang et al. 2018) on the ImageNet VGG16, with the original linear heads.

LPIPS compares unit-normalised VGG16 activations at relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3, weights the
squared differences per channel with learned non-negative heads, averages over positions and sums over layers.
Its input scaling for images in [-1, 1] equals the ImageNet mean/std for images in [0, 1], which the encoder applies.

>>> metric = LPIPS()  # doctest: +SKIP
>>> float(metric(image, image))  # doctest: +SKIP
0.0
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from .encoders.vgg import VGGEncoder, vgg16
from .errors import ConfigError

LPIPS_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")


def unit_normalise(features: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Divide each position's feature vector by its L2 norm over channels."""
    norm = features.pow(2).sum(dim=1, keepdim=True).sqrt()
    return features / (norm + eps)


class LPIPS(nn.Module):
    """Learned perceptual distance between images in [0, 1]; (B, 3, H, W) pairs → (B,) distances."""

    def __init__(self, *, encoder: VGGEncoder | None = None, heads: Mapping[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        if encoder is None:
            encoder = vgg16(layers=list(LPIPS_LAYERS))
        if heads is None:
            from . import weights

            heads = weights.load_state_dict("lpips_vgg16")
        missing = [layer for layer in LPIPS_LAYERS if layer not in encoder.layers]
        if missing:
            raise ConfigError(f"the LPIPS encoder must compute {', '.join(missing)}")
        self.encoder = encoder
        for index in range(len(LPIPS_LAYERS)):
            head = heads[f"lin{index}.weight"].float().reshape(1, -1, 1, 1)
            self.register_buffer(f"head{index}", head)
        self.requires_grad_(False)

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        if first.shape != second.shape:
            raise ConfigError(f"LPIPS needs images of one shape, got {tuple(first.shape)} and {tuple(second.shape)}")
        features_first, features_second = self.encoder(first), self.encoder(second)
        distance = first.new_zeros(first.shape[0])
        for index, layer in enumerate(LPIPS_LAYERS):
            head: torch.Tensor = getattr(self, f"head{index}")
            difference = (unit_normalise(features_first[layer]) - unit_normalise(features_second[layer])).pow(2)
            distance = distance + (difference * head).sum(dim=1).mean(dim=(1, 2))
        return distance
