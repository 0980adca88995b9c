"""Style augmentation as a transform for PyTorch data pipelines (Jackson et al. 2019; Geirhos et al. 2019).

Each image is, with probability ``p``, given a new style by painterly's one-pass AdaIN method: its ``relu4_1``
channel statistics ``z = [mean, log std]`` are moved towards a style's by a strength drawn from ``strength``
(``z = (1 - s) z_image + s z_style``) and the decoder renders the result. The style is drawn from a Gaussian over
paintings' statistics (:class:`~painterly.augment.distribution.StyleDistribution`, the default: fitted to painterly's
ten paintings, shipped) or is a real painting picked at random from ``styles`` (Stylized-ImageNet's recipe: one
random painting per image at strength 1).

Two forms:

* :class:`StyleAugment`, per sample, for a ``Dataset``: works like a ``torchvision.transforms.v2`` transform on
  a PIL image, a (C, H, W) tensor (uint8 or float) or a ``tv_tensors.Image``, alone or inside a tuple/list/dict with
  boxes, masks and labels, which pass through untouched (torchvision's rule: tv_tensors.Image and PIL images are
  images; a plain tensor only where neither is present, the first one). torchvision is not needed.
* :class:`StyleAugmentBatch`, on a collated (B, C, H, W) batch: one encoder and one decoder pass for the batch
  (faster), the same draws as :class:`StyleAugment` with the same seed, sample by sample.

Seeded (``seed=``) runs repeat exactly; inside ``DataLoader`` workers each worker's stream is seeded with
``seed + worker id`` so workers do not repeat each other. Without a seed each call draws from torch's global
generator, which the ``DataLoader`` already seeds per worker. The networks load on first use, so the transform
pickles cheaply to workers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ..image.io import resize_long_side
from ..ops import mean_std, pad_to_multiple, renormalise
from .distribution import EPS, StyleDistribution, join_statistics, split_statistics

STYLE_LONG_SIDE = 512
"""Real paintings (``styles=``) are measured at this long side."""


@dataclass(frozen=True)
class Draw:
    """What happens to one sample: whether it is stylised, how strongly, with which style."""

    apply: bool
    strength: float
    style: int
    """Index into the real paintings, or -1 for a style sampled from the distribution."""
    sampled: Tensor | None
    """(2C,) the sampled style's ``[mean, log std]``."""


