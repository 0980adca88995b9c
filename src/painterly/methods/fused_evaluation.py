"""The Gatys loss and its gradient through a hand-written backward (:mod:`painterly.encoders.vgg_pass`).

Same losses as :class:`~.evaluation.WholeEvaluator` (it computes the targets the same way), with the gradients of the
loss terms written out instead of taken by autograd:

- content, ``w * mean((F - P)^2)``: ``2 w (F - P) / n``;
- style, ``w * s * mean((G - A)^2)`` with ``G = Fm^T F / (C * area)`` (``m`` the group's mask, 1 without masks):
  ``dL/dF = m * F (M + M^T)`` with ``M = 2 w s (G - A) / (C^2 * C * area)``; G and A are symmetric, so this is
  ``2 m F M``: one product per layer where autograd makes two and adds them. Without a mask it is added into the
  running gradient in place (``addmm_``).

The pixel-space terms (smoothness, a video's temporal term) stay with autograd: three channels, cheap.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from ..encoders.vgg_pass import FastVGG
from ..losses import ContentLoss, StyleLoss, TotalVariationLoss
from ..ops import gram_matrix, is_channels_last, layout_of
from .evaluation import Evaluation, FeaturesFn, StyleTiler, WholeEvaluator, _finish

Tensor = torch.Tensor


@dataclass(frozen=True)
class _GramGradient:
    """``dL/dF = mask * (F @ matrix)`` over the (positions, channels) rows of F."""

    matrix: Tensor
    """(C, C), symmetric, in the features' dtype."""
    mask: Tensor | None
    """(1, 1, h, w) at the layer's size, or None."""


def feature_matrix(features: Tensor) -> tuple[Tensor, bool]:
    """A (1, C, H, W) map as a matrix view without copying: (N, C) rows for channels-last memory (True), else (C, N)
    columns (False)."""
    channels = features.shape[1]
    if is_channels_last(features):
        return features.permute(0, 2, 3, 1).reshape(-1, channels), True
    return features.reshape(channels, -1), False


def add_gram_gradient(gradient: Tensor | None, features: Tensor, term: _GramGradient) -> Tensor:
    """``gradient + mask * F M`` (the style term's gradient at this layer), in place where ``gradient`` allows."""
    matrix, rows = feature_matrix(features)
    height, width = features.shape[-2:]
    if rows:
        mask = None if term.mask is None else term.mask.reshape(-1, 1).to(features.dtype)
        target_layout = torch.channels_last
    else:
        mask = None if term.mask is None else term.mask.reshape(1, -1).to(features.dtype)
        target_layout = torch.contiguous_format
    if gradient is not None and not gradient.is_contiguous(memory_format=target_layout):
        gradient = gradient.contiguous(memory_format=target_layout)
    if gradient is not None and mask is None:
        gradient_matrix = feature_matrix(gradient)[0]
        if rows:
            gradient_matrix.addmm_(matrix, term.matrix)
        else:
            gradient_matrix.addmm_(term.matrix, matrix)
        return gradient
    product = matrix @ term.matrix if rows else term.matrix @ matrix
    if mask is not None:
        product.mul_(mask)
    if rows:
        as_map = product.reshape(1, height, width, -1).permute(0, 3, 1, 2)
    else:
        as_map = product.reshape(1, -1, height, width)
    if gradient is None:
        return as_map
    return gradient.add_(as_map)


