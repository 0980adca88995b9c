"""A one-pass method prepared for its style images: what ``prepare`` returns for adain, wct and photo."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ..losses import normalised_blend
from .base import PreviousResult, ProgressCallback
from .gatys import check_inputs


class PreparedStyles:
    """``stylizer.stylize(frame, styles, weights=, masks=, options=, **extra)`` on every call; the stylizer caches
    what depends only on the styles, so the first frame pays for it. ``with_progress``: the stylizer takes a
    ``progress`` callback too."""

    def __init__(
        self,
        stylizer: Any,
        styles: Sequence[Tensor],
        options: Any,
        *,
        weights: Sequence[float] | None = None,
        masks: Sequence[Tensor] | None = None,
        with_progress: bool = False,
        **extra: Any,
    ) -> None:
        check_inputs(torch.zeros(1, 3, 1, 1), styles, masks, None)
        if weights is not None:
            normalised_blend(weights, len(styles))
        self.stylizer, self.styles, self.options = stylizer, list(styles), options
        self.weights = None if weights is None else list(weights)
        self.masks = None if masks is None else list(masks)
        self.with_progress = with_progress
        self.extra = extra

    def __call__(
        self, frame: Tensor, *, previous: PreviousResult | None = None, progress: ProgressCallback | None = None
    ) -> Tensor:
        extra = dict(self.extra)
        if self.with_progress:
            extra["progress"] = progress
        result: Tensor = self.stylizer.stylize(
            frame, self.styles, weights=self.weights, masks=self.masks, options=self.options, **extra
        )
        return result
