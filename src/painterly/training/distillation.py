"""Distillation for the presets: photo crops styled by the optimisation (``painterly transfer``), and the loss that
pulls the feed-forward network towards them (pixel + feature distance), alone or beside the perceptual loss.

A target folder holds ``photos/<style>_<k>.png`` (the crop), ``targets/<style>_<k>.png`` (the optimisation's
result for it) and ``targets.json`` (the settings and styles). Making targets resumes: finished pairs are kept, so an
interrupted run loses at most the target it was working on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..devices import autocast
from ..errors import ConfigError, InputImageError, OutputError
from ..image.io import load_image, save_image
from .data import load_folder
from .feedforward import PHOTO_MAX_SIDE, FeedForwardObjective, balanced_style_ids, style_names_of
from .loop import write_text_atomically

MANIFEST_NAME = "targets.json"
TARGETS_FORMAT = 1
FEATURE_LAYERS = {"relu1_1": 1.0, "relu2_1": 1.0, "relu3_1": 1.0, "relu4_1": 1.0}
SEED_OFFSET = 1 << 40
"""The distillation batch of step k is drawn from its own generator (step k's seed + this), so it is the same
whatever the perceptual term draws and whether or not batches are prefetched."""


@dataclass(frozen=True)
class TargetSettings:
    """How the targets are made: ``per_style`` random crops of ``crop`` px per painting, each optimised for
    ``iterations`` L-BFGS steps at ``strength`` (``painterly transfer``'s knob) with the painting at ``style_size``
    px long side (the scale the perceptual recipe sees it at)."""

    per_style: int = 16
    crop: int = 128
    iterations: int = 100
    strength: float = 0.5
    style_size: int = 512
    seed: int = 0

    def __post_init__(self) -> None:
        if self.per_style < 1 or self.iterations < 1:
            raise ConfigError("targets need at least one crop per style and one iteration")
        if self.crop < 64:
            raise ConfigError(f"target crops must be at least 64 pixels, got {self.crop}")
        if not 0.0 <= self.strength <= 1.0:
            raise ConfigError(f"strength must be within 0..1, got {self.strength}")
        if self.style_size < 32:
            raise ConfigError(f"style size must be at least 32 pixels, got {self.style_size}")
        if not 0.05 <= self.style_size / self.crop <= 8:
            raise ConfigError(
                f"the style size must be within 0.05x..8x the crop, got {self.style_size} px for {self.crop} px crops"
            )
        if self.seed < 0:
            raise ConfigError(f"the seed must be >= 0, got {self.seed}")


@dataclass(frozen=True)
class TargetProgress:
    """One target finished (or found finished): ``done`` of ``total``, and the optimisation's losses."""

    done: int
    total: int
    style: str
    path: Path
    seconds: float
    losses: Mapping[str, float]


def pair_name(style: str, index: int) -> str:
    return f"{style}_{index:03d}.png"


def make_targets(
    style_files: Sequence[Path],
    photo_folder: Path,
    out_dir: Path,
    settings: TargetSettings | None = None,
    *,
    device: str = "auto",
    precision: str = "auto",
    on_progress: Callable[[TargetProgress], None] | None = None,
) -> Path:
    """Style ``settings.per_style`` random crops of the photos with every painting by the optimisation; returns the
    manifest's path. A folder made with other settings or paintings is refused rather than mixed."""
    from ..config import GatysConfig
    from ..methods.gatys import GatysTransfer

    settings = settings or TargetSettings()
    names = style_names_of([str(path) for path in style_files])
    config = GatysConfig(
        size=settings.crop,
        iterations=(settings.iterations,),
        strength=settings.strength,
        style_scale=settings.style_size / settings.crop,
        seed=settings.seed,
        device=device,
        precision=precision,
    )
    photos = load_folder(photo_folder, crop=settings.crop, max_side=PHOTO_MAX_SIDE)
    paintings = [load_image(path, max_pixels=None) for path in style_files]
    transfer = GatysTransfer(config)
    # everything that can be refused has been checked: only now is the folder claimed for these settings
    manifest = {"format": TARGETS_FORMAT, "settings": asdict(settings), "styles": names}
    manifest_path = out_dir / MANIFEST_NAME
    if manifest_path.exists():
        existing = read_manifest(out_dir)
        if existing != manifest:
            raise ConfigError(
                f"{out_dir} holds targets made with other settings or paintings: use another folder "
                f"(found {existing['settings']} for {', '.join(existing['styles'])})"
            )
    else:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError(f"cannot create {out_dir}: {error.strerror}") from error
        write_text_atomically(manifest_path, json.dumps(manifest, indent=1))
    total = len(names) * settings.per_style
    done = 0
    for style_index, (name, painting) in enumerate(zip(names, paintings, strict=True)):
        crops = photos.sample(settings.per_style, torch.Generator().manual_seed(settings.seed * 1_009 + style_index))
        for index in range(settings.per_style):
            target_path = out_dir / "targets" / pair_name(name, index)
            started = time.perf_counter()
            losses: Mapping[str, float] = {}
            if not target_path.exists():
                crop = crops[index : index + 1]
                result = transfer.run(crop, [painting])
                # the crop first: a target file only ever exists beside its photo
                save_image(crop, out_dir / "photos" / pair_name(name, index))
                save_image(result.image, target_path)
                losses = dict(result.losses)
            done += 1
            if on_progress is not None:
                on_progress(TargetProgress(done, total, name, target_path, time.perf_counter() - started, losses))
    return manifest_path


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST_NAME
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise InputImageError(f"{folder}: no {MANIFEST_NAME}; make targets with `painterly train targets`") from error
    except (OSError, ValueError) as error:
        raise InputImageError(f"cannot read {path}: {error}") from error
    if not isinstance(manifest, dict) or manifest.get("format") != TARGETS_FORMAT:
        raise InputImageError(f"{path} is not a painterly targets manifest (format {TARGETS_FORMAT})")
    settings, styles = manifest.get("settings"), manifest.get("styles")
    known = {item.name for item in fields(TargetSettings)}
    if not isinstance(settings, dict) or set(settings) != known or not isinstance(styles, list):
        raise InputImageError(f"{path} is damaged: it needs 'settings' ({', '.join(sorted(known))}) and 'styles'")
    return manifest


class DistillationTargets:
    """The finished (photo, target) pairs of a target folder, as uint8 tensors, indexed by the run's styles."""

    def __init__(self, folder: Path, style_names: Sequence[str]) -> None:
        manifest = read_manifest(folder)
        self.folder = folder
        self.settings = TargetSettings(**manifest["settings"])
        missing = sorted(set(style_names) - set(manifest["styles"]))
        if missing:
            raise ConfigError(f"{folder} has no targets for {', '.join(missing)}: make them with the same paintings")
        photos: list[Tensor] = []
        targets: list[Tensor] = []
        styles: list[int] = []
        self.counts: dict[str, int] = {}
        for style_index, name in enumerate(style_names):
            count = 0
            for index in range(self.settings.per_style):
                target_path = folder / "targets" / pair_name(name, index)
                if not target_path.exists():
                    continue
                photos.append(as_uint8(load_image(folder / "photos" / pair_name(name, index), max_pixels=None)))
                targets.append(as_uint8(load_image(target_path, max_pixels=None)))
                styles.append(style_index)
                count += 1
            if count == 0:
                raise ConfigError(f"{folder} has no finished targets for {name}: finish `painterly train targets`")
            self.counts[name] = count
        shapes = {tuple(image.shape) for image in photos + targets}
        if len(shapes) != 1:
            raise InputImageError(f"{folder}: the photos and targets differ in size ({sorted(shapes)})")
        self.photos = torch.stack(photos)
        self.targets = torch.stack(targets)
        self.styles = torch.tensor(styles)
        self.by_style = [torch.nonzero(self.styles == index).flatten() for index in range(len(style_names))]

    def __len__(self) -> int:
        return int(self.styles.numel())

    def sample(self, style_ids: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """A random pair of each image's style, flipped left-right at random: (photos, targets) in [0, 1]."""
        picks = []
        for style in style_ids.tolist():
            choices = self.by_style[style]
            picks.append(int(choices[torch.randint(len(choices), (1,), generator=generator)]))
        index = torch.tensor(picks)
        flip = torch.rand(len(picks), generator=generator) < 0.5
        photos, targets = self.photos[index], self.targets[index]
        photos = torch.where(flip.view(-1, 1, 1, 1), photos.flip(-1), photos)
        targets = torch.where(flip.view(-1, 1, 1, 1), targets.flip(-1), targets)
        return photos.float() / 255, targets.float() / 255

    def describe(self) -> dict[str, Any]:
        return {"folder": self.folder.name, "pairs": len(self), "settings": asdict(self.settings)}


def as_uint8(image: Tensor) -> Tensor:
    return (image[0].clamp(0, 1) * 255).round().to(torch.uint8)


@dataclass(frozen=True)
class DistillationWeights:
    """The loss towards the targets: ``pixel_weight`` x pixel MSE + ``feature_weight`` x feature MSE at
    ``feature_layers``, added to ``perceptual_scale`` x the perceptual loss on fresh photo crops (0: targets only)."""

    pixel_weight: float = 1000.0
    feature_weight: float = 1.0
    feature_layers: Mapping[str, float] = field(default_factory=lambda: dict(FEATURE_LAYERS))
    perceptual_scale: float = 1.0

    def __post_init__(self) -> None:
        if min(self.pixel_weight, self.feature_weight, self.perceptual_scale) < 0:
            raise ConfigError("distillation weights must be >= 0")
        if not self.feature_layers and self.feature_weight > 0:
            raise ConfigError("a feature weight needs at least one feature layer")

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["feature_layers"] = dict(self.feature_layers)
        return data


class DistillationObjective:
    """The perceptual objective plus the distance to the optimisation's results on the target photos."""

    def __init__(
        self, perceptual: FeedForwardObjective, targets: DistillationTargets, weights: DistillationWeights
    ) -> None:
        missing = set(weights.feature_layers) - set(perceptual.encoder.layers)
        if missing:
            raise ConfigError(f"the encoder does not provide {', '.join(sorted(missing))}")
        self.perceptual = perceptual
        self.targets = targets
        self.weights = weights

    @property
    def model(self) -> nn.Module:
        return self.perceptual.model

    def identity(self) -> dict[str, Any]:
        # the pairs per style too: a folder that gained targets since would draw other pairs at the same step
        targets = {**asdict(self.targets.settings), "pairs": dict(self.targets.counts)}
        return {**self.perceptual.identity(), "distillation": self.weights.as_dict(), "targets": targets}

    def parameter_groups(self) -> list[tuple[list[nn.Parameter], float]]:
        return self.perceptual.parameter_groups()

    def preview(self) -> Tensor:
        return self.perceptual.preview()

    def close(self) -> None:
        self.perceptual.close()

    def losses(self, generator: torch.Generator, batch_size: int) -> dict[str, Tensor]:
        terms: dict[str, Tensor] = {}
        total: Tensor | None = None
        if self.weights.perceptual_scale > 0:
            perceptual = self.perceptual.losses(generator, batch_size)
            scale = self.weights.perceptual_scale
            total = scale * perceptual["total"]
            # logged as they count in the total (the terms then add up to it)
            terms.update({key: scale * value.detach() for key, value in perceptual.items() if key != "total"})
        own = torch.Generator().manual_seed((generator.initial_seed() + SEED_OFFSET) % (1 << 64))
        style_ids = balanced_style_ids(len(self.perceptual.style_names), batch_size, own)
        photos, targets = self.targets.sample(style_ids, own)
        distill = self.distillation_terms(photos, targets, style_ids)
        terms.update({key: value.detach() for key, value in distill.items()})
        total = distill["distill"] if total is None else total + distill["distill"]
        return {"total": total, **terms}

    def distillation_terms(self, photos: Tensor, targets: Tensor, style_ids: Tensor) -> dict[str, Tensor]:
        """{"distill": weighted sum, "distill/pixel", "distill/<layer>"} for a batch of pairs."""
        base = self.perceptual
        device = base.device
        photos, targets, style_ids = photos.to(device), targets.to(device), style_ids.to(device)
        if base.on_gpu:
            photos = photos.contiguous(memory_format=torch.channels_last)
            targets = targets.contiguous(memory_format=torch.channels_last)
        one_hot = F.one_hot(style_ids, len(base.style_names)).float()
        layers = self.weights.feature_layers if self.weights.feature_weight > 0 else {}
        with autocast(device, base.dtype):
            output = base.model(photos, one_hot)
            if layers:
                with torch.no_grad():
                    wanted = base.encoder(targets)
                features = base.encoder(output)
        pixel = self.weights.pixel_weight * (output.float() - targets).pow(2).mean()
        terms = {"distill/pixel": pixel}
        distill = pixel
        for layer, weight in layers.items():
            distance = (features[layer].float() - wanted[layer].float()).pow(2).mean()
            term = self.weights.feature_weight * weight * distance
            terms[f"distill/{layer}"] = term
            distill = distill + term
        return {"distill": distill, **terms}
