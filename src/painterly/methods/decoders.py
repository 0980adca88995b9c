"""Decoders that turn VGG16 features of one level back into an image: AdaIN's relu4_1 decoder and WCT's per-level
reconstruction decoders share one slim architecture, a mirror of VGG16 with a quarter of its widths.

>>> Decoder(DecoderSpec(level=2, in_channels=128))(torch.rand(1, 128, 8, 8)).shape
torch.Size([1, 3, 16, 16])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import Tensor, nn

from ..errors import ConfigError

LEVELS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
"""The VGG16 layers a decoder can start from, coarse levels last (level k is ``LEVELS[k - 1]``)."""
LEVEL_CHANNELS = {1: 64, 2: 128, 3: 256, 4: 512}
"""Channels of VGG16's relu{k}_1."""


def level_of(layer: str) -> int:
    """``"relu3_1"`` → 3."""
    if layer not in LEVELS:
        raise ConfigError(f"unknown decoder level '{layer}': choose one of {', '.join(LEVELS)}")
    return LEVELS.index(layer) + 1


def level_stride(level: int) -> int:
    """How much smaller than the image the features of ``level`` are (relu4_1: 8)."""
    return int(2 ** (level - 1))


@dataclass(frozen=True)
class DecoderSpec:
    """Shape of a decoder from relu{level}_1: ``width`` channels at full size, doubling per level up to ``4 * width``
    at 1/4 size (a slim mirror of VGG16, whose widths are 64/128/256), ``quarter_convs`` extra convolutions there
    (levels 3 and 4 only). Level 4 is AdaIN's decoder; files written before levels existed are level 4."""

    width: int = 32
    quarter_convs: int = 2
    in_channels: int = LEVEL_CHANNELS[4]
    """Channels of the encoder's features at ``level`` (512 for VGG16's relu4_1; tests use tiny encoders)."""
    level: int = 4

    def __post_init__(self) -> None:
        if not 1 <= self.in_channels <= 4096:
            raise ConfigError(f"decoder in_channels must be within 1..4096, got {self.in_channels}")
        if not 4 <= self.width <= 256:
            raise ConfigError(f"decoder width must be within 4..256, got {self.width}")
        if not 0 <= self.quarter_convs <= 8:
            raise ConfigError(f"decoder quarter_convs must be within 0..8, got {self.quarter_convs}")
        if self.level not in LEVEL_CHANNELS:
            raise ConfigError(f"decoder level must be 1, 2, 3 or 4, got {self.level}")

    @property
    def stride(self) -> int:
        return level_stride(self.level)

    @property
    def receptive_radius(self) -> int:
        """An upper bound on how far (in output pixels) a feature reaches: each 3x3 conv adds its level's stride,
        each nearest upsampling the stride of the level it leaves."""
        radius, stride = 0, self.stride
        for layer in layer_plan(self):
            if layer == "up":
                radius += stride
                stride //= 2
            elif layer != "relu":
                radius += stride
        return radius

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> DecoderSpec:
        known = {"width", "quarter_convs", "in_channels", "level"}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown decoder settings {sorted(unknown)}")
        if not all(isinstance(value, int) and not isinstance(value, bool) for value in data.values()):
            raise ConfigError(f"decoder settings must be whole numbers, got {data}")
        return cls(**{key: int(value) for key, value in data.items()})  # type: ignore[call-overload]


def _conv(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.ReflectionPad2d(1), nn.Conv2d(in_channels, out_channels, kernel_size=3)]


def layer_plan(spec: DecoderSpec) -> list[str]:
    """The decoder's layers in order: a number is a 3x3 conv to that many channels, then ``relu`` or ``up`` (x2)."""
    width, level = spec.width, spec.level
    plan: list[str] = []
    if level == 4:
        plan += [str(4 * width), "relu", "up"]
    if level >= 3:
        plan += [str(4 * width), "relu"] * (spec.quarter_convs + (level == 3))
        plan += [str(2 * width), "relu", "up"]
    if level >= 2:
        plan += [str(2 * width), "relu", str(width), "relu", "up"]
    return [*plan, str(width), "relu", "3"]


class Decoder(nn.Module):
    """Features (B, C, H/s, W/s) of relu{level}_1 → image (B, 3, H, W), s = 2^(level-1); reflection padding,
    nearest upsampling. The layer order of level 4 is the one AdaIN decoder files were written with."""

    def __init__(self, spec: DecoderSpec | None = None) -> None:
        super().__init__()
        self.spec = spec or DecoderSpec()
        layers: list[nn.Module] = []
        channels = self.spec.in_channels
        for item in layer_plan(self.spec):
            if item == "up":
                layers.append(nn.Upsample(scale_factor=2))
            elif item == "relu":
                layers.append(nn.ReLU(inplace=True))
            else:
                layers += _conv(channels, int(item))
                channels = int(item)
        self.body = nn.Sequential(*layers)

    def forward(self, features: Tensor) -> Tensor:
        return self.body(features)  # type: ignore[no-any-return]


def decoder_for_level(
    level: int, *, width: int = 32, quarter_convs: int = 2, in_channels: int | None = None
) -> Decoder:
    """A fresh decoder from relu{level}_1 of VGG16 (``in_channels`` overrides the VGG16 width, for tiny encoders)."""
    channels = in_channels if in_channels is not None else LEVEL_CHANNELS[level]
    spec = DecoderSpec(width, quarter_convs if level >= 3 else 0, channels, level)
    return Decoder(spec)


def parameters_of(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())
