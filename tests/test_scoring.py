"""ImageScorer on tiny random encoders: losses against a plain re-computation, LPIPS/SSIM properties, bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from painterly.config import GatysConfig
from painterly.encoders.vgg import VGGEncoder
from painterly.errors import ConfigError
from painterly.image.io import resize_to
from painterly.losses import ContentLoss, StyleLoss, TotalVariationLoss
from painterly.metrics import LPIPS, LPIPS_LAYERS
from painterly.scoring import MIN_SIDE, ImageScore, ImageScorer
from tests.conftest import gradient_image, make_tiny_encoder

CONFIG = GatysConfig()
GATYS_LAYERS = [*CONFIG.content_layers, *CONFIG.style_layers]


def tiny_lpips() -> LPIPS:
    """LPIPS on a tiny encoder with random non-negative heads of the right widths."""
    encoder = make_tiny_encoder(list(LPIPS_LAYERS), seed=1)
    widths = {
        name: module.out_channels
        for name, module in encoder.body.named_children()
        if isinstance(module, torch.nn.Conv2d)
    }
    generator = torch.Generator().manual_seed(0)
    heads = {
        f"lin{index}.weight": torch.rand(1, widths[layer.replace("relu", "conv")], 1, 1, generator=generator)
        for index, layer in enumerate(LPIPS_LAYERS)
    }
    return LPIPS(encoder=encoder, heads=heads)


@pytest.fixture
def encoder() -> VGGEncoder:
    return make_tiny_encoder(GATYS_LAYERS)


@pytest.fixture
def scorer(encoder: VGGEncoder) -> ImageScorer:
    return ImageScorer(encoder=encoder, lpips=tiny_lpips(), device="cpu")


def plain_losses(encoder: VGGEncoder, image: torch.Tensor, content: torch.Tensor, styles: list[torch.Tensor]) -> Any:
    """The losses re-computed with the loss modules directly (as benchmarks/gatys.py's evaluate did)."""
    content_loss, style_loss = ContentLoss(CONFIG.content_layers), StyleLoss(CONFIG.style_layers)
    with torch.no_grad():
        content_loss.set_target(encoder(content))
        style_loss.set_target([encoder(style) for style in styles])
        features = encoder(image)
        c = float(sum(content_loss(features).values()))
        s = float(sum(style_loss(features).values()))
        tv = float(TotalVariationLoss()(image))
    weights = CONFIG.content_weight, CONFIG.effective_style_weight, CONFIG.tv_weight
    return {
        "content": weights[0] * c,
        "style": weights[1] * s,
        "total": weights[0] * c + weights[1] * s + weights[2] * tv,
    }


def test_identical_image_scores_zero_distance(scorer: ImageScorer) -> None:
    content, style = gradient_image(48, 64), gradient_image(40, 40, seed=3).flip(-1)
    score = scorer.score(content.clone(), content, [style])
    assert score.content == 0.0 and score.lpips == pytest.approx(0.0, abs=1e-7)
    assert score.ssim == pytest.approx(1.0, abs=1e-9)
    assert score.style is not None and score.style > 0  # the content is not the style
    assert score.to_dict() == {"content": 0.0, "style": score.style, "lpips": score.lpips, "ssim": score.ssim}


def test_different_image_scores_positive(scorer: ImageScorer) -> None:
    content, style = gradient_image(48, 64), gradient_image(48, 64, seed=3).flip(-1)
    image = (content + 0.2 * torch.randn(content.shape, generator=torch.Generator().manual_seed(5))).clamp(0, 1)
    score = scorer.score(image, content, [style])
    assert isinstance(score, ImageScore)
    assert score.content > 0 and score.style is not None and score.style > 0 and score.lpips > 0
    assert 0 < score.ssim < 0.99
    with torch.no_grad():
        assert score.lpips == pytest.approx(float(scorer.lpips(image, content)[0]), rel=1e-6)
    ssim = structural_similarity(
        image[0].permute(1, 2, 0).double().numpy(),
        content[0].permute(1, 2, 0).double().numpy(),
        channel_axis=2,
        data_range=1.0,
    )
    assert score.ssim == pytest.approx(ssim, rel=1e-12)


def test_losses_equal_a_plain_recomputation(scorer: ImageScorer, encoder: VGGEncoder) -> None:
    content, style = gradient_image(48, 64), gradient_image(56, 40, seed=3).flip(-1)
    image = (content * 0.7 + 0.3 * gradient_image(48, 64, seed=9).flip(-2)).clamp(0, 1)
    losses = scorer.losses(image, content, [style])
    assert list(losses) == ["content", "style", "total"]
    expected = plain_losses(encoder, image, content, [style])
    for key in expected:
        assert losses[key] == pytest.approx(expected[key], rel=1e-6), key
    score = scorer.score(image, content, [style])
    assert (score.content, score.style) == (losses["content"], losses["style"])


def test_several_styles_are_blended_equally(scorer: ImageScorer, encoder: VGGEncoder) -> None:
    content = gradient_image(48, 64)
    styles = [gradient_image(48, 48, seed=3).flip(-1), gradient_image(32, 64, seed=4).flip(-2)]
    image = (content + 0.1 * torch.randn(content.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    losses = scorer.losses(image, content, styles)
    expected = plain_losses(encoder, image, content, styles)  # StyleLoss's default blend: equal weights
    for key in expected:
        assert losses[key] == pytest.approx(expected[key], rel=1e-6), key
    single = [scorer.losses(image, content, [style])["style"] for style in styles]
    assert losses["style"] != pytest.approx(single[0]) and losses["style"] != pytest.approx(single[1])
    assert scorer.losses(image, content, tuple(styles)) == losses


def test_without_styles_there_is_no_style_or_total(scorer: ImageScorer) -> None:
    content = gradient_image(32, 32)
    image = gradient_image(32, 32, seed=2)
    losses = scorer.losses(image, content)
    assert list(losses) == ["content"] and losses["content"] > 0
    score = scorer.score(image, content, [])
    assert score.style is None and score.to_dict()["style"] is None
    assert score.content == losses["content"]


def test_content_of_another_size_is_resized_to_the_image(scorer: ImageScorer) -> None:
    content, style = gradient_image(96, 128), gradient_image(40, 40, seed=3)
    image = (gradient_image(48, 64, seed=1) * 0.9).clamp(0, 1)
    score = scorer.score(image, content, [style])
    resized = resize_to(content, (48, 64))
    assert score == scorer.score(image, resized, [style])
    assert scorer.losses(image, content, [style]) == scorer.losses(image, resized, [style])
    small_content = resize_to(content, (24, 32))  # enlarged too
    assert scorer.score(image, small_content).lpips == scorer.score(image, resize_to(small_content, (48, 64))).lpips


def test_inputs_are_converted_not_modified(scorer: ImageScorer) -> None:
    content = gradient_image(32, 48)
    image = gradient_image(32, 48, seed=2).double().requires_grad_(True)
    before = image.detach().clone()
    score = scorer.score(image, content)
    assert torch.equal(image.detach(), before) and image.grad is None
    assert score.content == scorer.score(image.detach().float(), content).content


@pytest.mark.parametrize(
    ("image", "fragment"),
    [
        (torch.rand(3, 32, 32), "must be (1, 3, H, W) (one RGB image), got shape (3, 32, 32)"),
        (torch.rand(1, 1, 32, 32), "got shape (1, 1, 32, 32)"),
        (torch.rand(1, 4, 32, 32), "got shape (1, 4, 32, 32)"),
        (torch.rand(2, 3, 32, 32), "score each image of a batch separately"),
        (torch.zeros(1, 3, 32, 32, dtype=torch.uint8), "float tensor"),
        (torch.rand(1, 3, 8, 32), f"32x8 pixels; scoring needs at least {MIN_SIDE}"),
        (torch.full((1, 3, 32, 32), float("nan")), "NaN"),
        (torch.rand(1, 3, 32, 32) * 255, "must be in [0, 1]"),
        (np.zeros((32, 32, 3), np.float32), "torch.Tensor, not ndarray"),
    ],
)
def test_bad_images_are_config_errors(scorer: ImageScorer, image: Any, fragment: str) -> None:
    good = gradient_image(32, 32)
    for args, name in (((image, good, [good]), "image"), ((good, image, [good]), "content image")):
        with pytest.raises(ConfigError) as caught:
            scorer.score(*args)
        assert str(caught.value).startswith(name) and fragment in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        scorer.losses(good, good, [good, image])
    assert str(caught.value).startswith("style image 2") and fragment in str(caught.value)


def test_bad_styles_and_components_are_config_errors(encoder: VGGEncoder) -> None:
    scorer = ImageScorer(encoder=encoder, lpips=tiny_lpips(), device="cpu")
    good = gradient_image(32, 32)
    with pytest.raises(ConfigError, match=r"styles must be a sequence .* not a tensor"):
        scorer.losses(good, good, good)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="must compute the default Gatys layers; missing relu4_2, relu5_1"):
        ImageScorer(encoder=make_tiny_encoder(["relu1_1", "relu2_1", "relu3_1", "relu4_1"]), device="cpu")
    with pytest.raises(ConfigError, match="encoder must be a VGGEncoder"):
        ImageScorer(encoder=torch.nn.Identity(), device="cpu")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="lpips must be an LPIPS"):
        ImageScorer(encoder=encoder, lpips=torch.nn.Identity(), device="cpu")  # type: ignore[arg-type]


@pytest.mark.real_weights
def test_real_scorer_shares_its_vgg16_with_lpips(real_weights: Path) -> None:
    scorer = ImageScorer(device="cpu")
    content, style = gradient_image(64, 64), gradient_image(64, 64, seed=3).flip(-1)
    image = (content + 0.1 * torch.randn(content.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    score = scorer.score(image, content, [style])
    assert scorer.lpips.encoder is scorer.encoder
    with torch.no_grad():
        assert score.lpips == float(LPIPS()(image, content)[0])
    same = scorer.score(content, content, [style])
    assert same.content == 0.0 and same.lpips == pytest.approx(0.0, abs=1e-6) and same.ssim == pytest.approx(1.0)
    assert score.lpips > 0 and score.ssim < 1 and score.content > 0
