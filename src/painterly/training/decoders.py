"""Training reconstruction decoders (WCT, Li et al. 2017): one decoder per VGG16 level learns to turn the frozen
encoder's features back into the image, with pixel MSE plus feature MSE. No style enters the loss, so the decoders
serve any painting; the photos and painting crops only show them what images look like.

All levels train together: one encoder pass of the batch gives every level's features, and each decoder's output is
encoded again only as deep as its own level. The feature loss is relative (MSE over the mean square of the target
features): VGG16's levels differ in scale by orders of magnitude, so one weight serves all of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..devices import autocast
from ..encoders.vgg import VGGEncoder
from ..errors import ConfigError, WeightsError
from ..image.io import load_image, resize_long_side
from ..methods.decoders import LEVELS, Decoder, decoder_for_level, level_of, parameters_of
from .data import CropSampler, image_files, load_folder, load_preview
from .feedforward import PHOTO_MAX_SIDE, style_names_of, write_text
from .loop import TrainingOptions, TrainingProgress, TrainingResult, build_seeded, train_and_save

MODEL_NAME = "wct_decoders.safetensors"
MODEL_CARD_NAME = "MODEL_CARD.md"
EVALUATION_SIDE = 512
"""Long side of the held-out photos on which the reconstruction PSNR is measured."""


@dataclass(frozen=True)
class ReconstructionWeights:
    """Loss and data settings of reconstruction training."""

    pixel_weight: float = 1.0
    feature_weight: float = 0.05
    """Relative feature MSE at the decoder's own level."""
    painting_share: float = 0.25
    """Share of each batch cut from paintings rather than photos."""
    max_zoom_out: float = 2.0
    """Crops cover up to this many times the crop size, scaled down (random scales)."""
    transfer_weight: float = 0.0
    """Relative feature MSE on whitened-and-coloured features (each crop in the statistics of the next crop of the
    batch): the decoder learns to invert the features WCT hands it, not only natural ones. Still no style loss."""

    def __post_init__(self) -> None:
        if min(self.pixel_weight, self.feature_weight, self.transfer_weight) < 0:
            raise ConfigError("pixel, feature and transfer weights must be >= 0")
        if self.pixel_weight + self.feature_weight + self.transfer_weight == 0:
            raise ConfigError("pixel, feature and transfer weights cannot all be 0")
        if not 0 <= self.painting_share <= 1:
            raise ConfigError(f"the painting share must be within 0..1, got {self.painting_share}")
        if not 1 <= self.max_zoom_out <= 8:
            raise ConfigError(f"the zoom-out must be within 1..8, got {self.max_zoom_out}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def psnr(mse: float) -> float:
    """Peak signal-to-noise ratio in dB of an MSE on [0, 1] images."""
    return 10.0 * math.log10(1.0 / max(mse, 1e-12))


def training_batch(
    photos: CropSampler, paintings: CropSampler | None, batch_size: int, share: float, generator: torch.Generator
) -> Tensor:
    """``batch_size`` crops: ``round(share * batch_size)`` from the paintings (if any), the rest from the photos."""
    from_paintings = round(batch_size * share) if paintings is not None else 0
    parts = [photos.sample(batch_size - from_paintings, generator)]
    if paintings is not None and from_paintings:
        parts.append(paintings.sample(from_paintings, generator))
    return torch.cat(parts)


def transferred_features(features: Tensor) -> Tensor:
    """Each sample of (B, C, h, w) whitened and coloured with the statistics of the next sample (cyclically)."""
    from ..methods.whitening import apply_affine, feature_statistics, transform_matrix

    with torch.no_grad(), torch.autocast(features.device.type, enabled=False):
        statistics = [feature_statistics(features[index : index + 1].float()) for index in range(features.shape[0])]
        results = []
        for index, own in enumerate(statistics):
            style = statistics[(index + 1) % len(statistics)]
            matrix, offset = transform_matrix(own, style.colouring(), style.mean)
            results.append(apply_affine(features[index : index + 1].float(), matrix, offset))
        return torch.cat(results)


class LevelDecodersObjective:
    """Pixel + relative feature MSE of one decoder per level, trained together on one batch."""

    def __init__(
        self,
        decoders: Mapping[str, Decoder],
        encoder: VGGEncoder,
        photos: CropSampler,
        paintings: CropSampler | None,
        *,
        weights: ReconstructionWeights | None = None,
        painting_names: Sequence[str] = (),
        preview_photo: Tensor | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if not decoders:
            raise ConfigError("no decoder levels to train")
        missing = set(decoders) - set(encoder.layers)
        if missing:
            raise ConfigError(f"the encoder does not provide {', '.join(sorted(missing))}")
        self.weights = weights or ReconstructionWeights()
        self.levels = sorted(decoders, key=level_of)
        self.decoders = {layer: decoders[layer] for layer in self.levels}
        self.model = nn.ModuleDict(self.decoders)
        self.encoder = encoder
        self.photos, self.paintings = photos, paintings
        self.painting_names = list(painting_names)
        self.preview_photo = preview_photo
        self.dtype = dtype
        self.device = next(encoder.parameters()).device

    def identity(self) -> dict[str, Any]:
        return {
            "decoders": {layer: self.decoders[layer].spec.as_dict() for layer in self.levels},
            "losses": self.weights.as_dict(),
            "crop": self.photos.crop,
            "paintings": self.painting_names,
        }

    def parameter_groups(self) -> list[tuple[list[nn.Parameter], float]]:
        return [(list(self.model.parameters()), 1.0)]

    def losses(self, generator: torch.Generator, batch_size: int) -> dict[str, Tensor]:
        images = training_batch(self.photos, self.paintings, batch_size, self.weights.painting_share, generator)
        return self.losses_for(images.to(self.device))

    def losses_for(self, images: Tensor) -> dict[str, Tensor]:
        """Loss terms of every level on ``images`` (B, 3, H, W)."""
        terms: dict[str, Tensor] = {}
        total = images.new_zeros(())
        pixels_sum = images.new_zeros(())
        with autocast(self.device, self.dtype):
            with torch.no_grad():
                targets = {layer: features.float() for layer, features in self.encoder(images).items()}
            for layer in self.levels:
                output = self.decoders[layer](targets[layer])
                features = self.encode_to(output, layer).float()
                pixels = F.mse_loss(output.float(), images)
                relative = F.mse_loss(features, targets[layer]) / targets[layer].pow(2).mean().clamp_min(1e-8)
                level_total = self.weights.pixel_weight * pixels + self.weights.feature_weight * relative
                if self.weights.transfer_weight > 0:
                    transferred = transferred_features(targets[layer])
                    again = self.encode_to(self.decoders[layer](transferred), layer).float()
                    transfer = F.mse_loss(again, transferred) / transferred.pow(2).mean().clamp_min(1e-8)
                    level_total = level_total + self.weights.transfer_weight * transfer
                    terms[f"transfer/{layer}"] = transfer.detach()
                total = total + level_total
                pixels_sum = pixels_sum + pixels.detach()
                terms[f"pixel/{layer}"] = pixels.detach()
                terms[f"feature/{layer}"] = relative.detach()
        return {"total": total, "pixel": pixels_sum / len(self.levels), **terms}

    def encode_to(self, image: Tensor, layer: str) -> Tensor:
        """``image``'s features at ``layer``, running the encoder no deeper than that layer."""
        from ..methods.wct import LevelEncoder

        return LevelEncoder(self.encoder, layer)(image)  # type: ignore[no-any-return]

    def preview(self) -> Tensor:
        """The preview photo, then its reconstruction from each level, side by side."""
        if self.preview_photo is None:
            raise ConfigError("no preview photo was given")
        pictures = list(reconstructions(self, self.preview_photo).values())
        photo = self.preview_photo[..., : pictures[0].shape[-2], : pictures[0].shape[-1]]
        return torch.cat([photo, *pictures], dim=-1)


def reconstructions(objective: LevelDecodersObjective, photo: Tensor) -> dict[str, Tensor]:
    """Each level's reconstruction of ``photo`` (1, 3, H, W), cropped to a multiple of the deepest stride."""
    stride = 2 ** (max(level_of(layer) for layer in objective.levels) - 1)
    height, width = photo.shape[-2] // stride * stride, photo.shape[-1] // stride * stride
    photo = photo[..., :height, :width].to(objective.device)
    with torch.no_grad(), autocast(objective.device, objective.dtype):
        features = objective.encoder(photo)
        return {
            layer: objective.decoders[layer](features[layer].float()).float().clamp(0, 1).cpu()
            for layer in objective.levels
        }


def mean_psnr(
    model: nn.Module, folder: Path, reconstruct: Callable[[Tensor], Mapping[str, Tensor]], side: int = EVALUATION_SIDE
) -> dict[str, float]:
    """Mean PSNR of each of ``reconstruct(photo)``'s pictures over the photos of ``folder`` at ``side`` px (long
    side), ``model`` in evaluation mode meanwhile; a picture cropped to a stride is compared with the photo's crop."""
    was_training = model.training
    model.eval()
    try:
        totals: dict[str, float] = {}
        files = image_files(folder)
        for file in files:
            photo = resize_long_side(load_image(file, max_pixels=None), side)
            for name, picture in reconstruct(photo).items():
                reference = photo[..., : picture.shape[-2], : picture.shape[-1]]
                totals[name] = totals.get(name, 0.0) + psnr(float(F.mse_loss(picture, reference)))
        return {name: round(total / len(files), 2) for name, total in totals.items()}
    finally:
        model.train(was_training)


def evaluate_psnr(objective: LevelDecodersObjective, folder: Path, side: int = EVALUATION_SIDE) -> dict[str, float]:
    """Mean reconstruction PSNR per level over the photos of ``folder`` at ``side`` px (long side)."""
    return mean_psnr(objective.model, folder, lambda photo: reconstructions(objective, photo), side)


@dataclass
class ReconstructionData:
    """What both reconstruction trainers start from: the device and precision, the photo crops, the painting crops
    (if any) and the paintings' names."""

    device: torch.device
    dtype: torch.dtype
    photos: CropSampler
    paintings: CropSampler | None
    names: list[str]

    def record(self, photo_folder: Path, crop: int, weights: ReconstructionWeights) -> dict[str, Any]:
        """The model card entries both trainers write about the data and the loss."""
        return {
            "paintings": self.names,
            "photos": f"{len(self.photos)} photos from {photo_folder.name}, random {crop}px crops of up to "
            f"{weights.max_zoom_out:g}x that side scaled down, flips",
            "losses": weights.as_dict(),
            "precision": str(self.dtype).removeprefix("torch."),
        }


def reconstruction_data(
    photo_folder: Path,
    painting_files: Sequence[Path],
    weights: ReconstructionWeights,
    *,
    crop: int,
    device: str,
    precision: str,
) -> ReconstructionData:
    from ..devices import resolve_device, resolve_precision
    from .arbitrary import painting_sampler

    torch_device = resolve_device(device)
    return ReconstructionData(
        torch_device,
        resolve_precision(precision, torch_device),
        load_folder(photo_folder, crop=crop, max_side=PHOTO_MAX_SIDE, max_zoom_out=weights.max_zoom_out),
        painting_sampler(painting_files, crop) if painting_files else None,
        style_names_of([str(path) for path in painting_files]) if painting_files else [],
    )


def initial_decoders(path: Path) -> dict[str, Decoder]:
    """Starting points from a file: a set of level decoders, or an AdaIN decoder (relu4_1)."""
    from ..methods.model_files import load_decoder, load_decoder_set

    try:
        return dict(load_decoder_set(path)[0])
    except WeightsError:
        decoder, _ = load_decoder(path)
        return {LEVELS[decoder.spec.level - 1]: decoder}


def transplant_tail(target: Decoder, source: Decoder) -> int:
    """Copy ``source``'s convolutions into ``target``'s, aligned from the output end, while their shapes agree; the
    decoders of finer levels share the tail of the relu4_1 decoder's layout, so a trained one gives them a start.
    Returns how many convolutions were copied."""
    target_convs = [module for module in target.body if isinstance(module, nn.Conv2d)]
    source_convs = [module for module in source.body if isinstance(module, nn.Conv2d)]
    copied = 0
    with torch.no_grad():
        for mine, theirs in zip(reversed(target_convs), reversed(source_convs), strict=False):
            if mine.weight.shape != theirs.weight.shape:
                break
            mine.weight.copy_(theirs.weight)
            mine.bias.copy_(theirs.bias)  # type: ignore[union-attr,arg-type]
            copied += 1
    return copied


def warm_start(decoders: Mapping[str, Decoder], path: Path) -> list[str]:
    """Load each level's decoder from ``path`` where it has one of the same shape; levels it lacks get the tail of
    its relu4_1 decoder (:func:`transplant_tail`). Returns what was done, for the model card."""
    starts = initial_decoders(path)
    done = []
    for layer, decoder in decoders.items():
        start = starts.get(layer)
        if start is not None:
            if start.spec != decoder.spec:
                raise ConfigError(f"{path}: the {layer} decoder has the shape {start.spec}, this run {decoder.spec}")
            decoder.load_state_dict(start.state_dict())
            done.append(layer)
        elif "relu4_1" in starts:
            copied = transplant_tail(decoder, starts["relu4_1"])
            if copied:
                done.append(f"{layer}: last {copied} convolutions from relu4_1")
    return done


def train_level_decoders(
    photo_folder: Path,
    run_dir: Path,
    *,
    options: TrainingOptions,
    levels: Sequence[str] = LEVELS,
    painting_files: Sequence[Path] = (),
    held_out: Sequence[str] = (),
    weights: ReconstructionWeights | None = None,
    width: int = 32,
    quarter_convs: int = 2,
    crop: int = 128,
    evaluation_folder: Path | None = None,
    preview_photo: Path | None = None,
    initial_decoders_file: Path | None = None,
    device: str = "auto",
    precision: str = "auto",
    resume: bool = True,
    on_progress: Callable[[TrainingProgress], None] | None = None,
) -> tuple[TrainingResult, Path]:
    """Train one reconstruction decoder per level in ``levels`` on photos (and painting crops); the set lands in
    ``run_dir/wct_decoders.safetensors`` with a model card, however the run stops. ``evaluation_folder`` holds photos
    never trained on: the card records each level's reconstruction PSNR on them."""
    from ..encoders.vgg import vgg16
    from ..methods.model_files import save_decoder_set
    from .model_card import render_reconstruction_card

    weights = weights or ReconstructionWeights()
    levels = sorted(dict.fromkeys(levels), key=level_of)
    data = reconstruction_data(photo_folder, painting_files, weights, crop=crop, device=device, precision=precision)
    torch_device, dtype, photos, paintings, names = data.device, data.dtype, data.photos, data.paintings, data.names
    encoder = vgg16(layers=list(levels)).to(torch_device)
    probe = torch.zeros(1, 3, 16, 16, device=torch_device)
    with torch.no_grad():
        channels = {layer: int(features.shape[1]) for layer, features in encoder(probe).items()}
    decoders = {
        layer: build_seeded(
            lambda layer=layer: decoder_for_level(  # type: ignore[misc]
                level_of(layer), width=width, quarter_convs=quarter_convs, in_channels=channels[layer]
            ),
            options.seed + level_of(layer),
        )
        for layer in levels
    }
    started_from = warm_start(decoders, initial_decoders_file) if initial_decoders_file is not None else []
    for decoder in decoders.values():
        decoder.to(torch_device)
    objective = LevelDecodersObjective(
        decoders,
        encoder,
        photos,
        paintings,
        weights=weights,
        painting_names=[*names, *(f"held out: {name}" for name in held_out)],
        preview_photo=load_preview(preview_photo, photo_folder),
        dtype=dtype,
    )

    def save(record: dict[str, Any]) -> Path:
        info = {
            "method": "WCT reconstruction decoders (Li et al. 2017), VGG16 encoder",
            **record,
            **data.record(photo_folder, crop, weights),
            "levels": levels,
            "held_out": list(held_out),
            "initialised_from": (
                f"{initial_decoders_file.name} ({', '.join(started_from)})"
                if started_from and initial_decoders_file
                else None
            ),
            "parameters": {layer: parameters_of(decoders[layer]) for layer in levels},
        }
        if evaluation_folder is not None:
            info["psnr"] = evaluate_psnr(objective, evaluation_folder)
            count = len(image_files(evaluation_folder))
            info["psnr_photos"] = f"{count} photos of {evaluation_folder.name} at {EVALUATION_SIDE} px"
        cpu_decoders = {layer: decoders[layer].cpu() for layer in levels}
        model_path = save_decoder_set(cpu_decoders, run_dir / MODEL_NAME, info=info)
        for decoder in decoders.values():
            decoder.to(torch_device)
        write_text(run_dir / MODEL_CARD_NAME, render_reconstruction_card(info))
        return model_path

    return train_and_save(objective, options, run_dir, save, resume=resume, on_progress=on_progress)
