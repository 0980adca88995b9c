"""A better start for the optimisation: ``init = "wct"`` or ``"adain"`` begins from that one-pass method's result
(whose style statistics are already close), so the optimisation refines rather than builds the style."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError

ONE_PASS_INITS = ("wct", "adain")


def one_pass_start(
    kind: str,
    content: Tensor,
    styles: Sequence[Tensor],
    *,
    size: tuple[int, int],
    weights: Sequence[float] | None = None,
    masks: Sequence[Tensor] | None = None,
    device: str = "auto",
    precision: str = "auto",
) -> Tensor:
    """The ``kind`` method's picture of ``content`` with ``styles`` at ``size`` (height, width), in [0, 1].

    The content (and masks) are reflected outwards by :func:`border_margin` pixels first and the result cropped back:
    the decoders' zero padding otherwise leaves a band of other colour along the edges, which the optimisation keeps
    (the Gram losses do not see where a colour is)."""
    from ..image.io import resize_to
    from .registry import get_method

    if kind not in ONE_PASS_INITS:
        raise ConfigError(f"unknown one-pass start '{kind}': choose one of {', '.join(ONE_PASS_INITS)}")
    margin = border_margin(size)
    padded_size = (size[0] + 2 * margin, size[1] + 2 * margin)
    method = get_method(kind)
    options = method.options(None, size=max(padded_size), device=device, precision=precision)
    padded_masks = None if masks is None else [_reflect(resize_to(mask.float().cpu(), size), margin) for mask in masks]
    stylizer = method.prepare(list(styles), options, weights=weights, masks=padded_masks)
    result = stylizer(_reflect(resize_to(content.float().cpu(), size), margin))
    result = resize_to(result, padded_size)
    return result[..., margin : margin + size[0], margin : margin + size[1]].contiguous()


def border_margin(size: tuple[int, int]) -> int:
    """Pixels reflected around an image of ``size`` before a one-pass method runs on it: 1/16 of the long side (32 px
    at 512), at least 8, less than the short side (reflection needs it)."""
    return max(0, min(max(8, round(max(size) / 16)), min(size) - 1))


def _reflect(image: Tensor, margin: int) -> Tensor:
    return F.pad(image, (margin, margin, margin, margin), mode="reflect") if margin else image
