"""Loss-and-gradient evaluation for the Gatys loop: in one encoder pass, or tile by tile for large images.

Both evaluators return the same :class:`Evaluation` and leave the gradient in ``pixels.grad``. The tiled one makes
two passes over the tiles: the first (no gradient) adds up each layer's Gram matrix over the tile interiors, which
gives the style loss exactly and its gradient with respect to each Gram matrix; the second runs each tile with
gradients and back-propagates the surrogate ``<dL/dG, G_tile> + content_tile``, whose gradient equals the full
loss's. Memory is that of one tile; the grid shifts at every evaluation so tile borders never settle into seams.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from ..losses import ContentLoss, StyleLoss, TotalVariationLoss, upcast
from ..tiling import ALIGN, Tile, tile_grid

Tensor = torch.Tensor
FeaturesFn = Callable[[Tensor], dict[str, Tensor]]


@dataclass(frozen=True)
class Evaluation:
    total: float
    terms: dict[str, float]
    """Weighted ``content``, ``style``, ``tv``."""
    layer_terms: dict[str, float]
    """Weighted ``content/<layer>`` and ``style/<layer>``."""


def layer_stride(layer: str) -> int:
    """Downsampling factor of a VGG layer: relu1_* → 1, relu2_* → 2, ..., relu5_* → 16."""
    block = int(layer.removeprefix("relu").removeprefix("conv").removeprefix("pool").split("_")[0])
    return 1 << (block if layer.startswith("pool") else block - 1)


def _finish(
    weights: Mapping[str, float],
    content_terms: Mapping[str, float],
    style_terms: Mapping[str, float],
    tv: float,
) -> Evaluation:
    terms = {
        "content": weights["content"] * sum(content_terms.values()),
        "style": weights["style"] * sum(style_terms.values()),
        "tv": weights["tv"] * tv,
    }
    layer_terms = {
        **{f"content/{k}": weights["content"] * v for k, v in content_terms.items()},
        **{f"style/{k}": weights["style"] * v for k, v in style_terms.items()},
    }
    return Evaluation(total=sum(terms.values()), terms=terms, layer_terms=layer_terms)


class WholeEvaluator:
    """One encoder pass over the whole image."""

    def __init__(
        self,
        features: FeaturesFn,
        content: ContentLoss,
        style: StyleLoss,
        tv: TotalVariationLoss,
        weights: Mapping[str, float],
    ) -> None:
        self.features, self.content, self.style, self.tv, self.weights = features, content, style, tv, weights

    def set_targets(
        self,
        content_image: Tensor,
        style_images: list[Tensor],
        *,
        blend: tuple[float, ...] | None,
        masks: list[Tensor] | None,
    ) -> None:
        with torch.no_grad():
            self.content.set_target(self.features(content_image))
            style_features = [self.features(style) for style in style_images]
            self.style.set_target(style_features, blend=blend, masks=masks)

    def __call__(self, pixels: Tensor) -> Evaluation:
        features = self.features(pixels)
        content_terms = self.content(features)
        style_terms = self.style(features)
        tv = self.tv(pixels)
        total = (
            self.weights["content"] * torch.stack(list(content_terms.values())).sum()
            + self.weights["style"] * torch.stack(list(style_terms.values())).sum()
            + self.weights["tv"] * tv
        )
        total.backward()
        return _finish(
            self.weights,
            {k: float(v.detach()) for k, v in content_terms.items()},
            {k: float(v.detach()) for k, v in style_terms.items()},
            float(tv.detach()),
        )


class TiledEvaluator:
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
        halo: int,
        generator: torch.Generator,
    ) -> None:
        self.features, self.content, self.style, self.tv, self.weights = features, content, style, tv, weights
        self.tile, self.halo, self.generator = tile, halo, generator
        self.content_targets: dict[str, Tensor] = {}

    def _tiles(self, height: int, width: int, *, shift: bool) -> list[Tile]:
        offset = (0, 0)
        if shift:
            steps = max(1, self.tile // ALIGN)
            drawn = torch.randint(0, steps, (2,), generator=self.generator)
            offset = (int(drawn[0]) * ALIGN, int(drawn[1]) * ALIGN)
        return tile_grid(height, width, tile=self.tile, halo=self.halo, offset=offset)

    @staticmethod
    def _crop(feature: Tensor, tile: Tile, stride: int, full: tuple[int, int]) -> tuple[Tensor, slice, slice]:
        """The tile interior's features and where they go in the full-size map."""
        rows, cols = tile.interior_in_padded(stride)
        crop = feature[..., rows, cols]
        top, left = tile.y0 // stride, tile.x0 // stride
        height = max(0, min(crop.shape[-2], full[0] - top))
        width = max(0, min(crop.shape[-1], full[1] - left))
        return crop[..., :height, :width], slice(top, top + height), slice(left, left + width)

    def _layer_sizes(self, height: int, width: int, layers: list[str]) -> dict[str, tuple[int, int]]:
        return {layer: (height // layer_stride(layer), width // layer_stride(layer)) for layer in layers}

    def grams(self, image: Tensor, *, groups: bool, tiles: list[Tile] | None = None) -> dict[str, list[Tensor]]:
        """Gram matrices of ``image`` added up over ``tiles`` (default: the unshifted grid), without gradient;
        per layer, one per mask group (``groups``) or one over the whole image."""
        layers = list(self.style.layer_weights)
        height, width = image.shape[-2:]
        sizes = self._layer_sizes(height, width, layers)
        count = self.style.groups if groups else 1
        sums: dict[str, list[Tensor | None]] = {layer: [None] * count for layer in layers}
        with torch.no_grad():
            for tile in tiles if tiles is not None else self._tiles(height, width, shift=False):
                features = self.features(image[..., tile.py0 : tile.py1, tile.px0 : tile.px1])
                for layer in layers:
                    crop, rows, cols = self._crop(features[layer], tile, layer_stride(layer), sizes[layer])
                    if crop.numel() == 0:
                        continue
                    flat = upcast(crop).flatten(2)  # (1, C, n)
                    for index in range(count):
                        mask = self.style.mask_at(index, sizes[layer]) if groups else None
                        weighted = flat if mask is None else flat * mask[..., rows, cols].flatten(2).to(flat.dtype)
                        contribution = weighted @ flat.transpose(1, 2)
                        previous = sums[layer][index]
                        sums[layer][index] = contribution if previous is None else previous + contribution
        grams: dict[str, list[Tensor]] = {}
        for layer in layers:
            channels = next(s for s in sums[layer] if s is not None).shape[-1]
            grams[layer] = []
            for index in range(count):
                mask = self.style.mask_at(index, sizes[layer]) if groups else None
                area = float(mask.sum()) if mask is not None else float(sizes[layer][0] * sizes[layer][1])
                total = sums[layer][index]
                assert total is not None
                grams[layer].append(total / (channels * max(area, 1e-8)))
        return grams

    def set_targets(
        self,
        content_image: Tensor,
        style_images: list[Tensor],
        *,
        blend: tuple[float, ...] | None,
        masks: list[Tensor] | None,
    ) -> None:
        style_grams = []
        for style in style_images:
            grams = self.grams(style, groups=False)
            style_grams.append({layer: values[0] for layer, values in grams.items()})
        self.style.set_target_grams(style_grams, blend=blend, masks=masks)
        layers = list(self.content.layer_weights)
        height, width = content_image.shape[-2:]
        sizes = self._layer_sizes(height, width, layers)
        targets: dict[str, Tensor] = {}
        with torch.no_grad():
            for tile in self._tiles(height, width, shift=False):
                features = self.features(content_image[..., tile.py0 : tile.py1, tile.px0 : tile.px1])
                for layer in layers:
                    crop, rows, cols = self._crop(features[layer], tile, layer_stride(layer), sizes[layer])
                    if layer not in targets:
                        targets[layer] = crop.new_zeros((1, crop.shape[1], *sizes[layer]))
                    targets[layer][..., rows, cols] = crop
        self.content_targets = targets

    def __call__(self, pixels: Tensor) -> Evaluation:
        height, width = pixels.shape[-2:]
        image = pixels.detach()
        # Pass 1: Gram matrices over this evaluation's grid, the style loss and its gradient w.r.t. each Gram matrix.
        tiles = self._tiles(height, width, shift=True)
        grams = self.grams(image, groups=True, tiles=tiles)
        leaves = {layer: [g.detach().requires_grad_(True) for g in values] for layer, values in grams.items()}
        style_terms = self.style.loss_from_grams(leaves)
        style_total = self.weights["style"] * torch.stack(list(style_terms.values())).sum()
        flat_leaves = [leaf for values in leaves.values() for leaf in values]
        gram_gradients = torch.autograd.grad(style_total, flat_leaves, allow_unused=True)
        gradient_of = dict(zip(map(id, flat_leaves), gram_gradients, strict=True))
        # TV on the whole image (cheap), then pass 2 tile by tile.
        tv = self.tv(pixels)
        (self.weights["tv"] * tv).backward()
        assert pixels.grad is not None
        style_layers = list(self.style.layer_weights)
        content_layers = list(self.content.layer_weights)
        sizes = self._layer_sizes(height, width, style_layers + content_layers)
        content_sums = dict.fromkeys(content_layers, 0.0)
        for tile in tiles:
            patch = image[..., tile.py0 : tile.py1, tile.px0 : tile.px1].clone().requires_grad_(True)
            features = self.features(patch)
            surrogate = patch.new_zeros(())
            for layer in style_layers:
                crop, rows, cols = self._crop(features[layer], tile, layer_stride(layer), sizes[layer])
                if crop.numel() == 0:
                    continue
                flat = upcast(crop).flatten(2)
                channels = flat.shape[1]
                for index, leaf in enumerate(leaves[layer]):
                    gradient = gradient_of[id(leaf)]
                    if gradient is None:
                        continue
                    mask = self.style.mask_at(index, sizes[layer])
                    area = float(mask.sum()) if mask is not None else float(sizes[layer][0] * sizes[layer][1])
                    weighted = flat if mask is None else flat * mask[..., rows, cols].flatten(2).to(flat.dtype)
                    contribution = weighted @ flat.transpose(1, 2) / (channels * max(area, 1e-8))
                    surrogate = surrogate + (gradient * contribution).sum()
            for layer, weight in self.content.layer_weights.items():
                crop, rows, cols = self._crop(features[layer], tile, layer_stride(layer), sizes[layer])
                target = self.content_targets[layer][..., rows, cols]
                partial = (upcast(crop) - upcast(target)).pow(2).sum() / self.content_targets[layer].numel()
                content_sums[layer] += weight * float(partial.detach())
                surrogate = surrogate + self.weights["content"] * weight * partial
            surrogate.backward()  # type: ignore[no-untyped-call]
            assert patch.grad is not None
            pixels.grad[..., tile.py0 : tile.py1, tile.px0 : tile.px1] += patch.grad
        return _finish(
            self.weights,
            content_sums,
            {k: float(v.detach()) for k, v in style_terms.items()},
            float(tv.detach()),
        )
