"""Scoring a stylised image: its Gatys losses against the content and style images, LPIPS and SSIM to the content.

The losses use the default layers and weights of :class:`~painterly.config.GatysConfig` on one fp32 VGG16, so scores
of images made with any options, method or precision are on one scale. LPIPS (lower: closer) and SSIM (1: identical)
say how much of the content's structure the image kept.

>>> scorer = ImageScorer()  # doctest: +SKIP
>>> scorer.score(result, content, [style]).to_dict()  # doctest: +SKIP
{'content': 12.3, 'style': 4.56, 'lpips': 0.41, 'ssim': 0.38}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from skimage.metrics import structural_similarity

from .config import GatysConfig
from .devices import resolve_device
from .encoders.vgg import VGGEncoder
from .errors import ConfigError
from .image.io import resize_to
from .losses import ContentLoss, StyleLoss, TotalVariationLoss
from .metrics import LPIPS, LPIPS_LAYERS

__all__ = ["MIN_SIDE", "ImageScore", "ImageScorer"]

MIN_SIDE = 16
"""Smallest image side scored: VGG16 halves the image four times before relu5_1 (and SSIM's window is 7 px)."""
_RANGE_TOLERANCE = 1e-5
_Module = TypeVar("_Module", bound=torch.nn.Module)


@dataclass(frozen=True)
class ImageScore:
    """How a stylised image compares with its content and style images (see :class:`ImageScorer`)."""

    content: float
    """Content weight x content loss against the content image (0: the content's features exactly)."""
    style: float | None
    """Effective style weight x style loss against the style image(s); ``None`` when scored without styles."""
    lpips: float
    """LPIPS distance to the content image (0: identical; larger: perceptually further)."""
    ssim: float
    """Structural similarity to the content image on RGB in [0, 1] (1: identical)."""

    def to_dict(self) -> dict[str, float | None]:
        """``{"content", "style", "lpips", "ssim"}`` (JSON-ready; ``style`` is ``None`` without styles)."""
        return dataclasses.asdict(self)


class ImageScorer:
    """Scores stylised images; builds its fp32 evaluator once, so reuse one scorer for many images.

    ``encoder``: a VGG encoder computing the default Gatys layers (relu4_2 and relu1_1 ... relu5_1); default: VGG16
    with its ImageNet weights, which also serves LPIPS. ``lpips``: the LPIPS metric; default: built on first use of
    :meth:`score` (the real LPIPS VGG16 heads; on the default encoder, or on its own VGG16 when ``encoder`` is
    given). Both are put in fp32 on ``device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``).

    Images are ``(1, 3, H, W)`` float tensors with values in [0, 1] and sides of at least :data:`MIN_SIDE` pixels,
    on any device. When the content image's size differs from the image's, the content is resized to the image's
    size (:func:`~painterly.image.io.resize_to`: bicubic, antialiased when shrinking) before anything is compared.
    Style images may have any size. Bad input raises :class:`~painterly.errors.ConfigError`.

    >>> scorer = ImageScorer(device="cpu")  # doctest: +SKIP
    >>> scorer.losses(result, content, [style])  # doctest: +SKIP
    {'content': 12.3, 'style': 4.56, 'total': 17.1}
    """

    def __init__(self, *, encoder: VGGEncoder | None = None, lpips: LPIPS | None = None, device: str = "auto") -> None:
        self.config = GatysConfig()
        """The layers and weights scored with: GatysConfig's defaults."""
        self.device = resolve_device(device)
        layers = [*self.config.content_layers, *self.config.style_layers]
        self._shares_encoder = encoder is None
        if encoder is None:
            from .encoders.vgg import vgg16  # looked up at call time, as the other methods do (tests replace it)

            encoder = vgg16(layers=list(dict.fromkeys([*layers, *LPIPS_LAYERS])))
        elif not isinstance(encoder, VGGEncoder):
            raise ConfigError(f"encoder must be a VGGEncoder or None, not {type(encoder).__name__}")
        missing = [layer for layer in layers if layer not in encoder.layers]
        if missing:
            raise ConfigError(
                f"the scoring encoder must compute the default Gatys layers; missing {', '.join(missing)}"
            )
        if lpips is not None and not isinstance(lpips, LPIPS):
            raise ConfigError(f"lpips must be an LPIPS metric or None, not {type(lpips).__name__}")
        self.encoder = _fp32_eval(encoder, self.device)
        self._lpips = None if lpips is None else _fp32_eval(lpips, self.device)

    @property
    def lpips(self) -> LPIPS:
        """The LPIPS metric (built on first use unless one was given)."""
        if self._lpips is None:
            metric = LPIPS(encoder=self.encoder) if self._shares_encoder else LPIPS()
            self._lpips = _fp32_eval(metric, self.device)
        return self._lpips

    def losses(
        self, image: torch.Tensor, content: torch.Tensor, styles: Sequence[torch.Tensor] = ()
    ) -> dict[str, float]:
        """Weighted losses of ``image``: ``{"content", "style", "total"}``; only ``{"content"}`` without styles.

        ``content`` = content weight x content loss; ``style`` = effective style weight x style loss against the
        styles blended with equal weights; ``total`` = those two + tv weight x total variation of ``image``
        (GatysConfig's default layers and weights, fp32). The content image is resized to the image's size if needed.
        """
        image, content, style_images = self._prepare(image, content, styles)
        return self._losses(image, content, style_images)

    def score(self, image: torch.Tensor, content: torch.Tensor, styles: Sequence[torch.Tensor] = ()) -> ImageScore:
        """The weighted content and style losses of :meth:`losses`, plus LPIPS and SSIM of ``image`` against
        ``content`` (resized to the image's size if needed). ``style`` is ``None`` without styles."""
        image, content, style_images = self._prepare(image, content, styles)
        losses = self._losses(image, content, style_images)
        metric = self.lpips
        with torch.no_grad():
            lpips = float(metric(image, content)[0])
        return ImageScore(content=losses["content"], style=losses.get("style"), lpips=lpips, ssim=_ssim(image, content))

    def _prepare(self, image: Any, content: Any, styles: Any) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        if isinstance(styles, torch.Tensor) or not isinstance(styles, Sequence):
            kind = "a tensor" if isinstance(styles, torch.Tensor) else type(styles).__name__
            raise ConfigError(f"styles must be a sequence of (1, 3, H, W) tensors (a list), not {kind}")
        checked = _checked(image, "image", self.device)
        height, width = int(checked.shape[-2]), int(checked.shape[-1])
        target = resize_to(_checked(content, "content image", self.device), (height, width))
        style_images = [_checked(style, f"style image {index}", self.device) for index, style in enumerate(styles, 1)]
        return checked, target, style_images

    def _losses(self, image: torch.Tensor, content: torch.Tensor, styles: Sequence[torch.Tensor]) -> dict[str, float]:
        config = self.config
        content_loss = ContentLoss(config.content_layers)
        with torch.no_grad():
            content_loss.set_target(self.encoder(content))
            features = self.encoder(image)
            c = float(sum(content_loss(features).values()))
            result = {"content": config.content_weight * c}
            if not styles:
                return result
            style_loss = StyleLoss(config.style_layers)
            grams = []
            for style in styles:  # one style's features at a time; the Gram matrices are all the loss keeps
                style_features = self.encoder(style)
                grams.append(
                    {layer: StyleLoss.grams_of_unmasked(style_features[layer]) for layer in config.style_layers}
                )
            style_loss.set_target_grams(grams)  # several styles: blended with equal weights
            s = float(sum(style_loss(features).values()))
            tv = float(TotalVariationLoss()(image))
        style_weight = config.effective_style_weight
        result["style"] = style_weight * s
        result["total"] = config.content_weight * c + style_weight * s + config.tv_weight * tv
        return result


def _fp32_eval(module: _Module, device: torch.device) -> _Module:
    """The module itself, in fp32 evaluation mode on ``device``, without gradients."""
    module.float().eval().to(device)
    module.requires_grad_(False)
    return module


def _checked(tensor: Any, name: str, device: torch.device) -> torch.Tensor:
    """``tensor`` as a detached fp32 (1, 3, H, W) tensor on ``device``; ConfigError saying what is wrong if not."""
    if not isinstance(tensor, torch.Tensor):
        raise ConfigError(f"{name} must be a (1, 3, H, W) torch.Tensor, not {type(tensor).__name__}")
    shape = tuple(tensor.shape)
    if tensor.ndim != 4 or shape[0] != 1 or shape[1] != 3:
        hint = "; score each image of a batch separately" if tensor.ndim == 4 and shape[0] > 1 else ""
        raise ConfigError(f"{name} must be (1, 3, H, W) (one RGB image), got shape {shape}{hint}")
    if not tensor.dtype.is_floating_point:
        raise ConfigError(f"{name} must be a float tensor with values in [0, 1], got {tensor.dtype}")
    if min(shape[2], shape[3]) < MIN_SIDE:
        raise ConfigError(f"{name} is {shape[3]}x{shape[2]} pixels; scoring needs at least {MIN_SIDE} on each side")
    values = tensor.detach().to(device=device, dtype=torch.float32)
    if not bool(torch.isfinite(values).all()):
        raise ConfigError(f"{name} contains NaN or infinite values")
    low, high = float(values.min()), float(values.max())
    if low < -_RANGE_TOLERANCE or high > 1.0 + _RANGE_TOLERANCE:
        raise ConfigError(f"{name} values must be in [0, 1], got {low:.4g} to {high:.4g} (divide 0-255 data by 255)")
    return values


def _ssim(image: torch.Tensor, content: torch.Tensor) -> float:
    """SSIM of two (1, 3, H, W) images on RGB, data range 1 (scikit-image, its default 7x7 window)."""
    first = image[0].permute(1, 2, 0).double().cpu().numpy()
    second = content[0].permute(1, 2, 0).double().cpu().numpy()
    return float(structural_similarity(first, second, channel_axis=2, data_range=1.0))  # type: ignore[no-untyped-call]
