"""A better start for the optimisation: ``init = "wct"`` or ``"adain"`` begins from that one-pass method's result
(whose style statistics are already close), so the optimisation refines rather than builds the style."""

from __future__ import annotations

from collections.abc import Sequence

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
    """The ``kind`` method's picture of ``content`` with ``styles`` at ``size`` (height, width), in [0, 1]."""
    from ..image.io import resize_to
    from .registry import get_method

    if kind not in ONE_PASS_INITS:
        raise ConfigError(f"unknown one-pass start '{kind}': choose one of {', '.join(ONE_PASS_INITS)}")
    method = get_method(kind)
    options = method.options(None, size=max(size), device=device, precision=precision)
    stylizer = method.prepare(list(styles), options, weights=weights, masks=masks)
    return resize_to(stylizer(resize_to(content.cpu(), size)), size)
