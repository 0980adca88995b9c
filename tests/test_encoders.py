"""VGG encoders: names, truncation, pooling, weight loading, forward/backward on 32x32."""

from __future__ import annotations

import pytest
import torch

from painterly.encoders import build_vgg, conv_names, layer_sequence
from painterly.errors import ConfigError, WeightsError


@pytest.mark.parametrize("architecture", ["vgg16", "vgg19"])
@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_forward_backward_and_truncation(architecture: str, pooling: str) -> None:
    encoder = build_vgg(architecture, layers=["relu1_1", "relu3_1"], pooling=pooling, weights=None)  # type: ignore[arg-type]
    names = [name for name, _ in encoder.body.named_children()]
    assert names[-1] == "relu3_1"  # truncated after the deepest layer
    assert ("pool2" in names) and isinstance(
        encoder.body.pool2, torch.nn.MaxPool2d if pooling == "max" else torch.nn.AvgPool2d
    )
    image = torch.rand(1, 3, 32, 32, requires_grad=True)
    features = encoder(image)
    assert features["relu1_1"].shape == (1, 64, 32, 32)
    assert features["relu3_1"].shape == (1, 256, 8, 8)
    sum(f.sum() for f in features.values()).backward()  # type: ignore[union-attr]
    assert image.grad is not None and torch.isfinite(image.grad).all()
    assert all(not p.requires_grad for p in encoder.parameters())


def test_layer_names_follow_torchvision() -> None:
    assert conv_names("vgg19")[-1] == "conv5_4"
    assert layer_sequence("vgg16")[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]


def test_unknown_layer_message_lists_valid_layers() -> None:
    with pytest.raises(ConfigError, match=r"unknown vgg16 layer\(s\) relu3_4; valid relu layers: relu1_1"):
        build_vgg("vgg16", layers=["relu3_4"], weights=None)
    with pytest.raises(ConfigError, match="unknown encoder 'resnet'"):
        build_vgg("resnet", layers=["relu1_1"], weights=None)


def test_load_weights_round_trip_and_missing() -> None:
    source = build_vgg("vgg16", layers=["relu2_1"], weights=None)
    state = {
        f"{name}.{kind}": tensor
        for name, module in source.body.named_children()
        if isinstance(module, torch.nn.Conv2d)
        for kind, tensor in module.state_dict().items()
    }
    target = build_vgg("vgg16", layers=["relu2_1"], weights=state)
    image = torch.rand(1, 3, 16, 16)
    torch.testing.assert_close(target(image)["relu2_1"], source(image)["relu2_1"])
    del state["conv2_1.bias"]
    with pytest.raises(WeightsError, match=r"lack conv2_1\.bias"):
        build_vgg("vgg16", layers=["relu2_1"], weights=state)


def test_normalisation_belongs_to_the_encoder() -> None:
    encoder = build_vgg("vgg16", layers=["conv1_1"], weights=None)
    conv = encoder.body.conv1_1
    image = torch.rand(1, 3, 8, 8)
    normalised = (image - encoder.mean) / encoder.std
    torch.testing.assert_close(encoder(image)["conv1_1"], conv(normalised))


def test_requested_conv_outputs_are_not_overwritten_by_inplace_relu() -> None:
    encoder = build_vgg("vgg16", layers=["conv1_1", "relu1_1", "relu2_1"], weights=None)
    features = encoder(torch.rand(1, 3, 16, 16))
    assert float(features["conv1_1"].min()) < 0  # a pre-activation, negatives intact
    torch.testing.assert_close(features["relu1_1"], features["conv1_1"].clamp_min(0))
    assert encoder.body.relu2_1.inplace and not encoder.body.relu1_1.inplace
