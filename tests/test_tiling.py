"""Tiles: the grid covers the image once, tiled Gram matrices and gradients agree with one pass, memory choice."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from painterly.config import GatysConfig
from painterly.encoders.vgg import VGGEncoder
from painterly.losses import ContentLoss, StyleLoss, TotalVariationLoss
from painterly.methods.evaluation import TiledEvaluator, WholeEvaluator, layer_stride
from painterly.methods.gatys import GatysTransfer
from painterly.tiling import ALIGN, choose_tile, encoder_pass_bytes, tile_grid
from tests.conftest import gradient_image

STYLE = {"relu1_1": 1.0, "relu2_1": 1.0, "relu3_1": 1.0}
CONTENT = {"relu2_2": 1.0}
WEIGHTS = {"content": 1.0, "style": 1e3, "tv": 0.5}


@pytest.mark.parametrize("offset", [(0, 0), (16, 32), (48, 0)])
def test_grid_covers_every_pixel_once(offset: tuple[int, int]) -> None:
    coverage = torch.zeros(100, 150)
    for tile in tile_grid(100, 150, tile=64, halo=20, offset=offset):
        coverage[tile.y0 : tile.y1, tile.x0 : tile.x1] += 1
        assert tile.py0 <= tile.y0 and tile.py1 >= tile.y1 and tile.px0 <= tile.x0 and tile.px1 >= tile.x1
        assert tile.py0 >= 0 and tile.py1 <= 100 and tile.px0 >= 0 and tile.px1 <= 150
        assert tile.y0 % ALIGN == 0 and tile.x0 % ALIGN == 0
    assert torch.equal(coverage, torch.ones(100, 150))


def test_layer_strides() -> None:
    assert [layer_stride(name) for name in ("relu1_1", "relu2_2", "relu3_1", "relu4_2", "relu5_1")] == [1, 2, 4, 8, 16]


def make(
    encoder: VGGEncoder, *, tiled: bool, tile: int = 32, halo: int = 256, masks: bool = False
) -> tuple[WholeEvaluator | TiledEvaluator, StyleLoss]:
    style = StyleLoss(STYLE)
    parts = (encoder, ContentLoss(CONTENT), style, TotalVariationLoss(), WEIGHTS)
    evaluator: WholeEvaluator | TiledEvaluator
    evaluator = TiledEvaluator(*parts, tile=tile, halo=halo) if tiled else WholeEvaluator(*parts)
    content = gradient_image(64, 96, seed=1)
    styles = [
        torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(2)),
        torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(3)),
    ]
    mask = torch.zeros(1, 1, 64, 96)
    mask[..., :40] = 1.0
    evaluator.set_targets(content, styles, blend=None, masks=[mask, 1 - mask] if masks else None)
    return evaluator, style


@pytest.mark.parametrize(("masks", "halo"), [(False, 256), (True, 256), (False, 96), (True, 96)])
def test_tiled_evaluation_equals_one_pass(
    tiny_encoder_factory: Callable[..., VGGEncoder], masks: bool, halo: int
) -> None:
    """Exact when the halo covers the image, and also with painterly's 96 px halo (wider than the receptive field)."""
    encoder = tiny_encoder_factory([*STYLE, *CONTENT])
    whole, _ = make(encoder, tiled=False, masks=masks)
    tiled, _ = make(encoder, tiled=True, masks=masks, halo=halo)
    image = gradient_image(64, 96, seed=5)
    results = []
    for evaluator in (whole, tiled):
        pixels = image.clone().requires_grad_(True)
        pixels.grad = torch.zeros_like(pixels)
        results.append((evaluator(pixels), pixels.grad.clone()))
    (first, grad_first), (second, grad_second) = results
    assert second.total == pytest.approx(first.total, rel=1e-4)
    for key, value in first.layer_terms.items():
        assert second.layer_terms[key] == pytest.approx(value, rel=1e-4, abs=1e-9), key
    torch.testing.assert_close(grad_second, grad_first, rtol=1e-3, atol=1e-6)


def test_tiled_gram_close_to_one_pass_with_a_small_halo(tiny_encoder_factory: Callable[..., VGGEncoder]) -> None:
    encoder = tiny_encoder_factory([*STYLE, *CONTENT])
    tiled, style = make(encoder, tiled=True, halo=16)
    image = gradient_image(64, 96, seed=7)
    with torch.no_grad():
        reference = style.grams_of(encoder(image))
    grams = tiled.tiled_grams(image, 32, groups=False)
    for layer in STYLE:
        relative = float((grams[layer][0] - reference[layer][0]).norm() / reference[layer][0].norm())
        assert relative < 0.05, layer


def test_gatys_with_forced_tiles(tiny_encoder_factory: Callable[..., VGGEncoder]) -> None:
    layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"]
    config = GatysConfig(size=96, iterations=(2, 8), device="cpu", precision="fp32", tolerance=0.0, tile_size=32)
    seen: list[float] = []
    result = GatysTransfer(config, encoder=tiny_encoder_factory(layers)).run(
        gradient_image(60, 90), [torch.rand(1, 3, 50, 50)], progress=lambda p: seen.append(p.losses["total"])
    )
    assert result.image.shape == (1, 3, 64, 96)
    assert result.tiles == [32, 32]
    assert min(seen[2:]) < seen[2]


def test_choose_tile_by_memory() -> None:
    assert (
        choose_tile(512, 512, budget=encoder_pass_bytes(512 * 512, half_precision=True), half_precision=True, halo=64)
        is None
    )
    tile = choose_tile(4096, 4096, budget=2 << 30, half_precision=True, halo=96)
    assert tile is not None and tile % ALIGN == 0
    assert encoder_pass_bytes((tile + 192) ** 2, half_precision=True) <= 2 << 30


def test_tileable_refuses_tiling(tiny_encoder_factory: Callable[..., VGGEncoder]) -> None:
    from painterly.errors import ConfigError

    layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"]
    config = GatysConfig(size=96, iterations=(1,), device="cpu", tileable=True, tile_size=32)
    with pytest.raises(ConfigError, match="--tileable needs the whole 96x64 image in one pass"):
        GatysTransfer(config, encoder=tiny_encoder_factory(layers)).run(
            gradient_image(60, 90), [torch.rand(1, 3, 50, 50)]
        )
