"""The hand-written VGG pass against autograd through the same encoder."""

from __future__ import annotations

import pytest
import torch

from painterly.encoders.vgg import VGGEncoder
from painterly.encoders.vgg_pass import FastVGG, supports_fast_pass
from painterly.errors import ConfigError
from tests.conftest import gradient_image, make_tiny_encoder

DEFAULT_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"]
LAYER_SETS = [
    DEFAULT_LAYERS,
    ["conv1_2", "relu2_2", "pool2", "conv4_1"],  # raw conv outputs (no fused ReLU), a pooling output, a tapped ReLU
    ["relu1_2", "relu3_3", "relu5_1"],  # tapped ReLUs right before poolings (their masks cannot be folded)
]


def seeds_for(features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(5)
    return {name: torch.randn(value.shape, generator=generator) for name, value in sorted(features.items())}


def autograd_gradient(encoder: VGGEncoder, image: torch.Tensor, seeds: dict[str, torch.Tensor]) -> torch.Tensor:
    pixels = image.clone().requires_grad_(True)
    features = encoder(pixels)
    loss = sum((features[name] * seed).sum() for name, seed in seeds.items())
    assert isinstance(loss, torch.Tensor)
    loss.backward()  # type: ignore[no-untyped-call]
    assert pixels.grad is not None
    return pixels.grad


def fast_gradient(fast: FastVGG, image: torch.Tensor, seeds: dict[str, torch.Tensor]) -> torch.Tensor:
    recorded = fast.forward(image, list(seeds))
    order: list[str] = []

    def add(name: str, gradient: torch.Tensor | None) -> torch.Tensor:
        order.append(name)
        seed = seeds[name].to(recorded.features[name].dtype)
        return seed if gradient is None else gradient + seed

    gradient = recorded.backward(add)
    assert gradient is not None
    assert order == sorted(seeds, key=fast.names.index, reverse=True)  # deepest first, each once
    return gradient


@pytest.mark.parametrize("layers", LAYER_SETS)
@pytest.mark.parametrize("pooling", ["max", "avg"])
@pytest.mark.parametrize("fuse_relu", [True, False])
def test_features_and_gradient_equal_autograd_in_fp32(layers: list[str], pooling: str, fuse_relu: bool) -> None:
    encoder = make_tiny_encoder(layers, pooling)
    image = gradient_image(40, 56)
    fast = FastVGG(encoder, dtype=torch.float32, fuse_relu=fuse_relu)
    reference = encoder(image)
    recorded = fast.forward(image, layers)
    for name in layers:
        torch.testing.assert_close(recorded.features[name], reference[name], rtol=1e-5, atol=1e-5)
    seeds = seeds_for(reference)
    torch.testing.assert_close(
        fast_gradient(fast, image, seeds), autograd_gradient(encoder, image, seeds), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("memory_format", [torch.channels_last, torch.contiguous_format])
def test_both_memory_layouts_give_the_same_gradient(memory_format: torch.memory_format) -> None:
    encoder = make_tiny_encoder(DEFAULT_LAYERS)
    image = gradient_image(32, 48)
    seeds = seeds_for(encoder(image))
    fast = FastVGG(encoder, dtype=torch.float32, memory_format=memory_format)
    torch.testing.assert_close(
        fast_gradient(fast, image, seeds), autograd_gradient(encoder, image, seeds), rtol=1e-4, atol=1e-5
    )


def test_bf16_gradient_follows_the_fp32_one() -> None:
    encoder = make_tiny_encoder(DEFAULT_LAYERS)
    image = gradient_image(48, 48)
    seeds = seeds_for(encoder(image))
    exact = autograd_gradient(encoder, image, seeds).flatten()
    approximate = fast_gradient(FastVGG(encoder, dtype=torch.bfloat16), image, seeds).flatten()
    assert approximate.dtype == torch.float32
    assert float(torch.nn.functional.cosine_similarity(exact, approximate, dim=0)) > 0.99


def test_no_gradient_when_no_layer_passes_one() -> None:
    encoder = make_tiny_encoder(["relu2_1"])
    recorded = FastVGG(encoder, dtype=torch.float32).forward(gradient_image(32, 32), ["relu2_1"])
    assert recorded.backward(lambda name, gradient: gradient) is None


def test_circular_padding_and_unknown_layers_are_refused() -> None:
    encoder = make_tiny_encoder(["relu2_1"])
    with pytest.raises(ConfigError, match=r"does not compute layer\(s\) relu3_1"):
        FastVGG(encoder, dtype=torch.float32).forward(gradient_image(32, 32), ["relu3_1"])
    encoder.set_padding_mode("circular")
    assert not supports_fast_pass(encoder)
    assert not supports_fast_pass(torch.nn.Conv2d(3, 3, 3))
    with pytest.raises(ConfigError, match="zero padding"):
        FastVGG(encoder, dtype=torch.float32)