class FusedEvaluator(WholeEvaluator):
    """:class:`WholeEvaluator`'s losses with the encoder's backward written out (see the module docstring)."""

    def __init__(
        self,
        features: FeaturesFn,
        content: ContentLoss,
        style: StyleLoss,
        tv: TotalVariationLoss,
        weights: Mapping[str, float],
        *,
        fast: FastVGG,
        style_tiler: StyleTiler | None = None,
    ) -> None:
        super().__init__(features, content, style, tv, weights, style_tiler=style_tiler)
        self.fast = fast
        self.layers = list(dict.fromkeys([*content.layer_weights, *style.layer_weights]))
        self.encoder_seconds = 0.0
        """Time spent in the encoder's forward and backward passes alone (not in the losses' own arithmetic)."""

    def __call__(self, pixels: Tensor) -> Evaluation:
        started = time.perf_counter()
        recorded = self.fast.forward(pixels.detach(), self.layers)
        self.encoder_seconds += time.perf_counter() - started
        features = recorded.features
        content_terms, content_gradients = self._content(features)
        style_terms, style_gradients = self._style(features)

        hook_seconds = 0.0

        def add_gradient(layer: str, gradient: Tensor | None) -> Tensor | None:
            nonlocal hook_seconds
            hook_started = time.perf_counter()
            feature = features[layer]
            if layer in content_gradients:
                seed = content_gradients[layer].to(feature.dtype).contiguous(memory_format=layout_of(feature))
                gradient = seed if gradient is None else gradient.add_(seed)
            for term in style_gradients.get(layer, ()):
                gradient = add_gram_gradient(gradient, feature, term)
            hook_seconds += time.perf_counter() - hook_started
            return gradient

        started = time.perf_counter()
        image_gradient = recorded.backward(add_gradient)
        self.encoder_seconds += time.perf_counter() - started - hook_seconds
        pixel_total, tv, temporal = self.pixel_terms(pixels)
        pixel_total.backward()  # type: ignore[no-untyped-call]
        if image_gradient is not None:
            assert pixels.grad is not None
            pixels.grad.add_(image_gradient.to(pixels.grad.dtype))
        return _finish(
            self.weights,
            content_terms,
            style_terms,
            float(tv.detach()),
            None if temporal is None else float(temporal.detach()),
        )

    def _content(self, features: Mapping[str, Tensor]) -> tuple[dict[str, float], dict[str, Tensor]]:
        """Each content layer's weighted loss and its gradient (fp32) with respect to the layer's features."""
        if not self.content.targets:
            raise RuntimeError("ContentLoss.set_target must be called before the loss is evaluated")
        terms: dict[str, float] = {}
        gradients: dict[str, Tensor] = {}
        for layer, weight in self.content.layer_weights.items():
            difference = features[layer].float() - self.content.targets[layer]
            terms[layer] = weight * float(difference.square().mean())
            scale = 2.0 * self.weights["content"] * weight / difference.numel()
            if scale != 0.0:
                gradients[layer] = difference.mul_(scale)
        return terms, gradients

    def _style(self, features: Mapping[str, Tensor]) -> tuple[dict[str, float], dict[str, list[_GramGradient]]]:
        """Each style layer's weighted loss and its Gram-matrix gradients (one per mask group)."""
        style = self.style
        if not style.targets:
            raise RuntimeError("StyleLoss.set_target must be called before the loss is evaluated")
        terms: dict[str, float] = {}
        gradients: dict[str, list[_GramGradient]] = {}
        for layer, weight in style.layer_weights.items():
            feature = features[layer]
            channels, size = feature.shape[1], (feature.shape[-2], feature.shape[-1])
            total = 0.0
            for index, (share, targets) in enumerate(zip(style.style_shares, style.targets, strict=True)):
                if share == 0.0:
                    continue
                mask = style.mask_at(index, size)
                gram = gram_matrix(feature, None if mask is None else mask.to(feature.dtype)).float()
                difference = gram - targets[layer]
                total += share * float(difference.square().mean())
                area = float(size[0] * size[1]) if mask is None else max(float(mask.sum()), 1e-8)
                scale = 4.0 * self.weights["style"] * weight * share / (channels**3 * area)
                if scale != 0.0:
                    matrix = (difference[0] * scale).to(feature.dtype)
                    gradients.setdefault(layer, []).append(_GramGradient(matrix, mask))
            terms[layer] = weight * total
        return terms, gradients