class StyleAugmenter:
    """The shared machinery: draws, networks and the batch transfer. Use :class:`StyleAugment` or
    :class:`StyleAugmentBatch`."""

    def __init__(
        self,
        *,
        p: float = 0.5,
        strength: float | tuple[float, float] = (0.5, 1.0),
        distribution: StyleDistribution | str | os.PathLike[str] | None = None,
        styles: Sequence[Tensor] | str | os.PathLike[str] | None = None,
        temperature: float = 1.0,
        seed: int | None = None,
        device: str = "cpu",
        precision: str = "auto",
        max_side: int | None = None,
    ) -> None:
        low, high = (strength, strength) if isinstance(strength, int | float) else strength
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"p must be within 0..1, got {p}")
        if not 0.0 <= low <= high <= 1.0:
            raise ConfigError(f"strength must be a value or a (low, high) range within 0..1, got {strength}")
        if not temperature >= 0.0:
            raise ConfigError(f"temperature must be at least 0, got {temperature}")
        if distribution is not None and styles is not None:
            raise ConfigError("give a style distribution or real paintings (styles), not both")
        if max_side is not None and max_side < 16:
            raise ConfigError(f"max_side must be at least 16, got {max_side}")
        self.p, self.strength, self.temperature = p, (float(low), float(high)), temperature
        self.seed, self.device, self.precision, self.max_side = seed, device, precision, max_side
        self._distribution_source = distribution
        self._styles_source = styles
        self.paintings = _paintings(styles) if styles is not None else []
        self.distribution: StyleDistribution | None = None
        if styles is None:
            self.distribution = _distribution(distribution)
        self._generator: torch.Generator | None = None
        self._generator_owner: tuple[int, int] | None = None
        self._stylizer: Any = None
        self._painting_statistics: list[Tensor] = []

    # -- draws --------------------------------------------------------------------------------------------------
    def generator(self) -> torch.Generator:
        """The seeded stream, or a fresh one seeded from torch's global generator.

        In a DataLoader worker the stream is seeded anew in each worker process (a forked copy of a used stream
        would repeat its parent's) from ``seed`` and the worker's own seed, which the DataLoader derives from torch's
        global seed per epoch: workers differ, epochs differ, and ``torch.manual_seed`` repeats the whole run."""
        if self.seed is None:
            return torch.Generator().manual_seed(int(torch.randint(2**62, (1,))))
        info = torch.utils.data.get_worker_info()
        owner = (os.getpid(), info.seed if info is not None else -1)
        if self._generator is None or self._generator_owner != owner:
            mixed = self.seed if info is None else (self.seed * 1_000_003 + info.seed) % 2**63
            self._generator, self._generator_owner = torch.Generator().manual_seed(mixed), owner
        return self._generator

    def draw(self, generator: torch.Generator) -> Draw:
        """One sample's draw; always the same numbers consumed, whether or not it is applied."""
        apply = bool(torch.rand((), generator=generator) < self.p)
        low, high = self.strength
        strength = low + float(torch.rand((), generator=generator)) * (high - low)
        if self.distribution is not None:
            means, deviations = self.distribution.sample(1, generator, temperature=self.temperature)
            return Draw(apply, strength, -1, join_statistics(means, deviations)[0])
        return Draw(apply, strength, int(torch.randint(len(self.paintings), (1,), generator=generator)), None)

    # -- networks -----------------------------------------------------------------------------------------------
    @property
    def stylizer(self) -> Any:
        if self._stylizer is None:
            from ..decoder_model import load_shipped_decoder
            from ..methods.arbitrary import ArbitraryStylizer

            self._stylizer = ArbitraryStylizer(
                load_shipped_decoder(), device=self.device, precision=self.precision, cache_size=0
            )
        return self._stylizer

    def use_stylizer(self, stylizer: Any) -> None:
        """Use this :class:`~painterly.methods.arbitrary.ArbitraryStylizer` (e.g. shared, or a test's tiny one)."""
        self._stylizer = stylizer
        self._painting_statistics = []

    def _target(self, draw: Draw) -> Tensor:
        if draw.sampled is not None:
            return draw.sampled
        if not self._painting_statistics:
            self._painting_statistics = [
                join_statistics(*mean_std(self._encode(painting), EPS))[0] for painting in self.paintings
            ]
        return self._painting_statistics[draw.style]

    def _encode(self, images: Tensor) -> Tensor:
        features: Tensor = self.stylizer.encode_batch(images)
        return features

    # -- the transfer -------------------------------------------------------------------------------------------
    def transfer(self, images: Tensor, draws: Sequence[Draw]) -> Tensor:
        """``images`` (B, 3, H, W) float in [0, 1] → the same, each sample stylised as its draw says."""
        chosen = [index for index, draw in enumerate(draws) if draw.apply]
        if not chosen:
            return images
        batch = images[chosen]
        height, width = int(batch.shape[-2]), int(batch.shape[-1])
        scaled = self.max_side is not None and max(height, width) > self.max_side
        if scaled:
            assert self.max_side is not None
            batch = resize_long_side(batch, self.max_side)
        with torch.no_grad():
            features = self._encode(pad_to_multiple(batch, 8))
            own = mean_std(features, EPS)
            z_own = join_statistics(*own)
            strengths = torch.tensor([draws[index].strength for index in chosen])[:, None]
            targets = torch.stack([self._target(draws[index]) for index in chosen])
            means, deviations = split_statistics((1 - strengths) * z_own + strengths * targets)
            moved = renormalise(features, own, (means, deviations))
            decoded = self.stylizer.decode_batch(moved).clamp(0, 1)
        decoded = decoded[..., : batch.shape[-2], : batch.shape[-1]]
        if scaled:
            decoded = torch.nn.functional.interpolate(decoded, size=(height, width), mode="bilinear", antialias=False)
        result = images.clone()
        result[chosen] = decoded.to(result.dtype).clamp(0, 1)
        return result

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_stylizer"], state["_painting_statistics"], state["_generator"] = None, [], None
        return state


