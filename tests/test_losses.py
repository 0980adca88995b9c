"""Losses: float64 references, gradient checks, blending and masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from painterly.errors import ConfigError
from painterly.losses import ContentLoss, StyleLoss, TotalVariationLoss
from tests.test_ops import gram_reference


def test_style_loss_matches_float64_reference() -> None:
    features = {"relu1_1": torch.randn(1, 4, 6, 6, dtype=torch.float64)}
    style = {"relu1_1": torch.randn(1, 4, 9, 5, dtype=torch.float64)}
    loss = StyleLoss({"relu1_1": 0.7})
    loss.set_target([style])
    value = float(loss(features)["relu1_1"])
    expected = 0.7 * np.mean(
        (gram_reference(features["relu1_1"].numpy()) - gram_reference(style["relu1_1"].numpy())) ** 2
    )
    assert value == pytest.approx(expected, rel=1e-5)


def test_content_loss_is_mse() -> None:
    target = torch.randn(1, 3, 4, 4)
    current = torch.randn(1, 3, 4, 4)
    loss = ContentLoss({"relu4_2": 2.0})
    loss.set_target({"relu4_2": target})
    assert float(loss({"relu4_2": current})["relu4_2"]) == pytest.approx(2.0 * float(((current - target) ** 2).mean()))


def test_gradients_of_losses_match_finite_differences() -> None:
    torch.manual_seed(0)
    content = ContentLoss({"a": 1.0})
    content.set_target({"a": torch.randn(1, 2, 3, 3, dtype=torch.float64)})
    style = StyleLoss({"a": 1.0})
    style.set_target([{"a": torch.randn(1, 2, 4, 4, dtype=torch.float64)}], masks=None)
    masked = StyleLoss({"a": 1.0})
    masked.set_target(
        [{"a": torch.randn(1, 2, 4, 4, dtype=torch.float64)}],
        masks=[torch.rand(1, 1, 3, 3, dtype=torch.float64)],
    )
    tv = TotalVariationLoss()
    x = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)

    def content_of(t: torch.Tensor) -> torch.Tensor:
        return content({"a": t})["a"]

    def style_of(t: torch.Tensor) -> torch.Tensor:
        return style({"a": t})["a"].double()

    def masked_of(t: torch.Tensor) -> torch.Tensor:
        return masked({"a": t})["a"].double()

    assert torch.autograd.gradcheck(content_of, (x,))
    assert torch.autograd.gradcheck(style_of, (x,))
    assert torch.autograd.gradcheck(masked_of, (x,))
    image = torch.rand(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: tv(t).double(), (image,))


def test_blend_one_zero_equals_single_style() -> None:
    first = {"relu1_1": torch.randn(1, 4, 6, 6)}
    second = {"relu1_1": torch.randn(1, 4, 6, 6)}
    blended, single = StyleLoss({"relu1_1": 1.0}), StyleLoss({"relu1_1": 1.0})
    blended.set_target([first, second], blend=[1.0, 0.0])
    single.set_target([first])
    assert torch.equal(blended.targets[0]["relu1_1"], single.targets[0]["relu1_1"])


def test_blend_is_weighted_mean_of_grams() -> None:
    first = {"l": torch.randn(1, 3, 5, 5, dtype=torch.float64)}
    second = {"l": torch.randn(1, 3, 5, 5, dtype=torch.float64)}
    loss = StyleLoss({"l": 1.0})
    loss.set_target([first, second], blend=[3.0, 1.0])
    expected = 0.75 * gram_reference(first["l"].numpy()) + 0.25 * gram_reference(second["l"].numpy())
    np.testing.assert_allclose(loss.targets[0]["l"].numpy(), expected, rtol=1e-6)


def test_masked_style_gradient_stays_inside_its_mask() -> None:
    torch.manual_seed(1)
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :, :4] = 1.0
    loss = StyleLoss({"l": 1.0})
    loss.set_target([{"l": torch.randn(1, 3, 8, 8)}], masks=[mask])
    features = torch.randn(1, 3, 8, 8, requires_grad=True)
    loss({"l": features})["l"].backward()
    assert features.grad is not None
    assert float(features.grad[..., :, 4:].abs().max()) == 0.0
    assert float(features.grad[..., :, :4].abs().max()) > 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"blend": [1.0]}, "1 style weight(s) for 2 style image(s)"),
        ({"blend": [0.0, 0.0]}, "must not all be zero"),
        ({"blend": [1.0, -1.0]}, ">= 0"),
        ({"masks": [torch.ones(1, 1, 4, 4)]}, "1 mask(s) for 2 style image(s)"),
    ],
)
def test_style_loss_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    loss = StyleLoss({"l": 1.0})
    styles = [{"l": torch.randn(1, 2, 4, 4)}, {"l": torch.randn(1, 2, 4, 4)}]
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        loss.set_target(styles, **kwargs)  # type: ignore[arg-type]


def test_negative_layer_weight_is_refused() -> None:
    with pytest.raises(ConfigError, match="must be >= 0"):
        StyleLoss({"relu1_1": -1.0})
