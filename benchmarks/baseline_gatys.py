"""The textbook baseline: a plain fp32, single-scale Gatys loop with the same losses as painterly.

No mixed precision, no channels-last, no pyramid, no early stop: one L-BFGS call at full size, started from the
content, as the classic implementations do. Kept here so that every benchmark compares against it in the same run.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from painterly.encoders.vgg import VGGEncoder


def plain_gram(features: torch.Tensor) -> torch.Tensor:
    batch, channels, height, width = features.shape
    flat = features.reshape(batch, channels, height * width)
    return flat @ flat.transpose(1, 2) / (channels * height * width)


def plain_gatys(
    encoder: VGGEncoder,
    content: torch.Tensor,
    style: torch.Tensor,
    *,
    content_layers: Mapping[str, float],
    style_layers: Mapping[str, float],
    content_weight: float,
    style_weight: float,
    tv_weight: float,
    iterations: int,
) -> torch.Tensor:
    """Optimise the pixels for ``iterations`` L-BFGS iterations (one loss evaluation each) and return them."""
    with torch.no_grad():
        content_targets = {k: v.clone() for k, v in encoder(content).items() if k in content_layers}
        style_targets = {k: plain_gram(v) for k, v in encoder(style).items() if k in style_layers}
    pixels = content.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS(
        [pixels],
        lr=1.0,
        max_iter=iterations,
        max_eval=iterations,
        history_size=100,
        tolerance_grad=0.0,
        tolerance_change=0.0,
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        features = encoder(pixels)
        loss = pixels.new_zeros(())
        for layer, weight in content_layers.items():
            loss = loss + content_weight * weight * F.mse_loss(features[layer], content_targets[layer])
        for layer, weight in style_layers.items():
            loss = loss + style_weight * weight * F.mse_loss(plain_gram(features[layer]), style_targets[layer])
        dx = pixels[..., :, 1:] - pixels[..., :, :-1]
        dy = pixels[..., 1:, :] - pixels[..., :-1, :]
        loss = loss + tv_weight * (dx.pow(2).mean() + dy.pow(2).mean())
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimizer.step(closure)  # type: ignore[no-untyped-call]
    return pixels.detach().clamp(0, 1)