class StyleAugment(nn.Module):
    """Per-sample style augmentation, torchvision-v2 style (see the module's description)."""

    def __init__(self, **options: Any) -> None:
        super().__init__()
        self.augmenter = StyleAugmenter(**options)

    def forward(self, *inputs: Any) -> Any:
        sample = inputs if len(inputs) > 1 else inputs[0]
        leaves: list[Any] = []
        _flatten(sample, leaves)
        images = _image_positions(leaves)
        if not images:
            return sample
        generator = self.augmenter.generator()
        replaced = {index: self._one(leaves[index], self.augmenter.draw(generator)) for index in images}
        position = iter(range(len(leaves)))
        return _rebuild(sample, lambda leaf: replaced.get(next(position), leaf))

    def _one(self, leaf: Any, draw: Draw) -> Any:
        if not draw.apply:
            return leaf
        tensor, restore = _as_float_batch(leaf)
        return restore(self.augmenter.transfer(tensor, [draw]))


class StyleAugmentBatch(nn.Module):
    """Style augmentation of a collated batch (B, C, H, W), uint8 or float, C = 1 or 3: one pass of the networks."""

    def __init__(self, **options: Any) -> None:
        super().__init__()
        self.augmenter = StyleAugmenter(**options)

    def forward(self, images: Tensor) -> Tensor:
        if images.dim() != 4 or images.shape[1] not in (1, 3):
            raise ConfigError(f"expected a batch (B, 1 or 3, H, W), got {tuple(images.shape)}")
        generator = self.augmenter.generator()
        draws = [self.augmenter.draw(generator) for _ in range(images.shape[0])]
        floats, restore = _as_float_batch(images, batched=True)
        result: Tensor = restore(self.augmenter.transfer(floats, draws))
        untouched = [index for index, draw in enumerate(draws) if not draw.apply]
        result[untouched] = images[untouched]  # exactly as they came, whatever the dtype
        return result


# -- structures and types ---------------------------------------------------------------------------------------


def _flatten(sample: Any, leaves: list[Any]) -> None:
    if isinstance(sample, tuple | list):
        for item in sample:
            _flatten(item, leaves)
    elif isinstance(sample, dict):
        for item in sample.values():
            _flatten(item, leaves)
    else:
        leaves.append(sample)


def _rebuild(sample: Any, replace: Any) -> Any:
    if isinstance(sample, tuple) and hasattr(sample, "_fields"):  # a namedtuple
        return type(sample)(*(_rebuild(item, replace) for item in sample))
    if isinstance(sample, tuple | list):
        return type(sample)(_rebuild(item, replace) for item in sample)
    if isinstance(sample, dict):
        return type(sample)((key, _rebuild(item, replace)) for key, item in sample.items())
    return replace(sample)


def _is_pil(leaf: Any) -> bool:
    return type(leaf).__module__.startswith("PIL.") and hasattr(leaf, "convert")


def _image_positions(leaves: Sequence[Any]) -> list[int]:
    """torchvision v2's rule: tv_tensors.Image and PIL images are images; a plain tensor only where there is
    neither, and then only the first."""
    marked = [
        index
        for index, leaf in enumerate(leaves)
        if _is_pil(leaf) or (isinstance(leaf, Tensor) and type(leaf).__name__ == "Image")
    ]
    if marked or any(isinstance(leaf, Tensor) and type(leaf).__name__ == "Video" for leaf in leaves):
        return marked
    plain = [index for index, leaf in enumerate(leaves) if type(leaf) is Tensor and leaf.dim() >= 3]
    return plain[:1]


