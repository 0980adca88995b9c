"""Named multi-layer VGG encoders (VGG16, VGG19) that return the feature maps of the layers asked for.

The network is truncated after the deepest requested layer, takes images in [0, 1] and applies its own ImageNet
normalisation (callers never normalise). Layers are named the torchvision way: ``conv1_1``, ``relu1_1``, ``pool1``.

>>> encoder = vgg16(layers=["relu1_1", "relu2_1"], weights=None)
>>> sorted(encoder(torch.rand(1, 3, 32, 32)))
['relu1_1', 'relu2_1']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import torch
from torch import nn

from ..errors import ConfigError, WeightsError
from .layout import VGG_CONFIGS, layer_sequence_of

Pooling = Literal["max", "avg"]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGGEncoder(nn.Module):
    """A VGG feature extractor returning ``{layer_name: features}`` for the requested layers.

    ``config`` is a VGG channel layout (``VGG_CONFIGS[...]``); tests pass a narrow layout with the same shape to get
    a tiny random encoder with the real layer names.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        config: Sequence[int | str],
        layers: Sequence[str],
        *,
        pooling: Pooling = "max",
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        architecture: str = "custom",
    ) -> None:
        super().__init__()
        if pooling not in ("max", "avg"):
            raise ConfigError(f"unknown pooling '{pooling}': choose max or avg")
        self.architecture = architecture
        self.pooling = pooling
        sequence = layer_sequence_of(config)
        unknown = [layer for layer in layers if layer not in sequence]
        if unknown:
            valid = ", ".join(name for name in sequence if name.startswith("relu"))
            raise ConfigError(f"unknown {architecture} layer(s) {', '.join(unknown)}; valid relu layers: {valid}")
        if not layers:
            raise ConfigError("an encoder needs at least one layer")
        self.layers = tuple(dict.fromkeys(layers))
        deepest = max(sequence.index(layer) for layer in self.layers)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).reshape(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).reshape(1, 3, 1, 1))
        self.body = nn.Sequential()
        in_channels = 3
        channels = iter(item for item in config if item != "M")
        for name in sequence[: deepest + 1]:
            if name.startswith("conv"):
                out_channels = int(next(channels))
                self.body.add_module(name, nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))
                in_channels = out_channels
            elif name.startswith("relu"):
                # In place unless the conv output it would overwrite is itself requested: saves memory and time.
                self.body.add_module(name, nn.ReLU(inplace=name.replace("relu", "conv") not in self.layers))
            else:
                pool = nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2)
                self.body.add_module(name, pool)
        self.requires_grad_(False)
        self.eval()

    def set_padding_mode(self, mode: str) -> None:
        """``"zeros"`` (the trained behaviour) or ``"circular"`` (the image wraps around: seamless textures)."""
        if mode not in ("zeros", "circular"):
            raise ConfigError(f"unknown padding mode '{mode}': choose zeros or circular")
        padding: Literal["zeros", "circular"] = "zeros" if mode == "zeros" else "circular"
        for module in self.body.modules():
            if isinstance(module, nn.Conv2d):
                module.padding_mode = padding

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """``image`` (B, 3, H, W) in [0, 1] → features of every requested layer."""
        wanted = set(self.layers)
        outputs: dict[str, torch.Tensor] = {}
        x = (image - self.mean) / self.std
        for name, module in self.body.named_children():
            x = module(x)
            if name in wanted:
                outputs[name] = x
                if len(outputs) == len(wanted):
                    break
        return outputs

    def load_weights(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Load ``conv*.weight/bias`` tensors for the convs this truncated encoder has; extra entries are ignored."""
        own = {
            f"{name}.{kind}"
            for name, module in self.body.named_children()
            if isinstance(module, nn.Conv2d)
            for kind in ("weight", "bias")
        }
        missing = sorted(own - set(state_dict))
        if missing:
            raise WeightsError(f"{self.architecture} weights lack {', '.join(missing[:4])}")
        body_state = {key: state_dict[key] for key in own}
        try:
            self.body.load_state_dict(body_state, strict=False)
        except RuntimeError as error:
            first = str(error).strip().splitlines()[-1].strip()
            raise WeightsError(f"{self.architecture} weights do not fit the network: {first}") from error


def build_vgg(
    architecture: str,
    *,
    layers: Sequence[str],
    pooling: Pooling = "max",
    weights: str | Mapping[str, torch.Tensor] | None = "imagenet",
) -> VGGEncoder:
    """A VGG16/VGG19 encoder. ``weights="imagenet"`` loads the registry's weights (fetching them if needed),
    a mapping loads those tensors, ``None`` leaves the random initialisation (tests, training from scratch)."""
    if architecture not in VGG_CONFIGS:
        raise ConfigError(f"unknown encoder '{architecture}': choose one of {', '.join(VGG_CONFIGS)}")
    encoder = VGGEncoder(VGG_CONFIGS[architecture], layers, pooling=pooling, architecture=architecture)
    if weights is None:
        return encoder
    if isinstance(weights, str):
        if weights != "imagenet":
            raise ConfigError(f"unknown weights '{weights}' for {architecture}: use 'imagenet' or None")
        from .. import weights as weights_registry

        entry = weights_registry.get_entry(architecture)
        encoder.mean.copy_(torch.tensor(entry.mean).reshape(1, 3, 1, 1))
        encoder.std.copy_(torch.tensor(entry.std).reshape(1, 3, 1, 1))
        encoder.load_weights(weights_registry.load_state_dict(architecture))
    else:
        encoder.load_weights(weights)
    return encoder


def vgg16(
    *,
    layers: Sequence[str],
    pooling: Pooling = "max",
    weights: str | Mapping[str, torch.Tensor] | None = "imagenet",
) -> VGGEncoder:
    """VGG16 encoder (the default; its ImageNet weights are obtainable offline)."""
    return build_vgg("vgg16", layers=layers, pooling=pooling, weights=weights)


def vgg19(
    *,
    layers: Sequence[str],
    pooling: Pooling = "max",
    weights: str | Mapping[str, torch.Tensor] | None = "imagenet",
) -> VGGEncoder:
    """VGG19 encoder (the network of Gatys et al.; its weights need a download from the torchvision site)."""
    return build_vgg("vgg19", layers=layers, pooling=pooling, weights=weights)
