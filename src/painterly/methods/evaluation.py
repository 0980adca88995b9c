"""Loss-and-gradient evaluation for the Gatys loop: in one encoder pass, or tile by tile for large images.

Both evaluators return the same :class:`Evaluation` and add the gradient to ``pixels.grad``. The tiled one makes two
passes over the tiles: the first (no gradient) adds up each layer's Gram matrix over the tile interiors, which gives
the style loss and its gradient with respect to each Gram matrix; the second runs each tile with gradients and
back-propagates the surrogate ``<dL/dG, G_tile> + content_tile``, whose gradient is the full loss's. Memory is that of
one tile. The halo (96 px) exceeds the receptive-field radius of relu5_1 in VGG (66 px) and tile borders sit on the
deepest stride, so each interior's features equal those of one full pass: there are no seams to hide, and the grid
need not move between iterations (moving it would only add tiles).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch

from ..losses import ContentLoss, StyleLoss, TemporalLoss, TotalVariationLoss, upcast
from ..tiling import Tile, tile_grid

Tensor = torch.Tensor
FeaturesFn = Callable[[Tensor], dict[str, Tensor]]
StyleTiler = Callable[[Tensor], int | None]
STYLE_CACHE_SIZE = 16


@dataclass(frozen=True)
class Evaluation:
    total: float
    terms: dict[str, float]
    """Weighted ``content``, ``style``, ``tv``."""
    layer_terms: dict[str, float]
    """Weighted ``content/<layer>`` and ``style/<layer>``."""


def layer_stride(layer: str) -> int:
    """Downsampling factor of a VGG layer: relu1_* → 1, relu2_* → 2, ..., relu5_* → 16, pool5 → 32."""
    block = int(layer.removeprefix("relu").removeprefix("conv").removeprefix("pool").split("_")[0])
    return 1 << (block if layer.startswith("pool") else block - 1)


def layer_sizes(height: int, width: int, layers: Sequence[str]) -> dict[str, tuple[int, int]]:
    """(height, width) of each layer's feature map for an image of this size."""
    return {layer: (height // layer_stride(layer), width // layer_stride(layer)) for layer in layers}


def crop_interior(feature: Tensor, tile: Tile, stride: int, full: tuple[int, int]) -> tuple[Tensor, slice, slice]:
    """The tile interior's features and the rows/columns they occupy in the full-size feature map."""
    rows, cols = tile.interior_in_padded(stride)
    crop = feature[..., rows, cols]
    top, left = tile.y0 // stride, tile.x0 // stride
    height = max(0, min(crop.shape[-2], full[0] - top))
    width = max(0, min(crop.shape[-1], full[1] - left))
    return crop[..., :height, :width], slice(top, top + height), slice(left, left + width)


def gram_contribution(crop: Tensor, mask: Tensor | None, rows: slice, cols: slice) -> Tensor:
    """Un-normalised (masked) Gram sum ``F (m F)^T`` of a tile interior's features, (1, C, C) in fp32 or better."""
    flat = upcast(crop).flatten(2)  # (1, C, n)
    weighted = flat if mask is None else flat * mask[..., rows, cols].flatten(2).to(flat.dtype)
    return weighted @ flat.transpose(1, 2)


def _finish(
    weights: Mapping[str, float],
    content_terms: Mapping[str, float],
    style_terms: Mapping[str, float],
    tv: float,
    temporal: float | None = None,
) -> Evaluation:
    terms = {
        "content": weights["content"] * sum(content_terms.values()),
        "style": weights["style"] * sum(style_terms.values()),
        "tv": weights["tv"] * tv,
    }
    if temporal is not None:
        terms["temporal"] = weights["temporal"] * temporal
    layer_terms = {
        **{f"content/{k}": weights["content"] * v for k, v in content_terms.items()},
        **{f"style/{k}": weights["style"] * v for k, v in style_terms.items()},
    }
    return Evaluation(total=sum(terms.values()), terms=terms, layer_terms=layer_terms)


class _Evaluator:
    def __init__(
        self,
        features: FeaturesFn,
        content: ContentLoss,
        style: StyleLoss,
        tv: TotalVariationLoss,
        weights: Mapping[str, float],
        *,
        halo: int = 96,
    ) -> None:
        self.features, self.content, self.style, self.tv, self.weights = features, content, style, tv, weights
        self.halo = halo
        self.temporal: TemporalLoss | None = None
        self.style_cache: dict[str, dict[str, Tensor]] | None = None
        """A video's temporal term (weight ``weights["temporal"]``): a pixel-space loss like total variation."""

    def pixel_terms(self, pixels: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """The weighted sum of the pixel-space terms (smoothness, temporal), and each term unweighted."""
        tv = self.tv(pixels)
        total = self.weights["tv"] * tv
        temporal = None
        if self.temporal is not None:
            temporal = self.temporal(pixels)
            total = total + self.weights["temporal"] * temporal
        return total, tv, temporal

    def tiled_grams(self, image: Tensor, tile: int, *, groups: bool) -> dict[str, list[Tensor]]:
        """Gram matrices of ``image`` added up over tiles (no gradient); per layer, one per mask group when
        ``groups`` (else one over the whole image)."""
        layers = list(self.style.layer_weights)
        sizes = layer_sizes(image.shape[-2], image.shape[-1], layers)
        count = self.style.groups if groups else 1
        sums: dict[str, list[Tensor]] = {}
        with torch.no_grad():
            for piece in tile_grid(*image.shape[-2:], tile=tile, halo=self.halo):
                features = self.features(image[..., piece.py0 : piece.py1, piece.px0 : piece.px1])
                for layer in layers:
                    crop, rows, cols = crop_interior(features[layer], piece, layer_stride(layer), sizes[layer])
                    if crop.numel() == 0:
                        continue
                    for index in range(count):
                        mask = self.style.mask_at(index, sizes[layer]) if groups else None
                        contribution = gram_contribution(crop, mask, rows, cols)
                        layer_sums = sums.setdefault(layer, [])
                        if len(layer_sums) <= index:
                            layer_sums.append(contribution)
                        else:
                            layer_sums[index] = layer_sums[index] + contribution
        return {
            layer: [
                total / (total.shape[-1] * self._area(index if groups else None, sizes[layer]))
                for index, total in enumerate(sums[layer])
            ]
            for layer in layers
        }

    def _area(self, group: int | None, size: tuple[int, int]) -> float:
        mask = None if group is None else self.style.mask_at(group, size)
        return max(float(mask.sum()), 1e-8) if mask is not None else float(size[0] * size[1])

    def _style_grams(self, styles: Sequence[Tensor], tiler: StyleTiler | None) -> list[dict[str, Tensor]]:
        """Each style image's Gram matrices; reused from ``style_cache`` when the same pixels were seen before
        (a video's frames share their styles' targets)."""
        grams = []
        for style in styles:
            tile = tiler(style) if tiler is not None else None
            key = None
            if self.style_cache is not None:
                digest = hashlib.sha1(style.detach().float().cpu().contiguous().numpy().tobytes()).hexdigest()
                key = f"{digest}-{tuple(style.shape)}-{tile}"
                if key in self.style_cache:
                    grams.append(self.style_cache[key])
                    continue
            if tile is None:
                with torch.no_grad():
                    features = self.features(style)
                grams.append(
                    {layer: self.style.grams_of_unmasked(features[layer]) for layer in self.style.layer_weights}
                )
            else:
                grams.append(
                    {layer: values[0] for layer, values in self.tiled_grams(style, tile, groups=False).items()}
                )
            if key is not None and self.style_cache is not None:
                self.style_cache[key] = grams[-1]
                while len(self.style_cache) > STYLE_CACHE_SIZE:  # oldest out: styles recoloured per frame change
                    del self.style_cache[next(iter(self.style_cache))]
        return grams


class WholeEvaluator(_Evaluator):
    """One encoder pass over the whole image (style images are tiled only if they would not fit)."""

    def __init__(
        self,
        features: FeaturesFn,
        content: ContentLoss,
        style: StyleLoss,
        tv: TotalVariationLoss,
        weights: Mapping[str, float],
        *,
        style_tiler: StyleTiler | None = None,
    ) -> None:
        super().__init__(features, content, style, tv, weights)
        self.style_tiler = style_tiler

    def set_targets(
        self,
        content_image: Tensor,
        style_images: list[Tensor],
        *,
        blend: tuple[float, ...] | None,
        masks: list[Tensor] | None,
    ) -> None:
        self.style.set_target_grams(self._style_grams(style_images, self.style_tiler), blend=blend, masks=masks)
        with torch.no_grad():
            self.content.set_target(self.features(content_image))

    def __call__(self, pixels: Tensor) -> Evaluation:
        features = self.features(pixels)
        content_terms = self.content(features)
        style_terms = self.style(features)
        pixel_total, tv, temporal = self.pixel_terms(pixels)
        total = (
            self.weights["content"] * torch.stack(list(content_terms.values())).sum()
            + self.weights["style"] * torch.stack(list(style_terms.values())).sum()
            + pixel_total
        )
        total.backward()  # type: ignore[no-untyped-call]
        return _finish(
            self.weights,
            {k: float(v.detach()) for k, v in content_terms.items()},
            {k: float(v.detach()) for k, v in style_terms.items()},
            float(tv.detach()),
            None if temporal is None else float(temporal.detach()),
        )


class TiledEvaluator(_Evaluator):
    """Tile-by-tile evaluation with bounded memory; see the module docstring."""

    def __init__(
        self,
        features: FeaturesFn,
        content: ContentLoss,
        style: StyleLoss,
        tv: TotalVariationLoss,
        weights: Mapping[str, float],
        *,
        tile: int,
        halo: int = 96,
    ) -> None:
        super().__init__(features, content, style, tv, weights, halo=halo)
        self.tile = tile
        self.content_targets: dict[str, Tensor] = {}

    def set_targets(
        self,
        content_image: Tensor,
        style_images: list[Tensor],
        *,
        blend: tuple[float, ...] | None,
        masks: list[Tensor] | None,
    ) -> None:
        self.style.set_target_grams(self._style_grams(style_images, lambda _: self.tile), blend=blend, masks=masks)
        layers = list(self.content.layer_weights)
        sizes = layer_sizes(content_image.shape[-2], content_image.shape[-1], layers)
        targets: dict[str, Tensor] = {}
        with torch.no_grad():
            for piece in tile_grid(*content_image.shape[-2:], tile=self.tile, halo=self.halo):
                features = self.features(content_image[..., piece.py0 : piece.py1, piece.px0 : piece.px1])
                for layer in layers:
                    crop, rows, cols = crop_interior(features[layer], piece, layer_stride(layer), sizes[layer])
                    if layer not in targets:
                        targets[layer] = crop.new_zeros((1, crop.shape[1], *sizes[layer]))
                    targets[layer][..., rows, cols] = crop
        self.content_targets = targets

    def __call__(self, pixels: Tensor) -> Evaluation:
        height, width = pixels.shape[-2:]
        image = pixels.detach()
        # Pass 1: the Gram matrices, the style loss and its gradient with respect to each Gram matrix.
        leaves = {
            layer: [g.requires_grad_(True) for g in values]
            for layer, values in self.tiled_grams(image, self.tile, groups=True).items()
        }
        style_terms = self.style.loss_from_grams(leaves)
        style_total = self.weights["style"] * torch.stack(list(style_terms.values())).sum()
        flat_leaves = [leaf for values in leaves.values() for leaf in values]
        gram_gradients = dict(
            zip(map(id, flat_leaves), torch.autograd.grad(style_total, flat_leaves, allow_unused=True), strict=True)
        )
        # The pixel-space terms on the whole image (cheap), then pass 2 tile by tile.
        pixel_total, tv, temporal = self.pixel_terms(pixels)
        pixel_total.backward()  # type: ignore[no-untyped-call]
        assert pixels.grad is not None
        style_layers, content_layers = list(self.style.layer_weights), list(self.content.layer_weights)
        sizes = layer_sizes(height, width, style_layers + content_layers)
        scales = {
            (layer, index): 1.0
            / (leaf.shape[-1] * self._area(None if self.style.masks is None else index, sizes[layer]))
            for layer, values in leaves.items()
            for index, leaf in enumerate(values)
        }
        content_sums = dict.fromkeys(content_layers, 0.0)
        for piece in tile_grid(height, width, tile=self.tile, halo=self.halo):
            patch = image[..., piece.py0 : piece.py1, piece.px0 : piece.px1].clone().requires_grad_(True)
            features = self.features(patch)
            surrogate = patch.new_zeros(())
            for layer in style_layers:
                crop, rows, cols = crop_interior(features[layer], piece, layer_stride(layer), sizes[layer])
                if crop.numel() == 0:
                    continue
                for index, leaf in enumerate(leaves[layer]):
                    gradient = gram_gradients[id(leaf)]
                    if gradient is not None:
                        mask = self.style.mask_at(index, sizes[layer])
                        contribution = gram_contribution(crop, mask, rows, cols) * scales[(layer, index)]
                        surrogate = surrogate + (gradient * contribution).sum()
            for layer, weight in self.content.layer_weights.items():
                crop, rows, cols = crop_interior(features[layer], piece, layer_stride(layer), sizes[layer])
                target = self.content_targets[layer][..., rows, cols]
                partial = (upcast(crop) - upcast(target)).pow(2).sum() / self.content_targets[layer].numel()
                content_sums[layer] += weight * float(partial.detach())
                surrogate = surrogate + self.weights["content"] * weight * partial
            surrogate.backward()  # type: ignore[no-untyped-call]
            assert patch.grad is not None
            pixels.grad[..., piece.py0 : piece.py1, piece.px0 : piece.px1] += patch.grad
        return _finish(
            self.weights,
            content_sums,
            {k: float(v.detach()) for k, v in style_terms.items()},
            float(tv.detach()),
            None if temporal is None else float(temporal.detach()),
        )
