"""Feed-forward style networks: Johnson et al. (2016) with conditional instance norm (Dumoulin et al., 2017).

One ``StyleNetwork`` holds ``styles`` rows of per-channel scale/shift parameters; a single style is the case
``styles == 1``. At inference a style is picked, or several are blended, by a weight vector per image:

>>> net = StyleNetwork(NetworkSpec(width=8, residual_blocks=1, styles=3))
>>> image = torch.rand(1, 3, 40, 56)
>>> net(image, style_weights(3, {0: 0.5, 2: 0.5})).shape
torch.Size([1, 3, 40, 56])

The network pads its input to a multiple of its stride (reflection) and crops the output back, so any size works.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError
from ..ops import pad_reflect

NORM_EPS = 1e-5


@dataclass(frozen=True)
class NetworkSpec:
    """Shape of a transformer network.

    ``width`` channels at full resolution, doubled at each of ``downsamplings`` stride-2 convolutions;
    ``residual_blocks`` at the lowest resolution; ``edge_kernel`` is the first and last convolution's size (Johnson
    uses 9); ``styles`` rows of conditional instance-norm parameters. ``input_skip`` adds the input image to the
    output (the network learns the change, not the picture): measured here, it keeps the content from the first
    hundred steps where the plain network needs thousands (see the README).
    """

    width: int = 32
    residual_blocks: int = 5
    downsamplings: int = 2
    edge_kernel: int = 9
    styles: int = 1
    input_skip: bool = False

    def __post_init__(self) -> None:
        if self.width < 1 or self.residual_blocks < 0 or self.downsamplings < 0 or self.styles < 1:
            raise ConfigError(f"invalid network shape {self}: sizes must be positive")
        if self.downsamplings > 4:
            raise ConfigError(f"at most 4 downsamplings (stride 16, the tile lattice), got {self.downsamplings}")
        if self.edge_kernel < 1 or self.edge_kernel % 2 == 0:
            raise ConfigError(f"edge_kernel must be an odd positive number, got {self.edge_kernel}")

    @property
    def stride(self) -> int:
        """Input sides are padded to a multiple of this."""
        return int(2**self.downsamplings)

    @property
    def receptive_radius(self) -> int:
        """Pixels of context each output pixel depends on through the convolutions, in input pixels (tiles need this
        plus one stride of halo, for the stride-2 sampling offsets)."""
        radius = 2 * (self.edge_kernel // 2)
        for level in range(self.downsamplings):
            radius += 2 * 2**level  # a stride-2 3x3 conv on the way down and a 3x3 conv on the way up
        radius += 2 * self.residual_blocks * self.stride  # two 3x3 convs per block at the lowest resolution
        return radius

    def as_dict(self) -> dict[str, int | bool]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, object]) -> NetworkSpec:
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(f"unknown network spec keys: {', '.join(unknown)}")
        checked: dict[str, int | bool] = {}
        for key, value in values.items():
            if key == "input_skip":
                if not isinstance(value, bool):
                    raise ConfigError(f"network spec 'input_skip' must be true or false, got {value!r}")
            elif not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"network spec '{key}' must be an integer, got {value!r}")
            checked[key] = value
        return cls(**checked)  # type: ignore[arg-type]


def style_weights(styles: int, weights: Mapping[int, float], batch: int = 1) -> Tensor:
    """A (batch, styles) weight matrix for ``weights`` {style index: weight}, normalised to sum 1.

    >>> style_weights(3, {0: 1.0, 2: 3.0})
    tensor([[0.2500, 0.0000, 0.7500]])
    """
    if not weights:
        raise ConfigError("choose at least one style")
    row = torch.zeros(styles)
    for index, weight in weights.items():
        if not 0 <= index < styles:
            raise ConfigError(f"style index {index} out of range: the network has {styles} styles")
        if weight < 0 or not torch.isfinite(torch.tensor(weight)):
            raise ConfigError(f"style weights must be finite and non-negative, got {weight}")
        row[index] += weight
    total = float(row.sum())
    if total <= 0:
        raise ConfigError("style weights must not all be zero")
    return (row / total).expand(batch, styles).clone()


class NormStatistics:
    """Instance-norm statistics recorded on one image and replayed on its tiles, so that tiles agree exactly."""

    def __init__(self) -> None:
        self.values: list[tuple[Tensor, Tensor]] = []
        self.recording = True
        self.cursor = 0

    def take(self, features: Tensor) -> tuple[Tensor, Tensor]:
        if self.recording:
            variance, mean = torch.var_mean(features, dim=(2, 3), keepdim=True, correction=0)
            self.values.append((mean, variance))
            return mean, variance
        if self.cursor >= len(self.values):
            raise RuntimeError("more normalisation layers than recorded statistics")
        mean, variance = self.values[self.cursor]
        self.cursor += 1
        return mean, variance

    def replay(self) -> None:
        self.recording = False
        self.cursor = 0


class ConditionalInstanceNorm(nn.Module):
    """Instance norm whose scale and shift are a weighted mix of per-style rows: ``(B, styles)`` weights in."""

    def __init__(self, channels: int, styles: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(styles, channels))
        self.shift = nn.Parameter(torch.zeros(styles, channels))
        self.statistics: NormStatistics | None = None
        self.portable = False  # plain ops only (for ONNX/TorchScript export); same numbers, slower

    def forward(self, features: Tensor, weights: Tensor) -> Tensor:
        batch, channels, height, width = features.shape
        scale = weights.to(self.scale.dtype) @ self.scale  # (B, C)
        shift = weights.to(self.shift.dtype) @ self.shift
        if self.statistics is None and not self.portable:
            # one fused pass: batch norm over (1, B*C, H, W) is instance norm with per-image affine parameters
            flat = features.reshape(1, batch * channels, height, width)
            normalised = F.batch_norm(
                flat,
                None,
                None,
                scale.flatten().to(features.dtype),
                shift.flatten().to(features.dtype),
                True,
                0.0,
                NORM_EPS,
            )
            return normalised.reshape(batch, channels, height, width)
        dtype = features.dtype
        features = features.float()
        if self.statistics is None:
            variance, mean = torch.var_mean(features, dim=(2, 3), keepdim=True, correction=0)
        else:
            mean, variance = self.statistics.take(features)
        factor = scale[:, :, None, None] * torch.rsqrt(variance + NORM_EPS)
        return (features * factor + (shift[:, :, None, None] - mean * factor)).to(dtype)


class _Conv(nn.Module):
    """Reflection padding then a convolution (stride 1 or 2), so borders carry no zero frame."""

    def __init__(self, channels_in: int, channels_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__()
        self.pad = kernel // 2
        self.conv = nn.Conv2d(channels_in, channels_out, kernel, stride=stride)

    def forward(self, features: Tensor) -> Tensor:
        if self.pad:
            features = F.pad(features, (self.pad,) * 4, mode="reflect")
        return self.conv(features)  # type: ignore[no-any-return]


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int, styles: int) -> None:
        super().__init__()
        self.conv1 = _Conv(channels, channels, 3)
        self.norm1 = ConditionalInstanceNorm(channels, styles)
        self.conv2 = _Conv(channels, channels, 3)
        self.norm2 = ConditionalInstanceNorm(channels, styles)

    def forward(self, features: Tensor, weights: Tensor) -> Tensor:
        hidden = F.relu(self.norm1(self.conv1(features), weights))
        output: Tensor = features + self.norm2(self.conv2(hidden), weights)
        return output


class StyleNetwork(nn.Module):
    """The transformer: conv → downsampling convs → residual blocks → upsample-then-conv → conv, CIN throughout."""

    def __init__(self, spec: NetworkSpec) -> None:
        super().__init__()
        self.spec = spec
        width = spec.width
        self.head = _Conv(3, width, spec.edge_kernel)
        self.head_norm = ConditionalInstanceNorm(width, spec.styles)
        self.down = nn.ModuleList()
        self.down_norms = nn.ModuleList()
        channels = width
        for _ in range(spec.downsamplings):
            self.down.append(_Conv(channels, channels * 2, 3, stride=2))
            self.down_norms.append(ConditionalInstanceNorm(channels * 2, spec.styles))
            channels *= 2
        self.blocks = nn.ModuleList(_ResidualBlock(channels, spec.styles) for _ in range(spec.residual_blocks))
        self.up = nn.ModuleList()
        self.up_norms = nn.ModuleList()
        for _ in range(spec.downsamplings):
            self.up.append(_Conv(channels, channels // 2, 3))
            self.up_norms.append(ConditionalInstanceNorm(channels // 2, spec.styles))
            channels //= 2
        self.tail = _Conv(channels, 3, spec.edge_kernel)
        if spec.input_skip:  # start as the identity: no huge first gradients (they would stall Adam for ~1000 steps)
            with torch.no_grad():
                for parameter in self.tail.conv.parameters():
                    parameter.zero_()

    def norms(self) -> list[ConditionalInstanceNorm]:
        return [module for module in self.modules() if isinstance(module, ConditionalInstanceNorm)]

    def forward(self, image: Tensor, weights: Tensor) -> Tensor:
        """``image`` (B, 3, H, W) in [0, 1], ``weights`` (B, styles) → stylised (B, 3, H, W), not clamped."""
        height, width = image.shape[-2:]
        stride = self.spec.stride
        # a multiple of the stride, at least 2x2 at the lowest resolution (instance norm needs > 1 value) and wider
        # than the edge convolutions' reflection padding
        smallest = max(2 * stride, -(-(self.spec.edge_kernel // 2 + 1) // stride) * stride)
        pad_bottom = max(height + (-height) % stride, smallest) - height
        pad_right = max(width + (-width) % stride, smallest) - width
        if pad_bottom or pad_right:
            image = pad_reflect(image, pad_bottom, pad_right)
        output = self.body(image, weights)
        return output[..., :height, :width]

    def body(self, image: Tensor, weights: Tensor) -> Tensor:
        """The layers, on an image whose sides are multiples of the stride (at least twice the stride)."""
        features = F.relu(self.head_norm(self.head(image), weights))
        for conv, norm in zip(self.down, self.down_norms, strict=True):
            features = F.relu(norm(conv(features), weights))
        for block in self.blocks:
            features = block(features, weights)
        for conv, norm in zip(self.up, self.up_norms, strict=True):
            features = F.interpolate(features, scale_factor=2.0, mode="nearest")
            features = F.relu(norm(conv(features), weights))
        output: Tensor = self.tail(features)
        return output + image if self.spec.input_skip else output

    @contextlib.contextmanager
    def shared_statistics(self, statistics: NormStatistics) -> Iterator[NormStatistics]:
        """Within this block every norm layer records (first pass) or replays (after ``replay()``) statistics."""
        norms = self.norms()
        for norm in norms:
            norm.statistics = statistics
        try:
            yield statistics
        finally:
            for norm in norms:
                norm.statistics = None


def parameter_count(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def blend_weights(names: Sequence[str], chosen: Mapping[str, float]) -> dict[int, float]:
    """Map {style name: weight} onto the network's style indices; unknown names raise a ConfigError."""
    index = {name: position for position, name in enumerate(names)}
    result: dict[int, float] = {}
    for name, weight in chosen.items():
        if name not in index:
            raise ConfigError(f"unknown style '{name}': this network has {', '.join(names)}")
        result[index[name]] = result.get(index[name], 0.0) + weight
    return result