def _as_float_batch(leaf: Any, *, batched: bool = False) -> tuple[Tensor, Callable[[Tensor], Any]]:
    """(B, 3, H, W) float in [0, 1] and a function that turns a result back into the leaf's type."""
    if _is_pil(leaf):
        return _pil_to_batch(leaf)
    if not isinstance(leaf, Tensor):
        raise ConfigError(f"cannot stylise a {type(leaf).__name__}")
    tensor = leaf.as_subclass(Tensor)
    if not batched:
        if tensor.dim() != 3:
            raise ConfigError(f"expected an image (C, H, W), got {tuple(tensor.shape)}")
        tensor = tensor[None]
    channels = tensor.shape[1]
    if channels not in (1, 3):
        raise ConfigError(f"expected 1 or 3 channels, got {channels}")
    integer = not tensor.is_floating_point()
    scale = float(torch.iinfo(tensor.dtype).max) if integer and tensor.dtype != torch.bool else 1.0
    floats = tensor.float() / scale if integer else tensor.float()
    if channels == 1:
        floats = floats.expand(-1, 3, -1, -1)
    kind, dtype = type(leaf), leaf.dtype

    def restore(result: Tensor) -> Any:
        if channels == 1:
            result = (0.299 * result[:, 0:1] + 0.587 * result[:, 1:2] + 0.114 * result[:, 2:3]).clamp(0, 1)
        result = (result * scale).round().to(dtype) if integer else result.to(dtype)
        result = result if batched else result[0]
        return result if kind is Tensor else result.as_subclass(kind)

    return floats, restore


PIL_MODES = ("RGB", "RGBA", "L", "LA", "P", "PA", "CMYK", "YCbCr")
"""8-bit PIL modes: a palette image comes back as RGB(A), the others in their own mode, alpha kept."""


def _pil_to_batch(picture: Any) -> tuple[Tensor, Callable[[Tensor], Any]]:
    import numpy as np
    from PIL import Image

    mode = picture.mode
    if mode not in PIL_MODES:
        raise ConfigError(f"cannot stylise a PIL image in mode {mode} (16-bit or float): convert it to RGB first")
    alpha = picture.getchannel("A") if "A" in picture.getbands() or "transparency" in picture.info else None
    if mode in ("P", "PA") and alpha is None and "transparency" in picture.info:
        alpha = picture.convert("RGBA").getchannel("A")
    rgb = np.asarray(picture.convert("RGB"), dtype=np.float32) / 255.0
    tensor = torch.from_numpy(rgb).permute(2, 0, 1)[None].contiguous()

    def restore(result: Tensor) -> Any:
        array = (result[0].permute(1, 2, 0).clamp(0, 1) * 255.0).round().byte().numpy()
        out = Image.fromarray(array, mode="RGB")
        if mode in ("L", "LA"):
            out = out.convert("L")
        elif mode in ("CMYK", "YCbCr"):
            out = out.convert(mode)
        if alpha is not None:
            out.putalpha(alpha)
        return out

    return tensor, restore


def _paintings(styles: Sequence[Tensor] | str | os.PathLike[str]) -> list[Tensor]:
    if isinstance(styles, str | os.PathLike):
        from ..image.io import load_image
        from ..training.data import image_files

        styles = [load_image(path, max_pixels=None) for path in image_files(styles)]
    if not styles:
        raise ConfigError("styles must hold at least one painting")
    return [resize_long_side(style.float(), STYLE_LONG_SIDE) for style in styles]


def _distribution(source: StyleDistribution | str | os.PathLike[str] | None) -> StyleDistribution:
    from .distribution import load_style_distribution

    if isinstance(source, StyleDistribution):
        return source
    if source is None:
        from .shipped import shipped_distribution_path

        source = shipped_distribution_path()
    return load_style_distribution(Path(source))
