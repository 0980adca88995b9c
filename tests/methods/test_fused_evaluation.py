"""The Gatys loss with the hand-written backward against the autograd evaluator."""

from __future__ import annotations

import pytest
import torch

from painterly.config import GatysConfig
from painterly.encoders.vgg_pass import FastVGG
from painterly.errors import ConfigError
from painterly.losses import ContentLoss, StyleLoss, TemporalLoss, TotalVariationLoss
from painterly.methods.evaluation import TiledEvaluator, WholeEvaluator
from painterly.methods.fused_evaluation import FusedEvaluator, _GramGradient, add_gram_gradient
from painterly.methods.gatys import GatysTransfer
from painterly.ops import gram_matrix
from tests.conftest import gradient_image, make_tiny_encoder

CONTENT_LAYERS = {"relu4_2": 1.0}
STYLE_LAYERS = {"relu1_1": 1.0, "relu2_1": 0.5, "relu3_1": 1.0, "relu4_1": 2.0, "relu5_1": 1.0}
WEIGHTS = {"content": 1.0, "style": 3e3, "tv": 5.0, "temporal": 2e2}


def evaluators(
    styles: list[torch.Tensor],
    *,
    blend: tuple[float, ...] | None = None,
    masks: list[torch.Tensor] | None = None,
    style_layers: dict[str, float] = STYLE_LAYERS,
    temporal: TemporalLoss | None = None,
) -> tuple[WholeEvaluator, FusedEvaluator]:
    encoder = make_tiny_encoder([*CONTENT_LAYERS, *style_layers])
    built = []
    for fused in (False, True):
        parts = (
            encoder,
            ContentLoss(CONTENT_LAYERS),
            StyleLoss(style_layers),
            TotalVariationLoss(),
            WEIGHTS,
        )
        evaluator = (
            FusedEvaluator(*parts, fast=FastVGG(encoder, dtype=torch.float32)) if fused else WholeEvaluator(*parts)
        )
        evaluator.set_targets(gradient_image(40, 48, seed=1), styles, blend=blend, masks=masks)
        evaluator.temporal = temporal
        built.append(evaluator)
    reference, fused_evaluator = built
    assert isinstance(reference, WholeEvaluator) and isinstance(fused_evaluator, FusedEvaluator)
    return reference, fused_evaluator


def evaluate(evaluator: WholeEvaluator, image: torch.Tensor) -> tuple[dict[str, float], torch.Tensor]:
    pixels = image.clone().requires_grad_(True)
    pixels.grad = torch.zeros_like(pixels)
    evaluation = evaluator(pixels)
    return {"total": evaluation.total, **evaluation.terms, **evaluation.layer_terms}, pixels.grad


def assert_same(reference: WholeEvaluator, fused: FusedEvaluator, image: torch.Tensor) -> None:
    expected_terms, expected_gradient = evaluate(reference, image)
    terms, gradient = evaluate(fused, image)
    assert terms.keys() == expected_terms.keys()
    for name, value in expected_terms.items():
        assert terms[name] == pytest.approx(value, rel=1e-4, abs=1e-9), name
    torch.testing.assert_close(gradient, expected_gradient, rtol=1e-3, atol=1e-7)
    assert float(expected_gradient.abs().max()) > 0


def test_one_style_matches_autograd() -> None:
    assert_same(*evaluators([gradient_image(36, 36, seed=2)]), gradient_image(40, 48, seed=3))


def test_blended_styles_and_a_zero_share_match_autograd() -> None:
    styles = [gradient_image(36, 36, seed=2), gradient_image(44, 30, seed=4).flip(1)]
    assert_same(*evaluators(styles, blend=(0.3, 0.7)), gradient_image(40, 48, seed=3))
    assert_same(*evaluators(styles, blend=(1.0, 0.0)), gradient_image(40, 48, seed=3))


def test_masked_styles_match_autograd() -> None:
    left = torch.zeros(1, 1, 40, 48)
    left[..., :24] = 1.0
    masks = [left, 1.0 - left * 0.75]
    styles = [gradient_image(36, 36, seed=2), gradient_image(44, 30, seed=4).flip(1)]
    assert_same(*evaluators(styles, masks=masks), gradient_image(40, 48, seed=3))


def test_zero_weight_layer_and_temporal_term_match_autograd() -> None:
    previous = gradient_image(40, 48, seed=6)
    mask = torch.ones(1, 1, 40, 48)
    mask[..., :10, :] = 0.0
    layers = {**STYLE_LAYERS, "relu2_1": 0.0}
    assert_same(
        *evaluators([gradient_image(36, 36, seed=2)], style_layers=layers, temporal=TemporalLoss(previous, mask)),
        gradient_image(40, 48, seed=3),
    )


@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("masked", [True, False])
@pytest.mark.parametrize("running", [True, False])
def test_gram_gradient_equals_autograd(channels_last: bool, masked: bool, running: bool) -> None:
    generator = torch.Generator().manual_seed(0)
    features = torch.rand(1, 6, 5, 7, generator=generator)
    if channels_last:
        features = features.contiguous(memory_format=torch.channels_last)
    mask = torch.rand(1, 1, 5, 7, generator=generator) if masked else None
    target = torch.rand(1, 6, 6, generator=generator)
    target = target + target.transpose(1, 2)
    leaf = features.clone().requires_grad_(True)
    loss = 7.0 * ((gram_matrix(leaf, mask) - target) ** 2).mean()
    loss.backward()  # type: ignore[no-untyped-call]
    assert leaf.grad is not None
    difference = gram_matrix(features, mask) - target
    area = 35.0 if mask is None else float(mask.sum())
    matrix = difference[0] * 4.0 * 7.0 / (6**3 * area)
    start = torch.rand(features.shape, generator=generator).contiguous(memory_format=torch.channels_last)
    result = add_gram_gradient(start.clone() if running else None, features, _GramGradient(matrix, mask))
    torch.testing.assert_close(result - (start if running else 0.0), leaf.grad, rtol=1e-5, atol=1e-6)


def transfer(backward: str, **options: object) -> GatysTransfer:
    config = GatysConfig.from_mapping(
        {"size": 48, "iterations": (5,), "device": "cpu", "precision": "fp32", "tolerance": 0.0, "backward": backward}
        | options
    )
    return GatysTransfer(config, encoder=make_tiny_encoder([*CONTENT_LAYERS, *STYLE_LAYERS]))


def test_transfer_with_either_backward_gives_the_same_image() -> None:
    content, style = gradient_image(40, 48, seed=3), gradient_image(36, 36, seed=2)
    fused, reference = transfer("fused"), transfer("autograd")
    assert fused.fast_encoder is not None and reference.fast_encoder is None
    first, second = fused.run(content, [style]), reference.run(content, [style])
    torch.testing.assert_close(first.image, second.image, rtol=0, atol=2e-4)
    assert first.losses["total"] == pytest.approx(second.losses["total"], rel=1e-3)
    assert first.timings["encoder_passes"] > 0 and "encoder_passes" not in second.timings


def test_tileable_and_tiled_runs_use_autograd() -> None:
    assert transfer("fused", tileable=True).fast_encoder is None
    tiled = transfer("fused", tile_size=32)
    assert isinstance(tiled._evaluator(tiled._tile_for((48, 48))), TiledEvaluator)


def test_unknown_backward_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown backward 'jit': choose one of fused, autograd"):
        GatysConfig(backward="jit")
