"""Layer layouts of the VGG networks: names in the torchvision style and where torchvision keeps each conv.

Kept apart from the modules so that weight conversion (``painterly.weights``) can use them without building a network.
"""

from __future__ import annotations

from collections.abc import Sequence

# Output channels per conv, "M" for a 2x2 pooling, as in Simonyan & Zisserman's configurations D and E.
VGG_CONFIGS: dict[str, tuple[int | str, ...]] = {
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "vgg19": (
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        512,
        "M",
    ),
}


def conv_names(architecture: str) -> list[str]:
    """Names of the convolutions in order: ``["conv1_1", "conv1_2", "conv2_1", ...]``."""
    names: list[str] = []
    block, index = 1, 1
    for item in VGG_CONFIGS[architecture]:
        if item == "M":
            block, index = block + 1, 1
        else:
            names.append(f"conv{block}_{index}")
            index += 1
    return names


def torchvision_conv_indices(architecture: str) -> list[int]:
    """Index of each conv inside torchvision's ``features`` Sequential (conv, ReLU pairs and pools)."""
    indices: list[int] = []
    position = 0
    for item in VGG_CONFIGS[architecture]:
        if item == "M":
            position += 1
        else:
            indices.append(position)
            position += 2
    return indices


def layer_sequence(architecture: str) -> list[str]:
    """Every named layer in forward order: ``conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, ...``."""
    return layer_sequence_of(VGG_CONFIGS[architecture])


def layer_sequence_of(config: Sequence[int | str]) -> list[str]:
    """Like :func:`layer_sequence` for any VGG-shaped channel layout (e.g. a narrow one in tests)."""
    names: list[str] = []
    block, index = 1, 1
    for item in config:
        if item == "M":
            names.append(f"pool{block}")
            block, index = block + 1, 1
        else:
            names.extend([f"conv{block}_{index}", f"relu{block}_{index}"])
            index += 1
    return names
