"""Haar wavelet pooling (WCT2, Yoo et al. 2019): VGG16 with each max pooling replaced by the orthonormal 2-D Haar
transform. The low band LL goes on through the encoder; the three high bands (LH, HL, HH) skip to the decoder, whose
unpooling is the exact inverse transform. Nothing is lost on the way down but what the convolutions discard, so a
decoder trained on it reconstructs photos nearly exactly: the base of the photorealistic mode.

>>> low, high = haar_pool(torch.rand(1, 2, 4, 6))
>>> low.shape, high.shape
(torch.Size([1, 2, 2, 3]), torch.Size([1, 6, 2, 3]))
>>> bool(torch.allclose(haar_unpool(low, high), haar_unpool(*haar_pool(haar_unpool(low, high))), atol=1e-6))
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError
from .vgg import VGGEncoder

FeatureTransform = Callable[[str, Tensor], Tensor]
"""Called with each relu{k}_1 level's name and features; returns the features the encoder continues with."""


def haar_filters(dtype: torch.dtype = torch.float32, device: torch.device | None = None) -> Tensor:
    """The four orthonormal 2x2 Haar filters LL, LH, HL, HH as (4, 1, 2, 2)."""
    low = torch.tensor([1.0, 1.0], dtype=torch.float64) / 2**0.5
    high = torch.tensor([-1.0, 1.0], dtype=torch.float64) / 2**0.5
    filters = [torch.outer(a, b) for a, b in ((low, low), (low, high), (high, low), (high, high))]
    return torch.stack(filters)[:, None].to(dtype=dtype, device=device)


