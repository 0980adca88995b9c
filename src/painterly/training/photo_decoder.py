"""Training the photorealistic mode's decoder (WCT2, Yoo et al. 2019): VGG16 with Haar pooling encodes a crop to
relu4_1, and the decoder, given the high bands of every pooling, learns to reconstruct it. Loss: pixel MSE plus the
relative feature MSE at relu1_1..relu4_1 of the same wavelet encoder (averaged over the levels)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..devices import autocast
from ..encoders.haar import HaarEncoder, PhotoDecoder, PhotoDecoderSpec
from ..errors import ConfigError
from ..methods.feedforward import parameter_count
from .data import CropSampler, image_files, load_preview
from .decoders import EVALUATION_SIDE, ReconstructionWeights, mean_psnr, reconstruction_data, training_batch
from .feedforward import write_text
from .loop import TrainingOptions, TrainingProgress, TrainingResult, build_seeded, train_and_save

MODEL_NAME = "photo_decoder.safetensors"
MODEL_CARD_NAME = "MODEL_CARD.md"


class PhotoDecoderObjective:
    """Reconstruction loss of a :class:`PhotoDecoder` behind a :class:`HaarEncoder`."""

    def __init__(
        self,
        decoder: PhotoDecoder,
        encoder: HaarEncoder,
        photos: CropSampler,
        paintings: CropSampler | None,
        *,
        weights: ReconstructionWeights | None = None,
        painting_names: Sequence[str] = (),
        preview_photo: Tensor | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.weights = weights or ReconstructionWeights()
        self.model = decoder
        self.encoder = encoder
        self.photos, self.paintings = photos, paintings
        self.painting_names = list(painting_names)
        self.preview_photo = preview_photo
        self.dtype = dtype
        self.device = next(encoder.parameters()).device

    def identity(self) -> dict[str, Any]:
        return {
            "photo_decoder": self.model.spec.as_dict(),
            # the transfer term is the WCT decoders' alone
            "losses": {key: value for key, value in self.weights.as_dict().items() if key != "transfer_weight"},
            "crop": self.photos.crop,
            "paintings": self.painting_names,
        }

    def parameter_groups(self) -> list[tuple[list[nn.Parameter], float]]:
        return [(list(self.model.parameters()), 1.0)]

    def losses(self, generator: torch.Generator, batch_size: int) -> dict[str, Tensor]:
        images = training_batch(self.photos, self.paintings, batch_size, self.weights.painting_share, generator)
        return self.losses_for(images.to(self.device))

    def losses_for(self, images: Tensor) -> dict[str, Tensor]:
        terms: dict[str, Tensor] = {}
        with autocast(self.device, self.dtype):
            with torch.no_grad():
                target = self.encoder(images)
            output = self.model(target.bottleneck, target.skips, target.pooled)
            again = self.encoder(output)
        pixels = F.mse_loss(output.float(), images)
        feature = images.new_zeros(())
        for layer, features in target.levels.items():
            reference = features.float()
            relative = F.mse_loss(again.levels[layer].float(), reference) / reference.pow(2).mean().clamp_min(1e-8)
            terms[f"feature/{layer}"] = relative.detach()
            feature = feature + relative / len(target.levels)
        total = self.weights.pixel_weight * pixels + self.weights.feature_weight * feature
        return {"total": total, "pixel": pixels.detach(), "feature": feature.detach(), **terms}

    def reconstruct(self, photo: Tensor) -> Tensor:
        """The decoder's reconstruction of ``photo`` (1, 3, H, W), cropped to a multiple of the encoder's stride."""
        stride = self.model.spec.stride
        photo = photo[..., : photo.shape[-2] // stride * stride, : photo.shape[-1] // stride * stride]
        with torch.no_grad(), autocast(self.device, self.dtype):
            features = self.encoder(photo.to(self.device))
            return self.model(features.bottleneck, features.skips, features.pooled).float().clamp(0, 1).cpu()  # type: ignore[no-any-return]

    def preview(self) -> Tensor:
        """The preview photo and its reconstruction side by side."""
        if self.preview_photo is None:
            raise ConfigError("no preview photo was given")
        picture = self.reconstruct(self.preview_photo)
        return torch.cat([self.preview_photo[..., : picture.shape[-2], : picture.shape[-1]], picture], dim=-1)


def evaluate_photo_psnr(objective: PhotoDecoderObjective, folder: Path, side: int = EVALUATION_SIDE) -> float:
    """Mean reconstruction PSNR over the photos of ``folder`` at ``side`` px (long side)."""
    return mean_psnr(objective.model, folder, lambda photo: {"photo": objective.reconstruct(photo)}, side)["photo"]


def train_photo_decoder(
    photo_folder: Path,
    run_dir: Path,
    *,
    options: TrainingOptions,
    painting_files: Sequence[Path] = (),
    held_out: Sequence[str] = (),
    weights: ReconstructionWeights | None = None,
    crop: int = 128,
    evaluation_folder: Path | None = None,
    preview_photo: Path | None = None,
    initial_decoder_file: Path | None = None,
    device: str = "auto",
    precision: str = "auto",
    resume: bool = True,
    on_progress: Callable[[TrainingProgress], None] | None = None,
) -> tuple[TrainingResult, Path]:
    """Train the photorealistic decoder; it lands in ``run_dir/photo_decoder.safetensors`` with a model card."""
    from ..encoders.vgg import vgg16
    from ..methods.model_files import load_photo_decoder, save_photo_decoder
    from .model_card import render_photo_decoder_card

    weights = weights or ReconstructionWeights()
    data = reconstruction_data(photo_folder, painting_files, weights, crop=crop, device=device, precision=precision)
    torch_device, dtype, photos, paintings, names = data.device, data.dtype, data.photos, data.paintings, data.names
    encoder = HaarEncoder(vgg16(layers=["relu4_1"])).to(torch_device)
    spec = PhotoDecoderSpec.of(encoder)
    decoder = build_seeded(lambda: PhotoDecoder(spec), options.seed)
    if initial_decoder_file is not None:
        start, _ = load_photo_decoder(initial_decoder_file)
        if start.spec != spec:
            raise ConfigError(f"{initial_decoder_file} has the shape {start.spec}, this run {spec}")
        decoder.load_state_dict(start.state_dict())
    decoder = decoder.to(torch_device)
    objective = PhotoDecoderObjective(
        decoder,
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
            "method": "photorealistic decoder (WCT2, Yoo et al. 2019): VGG16 with Haar pooling to relu4_1",
            **record,
            **data.record(photo_folder, crop, weights),
            "held_out": list(held_out),
            "initialised_from": initial_decoder_file.name if initial_decoder_file is not None else None,
            "parameters": parameter_count(decoder),
            "feature_skips": decoder.spec.feature_skips,
        }
        if evaluation_folder is not None:
            info["psnr"] = evaluate_photo_psnr(objective, evaluation_folder)
            count = len(image_files(evaluation_folder))
            info["psnr_photos"] = f"{count} photos of {evaluation_folder.name} at {EVALUATION_SIDE} px"
        model_path = save_photo_decoder(decoder.cpu(), run_dir / MODEL_NAME, info=info)
        decoder.to(torch_device)
        write_text(run_dir / MODEL_CARD_NAME, render_photo_decoder_card(info))
        return model_path

    return train_and_save(objective, options, run_dir, save, resume=resume, on_progress=on_progress)
