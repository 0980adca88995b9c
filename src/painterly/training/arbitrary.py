"""Training the AdaIN decoder (Huang & Belongie 2017) with painterly's training loop.

Each photo crop of a batch gets a style image: a crop of a painting (random scale, random colours), a crop of
another photo, or, for a share of the batch, the photo itself. AdaIN of a photo with itself is the identity, so
those samples teach the decoder to invert the encoder (reconstruction, as in WCT), which it learns much faster than
stylisation; a pixel loss on them sets the colours right early. The loss of the others is the paper's: content loss
against the AdaIN target at relu4_1, and mean/deviation style loss at relu1_1..relu4_1.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..devices import autocast
from ..encoders.vgg import VGGEncoder
from ..errors import ConfigError
from ..image.io import load_image, resize_long_side, resize_to
from ..methods.arbitrary import BOTTLENECK, STYLE_LAYERS, Bottleneck
from ..methods.decoders import Decoder, DecoderSpec
from ..methods.feedforward import parameter_count
from ..methods.model_files import load_decoder, save_decoder
from ..ops import adain, mean_std
from .data import CropSampler, jitter_colors, load_folder, load_preview
from .feedforward import PHOTO_MAX_SIDE, style_names_of, write_text
from .loop import TrainingOptions, TrainingProgress, TrainingResult, build_seeded, train_and_save

PAINTING_SCALES = (256, 384, 512)
"""Long sides the paintings are held at: crops then show brush strokes at several sizes."""


@dataclass(frozen=True)
class AdainLossWeights:
    """Loss settings of decoder training."""

    content_weight: float = 1.0
    style_weight: float = 10.0
    reconstruction_weight: float = 10.0
    """Pixel MSE on the samples styled by themselves."""
    self_style_share: float = 0.25
    """Share of the batch styled by its own photo (reconstruction)."""
    photo_style_share: float = 0.25
    """Share of the batch styled by another photo (more textures and colour schemes than the paintings)."""
    color_jitter: float = 0.5
    """Strength of the random colour changes of the painting styles (0: none)."""

    def __post_init__(self) -> None:
        if min(self.content_weight, self.style_weight, self.reconstruction_weight, self.color_jitter) < 0:
            raise ConfigError("loss weights and colour jitter must be >= 0")
        if not (
            self.self_style_share >= 0
            and self.photo_style_share >= 0
            and self.self_style_share + self.photo_style_share <= 1
        ):
            raise ConfigError("the self- and photo-style shares must be >= 0 and add up to at most 1")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def style_kinds(batch: int, weights: AdainLossWeights) -> list[str]:
    """Which kind of style each sample of a batch gets: ``self``, ``photo`` or ``painting`` (fixed shares)."""
    selves = round(batch * weights.self_style_share)
    photos = round(batch * weights.photo_style_share)
    return ["self"] * selves + ["photo"] * photos + ["painting"] * max(0, batch - selves - photos)


class AdainObjective:
    """The AdaIN loss of a :class:`Decoder` over photo crops, each with a painting, photo or its own style."""

    def __init__(
        self,
        decoder: Decoder,
        encoder: VGGEncoder,
        photos: CropSampler,
        paintings: CropSampler,
        *,
        weights: AdainLossWeights | None = None,
        painting_names: Sequence[str] = (),
        preview_photo: Tensor | None = None,
        preview_styles: Sequence[Tensor] = (),
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.weights = weights or AdainLossWeights()
        missing = set(STYLE_LAYERS) - set(encoder.layers)
        if missing:
            raise ConfigError(f"the encoder does not provide {', '.join(sorted(missing))}")
        self.model = decoder
        self.encoder = encoder
        self.photos = photos
        self.paintings = paintings
        self.dtype = dtype
        self.device = next(encoder.parameters()).device
        self.painting_names = list(painting_names)
        self.preview_photo = preview_photo
        self.preview_styles = list(preview_styles)

    def identity(self) -> dict[str, Any]:
        return {
            "decoder": self.model.spec.as_dict(),
            "losses": self.weights.as_dict(),
            "crop": self.photos.crop,
            "paintings": self.painting_names,
        }

    def parameter_groups(self) -> list[tuple[list[nn.Parameter], float]]:
        return [(list(self.model.parameters()), 1.0)]

    def losses(self, generator: torch.Generator, batch_size: int) -> dict[str, Tensor]:
        photos = self.photos.sample(batch_size, generator)
        kinds = style_kinds(batch_size, self.weights)
        other_photos = self.photos.sample(batch_size, generator)
        paintings = jitter_colors(
            self.paintings.sample(batch_size, generator), generator, strength=self.weights.color_jitter
        )
        styles = torch.stack(
            [
                photos[index] if kind == "self" else other_photos[index] if kind == "photo" else paintings[index]
                for index, kind in enumerate(kinds)
            ]
        )
        selves = torch.tensor([kind == "self" for kind in kinds])
        return self.losses_for(photos.to(self.device), styles.to(self.device), selves.to(self.device))

    def losses_for(self, photos: Tensor, styles: Tensor, selves: Tensor) -> dict[str, Tensor]:
        """Loss terms for ``photos`` styled with ``styles`` (both (B, 3, H, W)); ``selves`` (B,) marks the samples
        whose style is their own photo (they also get the pixel loss)."""
        batch = photos.shape[0]
        with autocast(self.device, self.dtype):
            with torch.no_grad():
                features = self.encoder(torch.cat([photos, styles]))
                style_features = {layer: features[layer][batch:].float() for layer in STYLE_LAYERS}
                target = adain(features[BOTTLENECK][:batch].float(), style_features[BOTTLENECK])
            output = self.model(target)
            output_features = self.encoder(output)
        content = self.weights.content_weight * F.mse_loss(output_features[BOTTLENECK].float(), target)
        terms: dict[str, Tensor] = {}
        style = photos.new_zeros(())
        for layer in STYLE_LAYERS:
            output_mean, output_std = mean_std(output_features[layer].float())
            style_mean, style_std = mean_std(style_features[layer])
            term = self.weights.style_weight * (F.mse_loss(output_mean, style_mean) + F.mse_loss(output_std, style_std))
            terms[f"style/{layer}"] = term.detach()
            style = style + term
        pixels = F.mse_loss(output.float()[selves], photos[selves]) if bool(selves.any()) else photos.new_zeros(())
        reconstruction = self.weights.reconstruction_weight * pixels
        total = content + style + reconstruction
        return {"total": total, "content": content, "style": style, "reconstruction": reconstruction, **terms}

    def preview(self) -> Tensor:
        """Top row: the preview photo, its reconstruction, and the style images; bottom row: the results."""
        from ..methods.arbitrary import ArbitraryOptions, ArbitraryStylizer

        if self.preview_photo is None:
            raise ConfigError("no preview photo was given")
        precision = "bf16" if self.dtype == torch.bfloat16 else "fp32"
        # copies: the stylizer changes its modules' memory format, which must not touch the trained ones
        stylizer = ArbitraryStylizer(
            copy.deepcopy(self.model), encoder=copy.deepcopy(self.encoder), device=str(self.device), precision=precision
        )
        photo = self.preview_photo
        reconstruction = stylizer.stylize(photo, [photo], options=ArbitraryOptions(alpha=0.0))
        top = [photo, reconstruction]
        bottom = [torch.ones_like(photo), torch.ones_like(photo)]
        for style in self.preview_styles:
            top.append(_fit(style, photo.shape[-2:]))
            bottom.append(stylizer.stylize(photo, [style]))
        return torch.cat([torch.cat(top, dim=-1), torch.cat(bottom, dim=-1)], dim=-2)


def _fit(image: Tensor, size: torch.Size) -> Tensor:
    """``image`` scaled to cover ``size`` and centre-cropped to it (a thumbnail of a style)."""
    height, width = int(size[0]), int(size[1])
    scale = max(height / image.shape[-2], width / image.shape[-1])
    scaled = resize_to(image, (max(height, round(image.shape[-2] * scale)), max(width, round(image.shape[-1] * scale))))
    top, left = (scaled.shape[-2] - height) // 2, (scaled.shape[-1] - width) // 2
    return scaled[..., top : top + height, left : left + width]


def painting_sampler(files: Sequence[Path], crop: int) -> CropSampler:
    """Crops of every painting at each of :data:`PAINTING_SCALES` (long side)."""
    images = []
    for file in files:
        painting = load_image(file, max_pixels=None)
        images += [resize_long_side(painting, max(scale, crop)) for scale in PAINTING_SCALES]
    return CropSampler(images, crop=crop)


MODEL_NAME = "decoder.safetensors"
MODEL_CARD_NAME = "MODEL_CARD.md"


def train_arbitrary(
    painting_files: Sequence[Path],
    photo_folder: Path,
    run_dir: Path,
    *,
    spec: DecoderSpec,
    options: TrainingOptions,
    weights: AdainLossWeights | None = None,
    crop: int = 128,
    held_out: Sequence[str] = (),
    preview_photo: Path | None = None,
    preview_styles: Sequence[Path] = (),
    initial_decoder: Path | None = None,
    device: str = "auto",
    precision: str = "auto",
    resume: bool = True,
    on_progress: Callable[[TrainingProgress], None] | None = None,
) -> tuple[TrainingResult, Path]:
    """Train a decoder on ``painting_files`` and the photos of ``photo_folder``; it lands in ``run_dir``.

    ``held_out`` only names the paintings kept out of training (for the model card); ``preview_styles`` are shown
    on the preview sheets (use held-out ones to watch generalisation). ``initial_decoder`` (a decoder file of the
    same shape) is the starting point of a new run, e.g. to fine-tune the shipped decoder; a resumed run ignores it.
    """
    from ..devices import resolve_device, resolve_precision
    from ..encoders.vgg import vgg16
    from .model_card import render_decoder_card

    weights = weights or AdainLossWeights()
    if not painting_files:
        raise ConfigError("no paintings to train on")
    names = style_names_of([str(path) for path in painting_files])
    torch_device = resolve_device(device)
    dtype = resolve_precision(precision, torch_device)
    photos = load_folder(photo_folder, crop=crop, max_side=PHOTO_MAX_SIDE)
    paintings = painting_sampler(painting_files, crop)
    encoder = vgg16(layers=list(STYLE_LAYERS)).to(torch_device)
    spec = dataclasses.replace(spec, in_channels=Bottleneck(encoder).channels())
    decoder = build_seeded(lambda: Decoder(spec), options.seed)
    if initial_decoder is not None:
        start, _ = load_decoder(initial_decoder)
        if start.spec != spec:
            raise ConfigError(f"{initial_decoder} has the shape {start.spec}, this run {spec}: they must match")
        decoder.load_state_dict(start.state_dict())
    decoder = decoder.to(torch_device)
    preview = load_preview(preview_photo, photo_folder)
    styles = [resize_long_side(load_image(path, max_pixels=None), 256) for path in preview_styles]
    objective = AdainObjective(
        decoder,
        encoder,
        photos,
        paintings,
        weights=weights,
        painting_names=[*names, *(f"held out: {name}" for name in held_out)],
        preview_photo=preview,
        preview_styles=styles,
        dtype=dtype,
    )

    def save(record: dict[str, Any]) -> Path:
        info = {
            "method": "AdaIN (Huang & Belongie 2017), VGG16 encoder to relu4_1",
            **record,
            "paintings": names,
            "held_out": list(held_out),
            "initialised_from": initial_decoder.name if initial_decoder is not None else None,
            "painting_scales": list(PAINTING_SCALES),
            "photos": f"{len(photos)} photos from {photo_folder.name}, random {crop}px crops and flips",
            "losses": weights.as_dict(),
            "precision": str(dtype).removeprefix("torch."),
        }
        model_path = save_decoder(decoder.cpu(), run_dir / MODEL_NAME, info=info)
        write_text(
            run_dir / MODEL_CARD_NAME, render_decoder_card(decoder.spec.as_dict(), parameter_count(decoder), info)
        )
        return model_path

    return train_and_save(objective, options, run_dir, save, resume=resume, on_progress=on_progress)