def haar_pool(features: Tensor) -> tuple[Tensor, Tensor]:
    """(B, C, H, W) with even H and W → the low band (B, C, H/2, W/2) and the high bands (B, 3C, H/2, W/2), the
    three bands of each channel next to each other."""
    batch, channels, height, width = features.shape
    if height % 2 or width % 2:
        raise ConfigError(f"Haar pooling needs even sizes, got {height}x{width}")
    filters = haar_filters(features.dtype, features.device).repeat(channels, 1, 1, 1)
    bands = F.conv2d(features, filters, stride=2, groups=channels).view(batch, channels, 4, height // 2, width // 2)
    return bands[:, :, 0], bands[:, :, 1:].reshape(batch, 3 * channels, height // 2, width // 2)


def haar_unpool(low: Tensor, high: Tensor) -> Tensor:
    """The inverse of :func:`haar_pool`: the bands back to (B, C, 2h, 2w)."""
    batch, channels, height, width = low.shape
    if high.shape != (batch, 3 * channels, height, width):
        raise ConfigError(f"high bands of shape {tuple(high.shape)} do not fit a low band of shape {tuple(low.shape)}")
    bands = torch.cat([low[:, :, None], high.view(batch, channels, 3, height, width)], dim=2)
    filters = haar_filters(low.dtype, low.device).repeat(channels, 1, 1, 1)
    return F.conv_transpose2d(bands.reshape(batch, 4 * channels, height, width), filters, stride=2, groups=channels)


@dataclass
class WaveletFeatures:
    """What the wavelet encoder hands the decoder: the deepest features and the high bands of every pooling (in the
    encoder's order), plus each relu{k}_1 level's features as they were passed on (after any transform)."""

    bottleneck: Tensor
    skips: list[Tensor]
    levels: dict[str, Tensor] = field(default_factory=dict)
    pooled: list[Tensor] = field(default_factory=list)
    """The features that entered each pooling (what a decoder with feature skips concatenates after unpooling)."""


class HaarEncoder(nn.Module):
    """A VGG encoder (its convolutions and weights) run with Haar pooling, to its deepest requested layer."""

    def __init__(self, encoder: VGGEncoder) -> None:
        super().__init__()
        self.encoder = encoder
        names = [name for name, _ in encoder.body.named_children()]
        self.deepest = names[-1]
        if not self.deepest.startswith("relu"):
            raise ConfigError(f"the wavelet encoder must end at a relu layer, not {self.deepest}")
        self.levels = tuple(name for name in names if name.startswith("relu") and name.endswith("_1"))
        self.requires_grad_(False)
        self.eval()

    def channels(self) -> list[int]:
        """Output channels of every convolution, in order (the decoder mirrors them)."""
        return [module.out_channels for module in self.encoder.body if isinstance(module, nn.Conv2d)]

    def forward(self, image: Tensor, transform: FeatureTransform | None = None) -> WaveletFeatures:
        """``image`` (B, 3, H, W) in [0, 1], H and W multiples of 2^pools → features, skips and level features."""
        x = (image - self.encoder.mean) / self.encoder.std
        skips: list[Tensor] = []
        pooled: list[Tensor] = []
        levels: dict[str, Tensor] = {}
        for name, module in self.encoder.body.named_children():
            if name.startswith("pool"):
                pooled.append(x)
                x, high = haar_pool(x)
                skips.append(high)
                continue
            x = module(x)
            if name in self.levels:
                if transform is not None:
                    x = transform(name, x)
                levels[name] = x
        return WaveletFeatures(x, skips, levels, pooled)


@dataclass(frozen=True)
class PhotoDecoderSpec:
    """The encoder's convolution widths in order (VGG16 to relu4_1: 64, 64, 128, 128, 256, 256, 256, 512) and where
    its poolings are: the decoder mirrors them, full width, with Haar unpooling. With ``feature_skips`` the features
    that entered each pooling are concatenated after its unpooling (as WCT2's "cat5" does): flat regions, whose deep
    features say little, keep their colour."""

    channels: tuple[int, ...] = (64, 64, 128, 128, 256, 256, 256, 512)
    pools_after: tuple[int, ...] = (2, 4, 7)
    """A pooling follows the 2nd, 4th and 7th convolution."""
    feature_skips: bool = False

    def __post_init__(self) -> None:
        if not self.channels or not all(1 <= width <= 4096 for width in self.channels):
            raise ConfigError(f"photo decoder widths must be within 1..4096, got {self.channels}")
        if sorted(set(self.pools_after)) != list(self.pools_after) or not all(
            1 <= index < len(self.channels) for index in self.pools_after
        ):
            raise ConfigError(f"photo decoder poolings {self.pools_after} do not fit {len(self.channels)} convolutions")

    @property
    def stride(self) -> int:
        return int(2 ** len(self.pools_after))

    def as_dict(self) -> dict[str, Any]:
        return {
            "channels": list(self.channels),
            "pools_after": list(self.pools_after),
            "feature_skips": self.feature_skips,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> PhotoDecoderSpec:
        if not {"channels", "pools_after"} <= set(data) <= {"channels", "pools_after", "feature_skips"}:
            raise ConfigError(
                f"photo decoder settings must be channels, pools_after and feature_skips, got {sorted(data)}"
            )
        feature_skips = data.get("feature_skips", False)
        if not isinstance(feature_skips, bool):
            raise ConfigError(f"photo decoder feature_skips must be true or false, got {feature_skips!r}")
        lists = [data["channels"], data["pools_after"]]
        if not all(
            isinstance(items, list) and all(isinstance(value, int) and not isinstance(value, bool) for value in items)
            for items in lists
        ):
            raise ConfigError(f"photo decoder settings must be lists of whole numbers, got {data}")
        return cls(tuple(lists[0]), tuple(lists[1]), feature_skips)  # type: ignore[arg-type]

    @classmethod
    def of(cls, encoder: HaarEncoder, *, feature_skips: bool = True) -> PhotoDecoderSpec:
        channels = encoder.channels()
        pools, count = [], 0
        for name, module in encoder.encoder.body.named_children():
            count += isinstance(module, nn.Conv2d)
            if name.startswith("pool"):
                pools.append(count)
        return cls(tuple(channels), tuple(pools), feature_skips)


class PhotoDecoder(nn.Module):
    """Mirror of the wavelet encoder: each convolution inverted by one (reflection padding), each pooling by the
    inverse Haar transform with the encoder's high bands."""

    def __init__(self, spec: PhotoDecoderSpec | None = None) -> None:
        super().__init__()
        self.spec = spec or PhotoDecoderSpec()
        widths = (3, *self.spec.channels)
        self.convs = nn.ModuleList()
        for index in range(len(self.spec.channels), 0, -1):
            after_unpooling = index in self.spec.pools_after and self.spec.feature_skips
            in_channels = widths[index] * (2 if after_unpooling else 1)
            self.convs.append(nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(in_channels, widths[index - 1], 3)))

    def forward(self, bottleneck: Tensor, skips: list[Tensor], pooled: list[Tensor] | None = None) -> Tensor:
        """``bottleneck``, the high bands ``skips`` and (with feature skips) the ``pooled`` features, in the
        encoder's order (:class:`WaveletFeatures`) → the image."""
        if len(skips) != len(self.spec.pools_after):
            raise ConfigError(f"the decoder needs {len(self.spec.pools_after)} skips, got {len(skips)}")
        if self.spec.feature_skips and (pooled is None or len(pooled) != len(skips)):
            raise ConfigError("this decoder concatenates the pooled features: pass WaveletFeatures.pooled")
        pending, features = list(skips), list(pooled or [])
        x = bottleneck
        last = len(self.convs) - 1
        for position, conv in enumerate(self.convs):
            x = conv(x)
            if position < last:
                x = F.relu(x)
            conv_index = len(self.spec.channels) - position - 1  # convs before this point in the encoder
            if conv_index in self.spec.pools_after:
                x = haar_unpool(x, pending.pop())
                if self.spec.feature_skips:
                    x = torch.cat([x, features.pop().to(x.dtype)], dim=1)
        return x
