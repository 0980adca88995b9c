"""Training the multi-style feed-forward network with perceptual losses (Johnson et al.; Dumoulin et al.).

Every image of a batch gets a random style of the set; its conditional-norm row is trained on that style's Gram
targets (computed once), while the convolutions are shared by all styles.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import DEFAULT_CONTENT_LAYERS as GATYS_CONTENT_LAYERS
from ..config import DEFAULT_STYLE_LAYERS as GATYS_STYLE_LAYERS
from ..devices import autocast
from ..encoders.vgg import VGGEncoder
from ..errors import ConfigError, OutputError
from ..image.io import load_image, resize_long_side
from ..methods.feedforward import NetworkSpec, StyleNetwork, parameter_count
from ..methods.model_files import load_style_network, save_style_network
from ..ops import gram_matrix, total_variation
from .data import BatchPrefetcher, CropSampler, load_folder, load_preview
from .loop import TrainingOptions, TrainingProgress, TrainingResult, build_seeded, train_and_save
from .model_card import render_model_card

if TYPE_CHECKING:
    from .distillation import DistillationWeights

# Johnson et al.'s loss: relu4_3's Gram term is ~100x smaller than the others at equal weight; 4x lets larger
# structures count.
JOHNSON_STYLE_LAYERS = {"relu1_2": 1.0, "relu2_2": 1.0, "relu3_3": 1.0, "relu4_3": 4.0}
JOHNSON_CONTENT_LAYERS = {"relu3_3": 1.0}
LOSS_SETS: dict[str, tuple[dict[str, float], dict[str, float]]] = {
    # the optimisation's own objective (painterly transfer's defaults): the network learns what Gatys minimises
    "gatys": (dict(GATYS_CONTENT_LAYERS), dict(GATYS_STYLE_LAYERS)),
    "johnson": (JOHNSON_CONTENT_LAYERS, JOHNSON_STYLE_LAYERS),
}
DEFAULT_LOSS_SET = "gatys"
DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS = LOSS_SETS[DEFAULT_LOSS_SET]
BALANCE_CROPS = 16
"""Photo crops the per-style balance is measured on (one fixed draw, the same in every run whatever its seed)."""


@dataclass(frozen=True)
class PerceptualWeights:
    """Loss settings of feed-forward training; ``style_size`` is the long side the paintings are seen at."""

    content_layers: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_CONTENT_LAYERS))
    style_layers: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_STYLE_LAYERS))
    content_weight: float = 1.0
    style_weight: float = 3e5
    tv_weight: float = 1.0
    style_size: int = 320
    norm_learning_rate_scale: float = 5.0
    """Learning-rate multiplier of the per-style norm parameters (they get few samples each per step)."""
    balance_styles: bool = False
    """Scale each style's loss (content, style and TV alike) by the inverse of its style loss on the untouched
    photos, so the shared convolutions give every painting the same attention: the paintings' style terms on the
    same photos differ up to ~10x, and without it the largest dominate the gradient."""

    def __post_init__(self) -> None:
        if not self.content_layers or not self.style_layers:
            raise ConfigError("training needs at least one content and one style layer")
        if min(self.content_weight, self.style_weight, self.tv_weight) < 0:
            raise ConfigError("loss weights must be >= 0")
        if not self.norm_learning_rate_scale > 0:
            raise ConfigError(f"the norm learning-rate scale must be positive, got {self.norm_learning_rate_scale}")
        if self.style_size < 32:
            raise ConfigError(f"style size must be at least 32 pixels, got {self.style_size}")

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["content_layers"] = dict(self.content_layers)
        data["style_layers"] = dict(self.style_layers)
        return data


class FeedForwardObjective:
    """Perceptual loss of a :class:`StyleNetwork` over photo crops, one random style per crop."""

    def __init__(
        self,
        network: StyleNetwork,
        encoder: VGGEncoder,
        photos: CropSampler,
        styles: Mapping[str, Tensor],
        *,
        weights: PerceptualWeights | None = None,
        preview_photo: Tensor | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.weights = weights or PerceptualWeights()
        if network.spec.styles != len(styles):
            raise ConfigError(f"the network has {network.spec.styles} style rows but {len(styles)} styles were given")
        missing = set(self.weights.content_layers) | set(self.weights.style_layers)
        missing -= set(encoder.layers)
        if missing:
            raise ConfigError(f"the encoder does not provide {', '.join(sorted(missing))}")
        self.model = network
        self.encoder = encoder
        self.photos = photos
        self.batch_size = 1  # set by each losses() call; the batches drawn ahead use the latest
        self.style_names = list(styles)
        self.dtype = dtype
        self.device = next(encoder.parameters()).device
        self.style_grams = self._style_grams(styles.values())
        self.style_balance = self._style_balance() if self.weights.balance_styles else None
        self.preview_photo = preview_photo
        # on a GPU the next batch is cropped on a CPU thread while the step runs, and convolutions run channels-last
        self.on_gpu = self.device.type == "cuda"
        self.batches = BatchPrefetcher(self._draw) if self.on_gpu else None
        if self.on_gpu:
            network.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            encoder.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    def _style_grams(self, styles: Any) -> dict[str, Tensor]:
        """{layer: (styles, C, C)} Gram targets, computed once in fp32."""
        per_layer: dict[str, list[Tensor]] = {layer: [] for layer in self.weights.style_layers}
        with torch.inference_mode():
            for style in styles:
                features = self.encoder(resize_long_side(style, self.weights.style_size).to(self.device))
                for layer in per_layer:
                    per_layer[layer].append(gram_matrix(features[layer].float())[0])
        return {layer: torch.stack(grams) for layer, grams in per_layer.items()}

    def _style_terms(self, features: Mapping[str, Tensor], style_ids: Tensor) -> dict[str, Tensor]:
        """{layer: (B,) weighted style loss of each image against its own style's Gram targets}."""
        terms = {}
        for layer, weight in self.weights.style_layers.items():
            grams = gram_matrix(features[layer].float())
            per_image = (grams - self.style_grams[layer][style_ids]).pow(2).mean(dim=(1, 2))
            terms[layer] = self.weights.style_weight * weight * per_image
        return terms

    def _style_balance(self) -> Tensor:
        """(styles,) loss factors with mean 1: the inverse of each style's loss on a fixed set of untouched crops."""
        photos = self.photos.sample(BALANCE_CROPS, torch.Generator().manual_seed(0)).to(self.device)
        count = len(self.style_names)
        losses = torch.zeros(count, device=self.device)
        with torch.inference_mode():
            features = self.encoder(photos)
            for index in range(count):
                style_ids = torch.full((photos.shape[0],), index, dtype=torch.long, device=self.device)
                losses[index] = torch.stack(list(self._style_terms(features, style_ids).values())).sum(0).mean()
        inverse = 1.0 / losses.clamp_min(1e-12)
        return (inverse / inverse.mean()).clone()

    def identity(self) -> dict[str, Any]:
        return {
            "network": self.model.spec.as_dict(),
            "styles": self.style_names,
            "losses": self.weights.as_dict(),
            "crop": self.photos.crop,
        }

    def parameter_groups(self) -> list[tuple[list[nn.Parameter], float]]:
        norm_ids = {id(p) for norm in self.model.norms() for p in norm.parameters()}
        shared = [p for p in self.model.parameters() if id(p) not in norm_ids]
        norms = [p for p in self.model.parameters() if id(p) in norm_ids]
        return [(shared, 1.0), (norms, self.weights.norm_learning_rate_scale)]

    def losses(self, generator: torch.Generator, batch_size: int) -> dict[str, Tensor]:
        self.batch_size = batch_size
        photos, style_ids = self.batches.get(generator) if self.batches is not None else self._draw(generator)
        if self.on_gpu:
            photos = photos.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            return self.losses_for(photos, style_ids.to(self.device, non_blocking=True))
        return self.losses_for(photos.to(self.device), style_ids.to(self.device))

    def close(self) -> None:
        """Stop drawing batches ahead (GPU runs)."""
        if self.batches is not None:
            self.batches.close()

    def _draw(self, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """One step's photo crops and style ids, on the CPU (pinned for an asynchronous copy when on a GPU)."""
        photos = self.photos.sample(self.batch_size, generator)
        style_ids = balanced_style_ids(len(self.style_names), self.batch_size, generator)
        if self.on_gpu:
            return photos.pin_memory(), style_ids.pin_memory()
        return photos, style_ids

    def losses_for(self, photos: Tensor, style_ids: Tensor) -> dict[str, Tensor]:
        """Loss terms for ``photos`` (B, 3, H, W) styled with ``style_ids`` (B,): batch means of per-image losses,
        each image's scaled by its style's balance factor when ``balance_styles`` is on."""
        weights = F.one_hot(style_ids, len(self.style_names)).float()
        content_layers = self.weights.content_layers
        with autocast(self.device, self.dtype):
            with torch.no_grad():
                content_features = self.encoder(photos)
                targets = {layer: content_features[layer].float() for layer in content_layers}
            output = self.model(photos, weights)
            features = self.encoder(output)
        factor = self.style_balance[style_ids] if self.style_balance is not None else None

        def batch_mean(per_image: Tensor) -> Tensor:
            return (per_image * factor).mean() if factor is not None else per_image.mean()

        terms: dict[str, Tensor] = {}
        content = photos.new_zeros(())
        for layer, weight in content_layers.items():
            per_image = (features[layer].float() - targets[layer]).pow(2).mean(dim=(1, 2, 3))
            term = batch_mean(self.weights.content_weight * weight * per_image)
            terms[f"content/{layer}"] = term.detach()
            content = content + term
        style = photos.new_zeros(())
        for layer, per_image in self._style_terms(features, style_ids).items():
            term = batch_mean(per_image)
            terms[f"style/{layer}"] = term.detach()
            style = style + term
        tv = batch_mean(self.weights.tv_weight * total_variation(output.float(), per_image=True))
        total = content + style + tv
        return {"total": total, "content": content, "style": style, "tv": tv, **terms}

    def preview(self) -> Tensor:
        """The preview photo in every style, side by side (two rows when there are many styles)."""
        if self.preview_photo is None:
            raise ConfigError("no preview photo was given")
        photo = self.preview_photo.to(self.device)
        count = len(self.style_names)
        tiles = [photo]
        for index in range(count):
            weights = F.one_hot(torch.tensor([index]), count).float().to(self.device)
            with autocast(self.device, self.dtype):
                tiles.append(self.model(photo, weights).float().clamp(0, 1))
        columns = (len(tiles) + 1) // 2 if len(tiles) > 6 else len(tiles)
        rows = [torch.cat(tiles[start : start + columns], dim=-1) for start in range(0, len(tiles), columns)]
        if rows[-1].shape[-1] < rows[0].shape[-1]:
            rows[-1] = F.pad(rows[-1], (0, rows[0].shape[-1] - rows[-1].shape[-1]), value=1.0)
        return torch.cat(rows, dim=-2)


def balanced_style_ids(styles: int, batch_size: int, generator: torch.Generator) -> Tensor:
    """Style of each image of a batch: a batch covers min(batch, styles) different styles, in random order.

    Every style's norm row then gets a gradient as often as possible; drawn independently, rows see a gradient only
    now and then and barely move under Adam (measured: their spread stayed at 0.05 after 1300 steps).
    """
    order = torch.randperm(styles, generator=generator)
    return order[torch.arange(batch_size) % styles]


def build_network(spec: NetworkSpec, seed: int) -> StyleNetwork:
    """A freshly initialised network; the seed makes the initialisation reproducible."""
    return build_seeded(lambda: StyleNetwork(spec), seed)


def style_names_of(paths: Sequence[str]) -> list[str]:
    """Preset names from file stems: lower case, runs of other characters than a-z, 0-9, ``_`` and ``.`` become
    ``_`` (so names never hold the ``,`` and ``:`` of blends); duplicates are an error."""
    names = [re.sub(r"[^a-z0-9_.]+", "_", Path(path).stem.lower()).strip("_") for path in paths]
    if not all(names):
        raise ConfigError(f"cannot make style names from {list(paths)}: rename the files")
    if len(set(names)) != len(names):
        raise ConfigError(f"style names must be unique, got {names}")
    return names


MODEL_NAME = "model.safetensors"
PHOTO_MAX_SIDE = 1024  # larger photos are scaled down once at load: crops should show scenes, not pixel texture
MODEL_CARD_NAME = "MODEL_CARD.md"


def train_feedforward(
    style_files: Sequence[Path],
    photo_folder: Path,
    run_dir: Path,
    *,
    spec: NetworkSpec,
    options: TrainingOptions,
    weights: PerceptualWeights | None = None,
    crop: int = 192,
    preview_photo: Path | None = None,
    device: str = "auto",
    precision: str = "auto",
    resume: bool = True,
    on_progress: Callable[[TrainingProgress], None] | None = None,
    encoder_weights: Mapping[str, Tensor] | None = None,
    targets: Path | None = None,
    distillation: DistillationWeights | None = None,
    initial_model: Path | None = None,
) -> tuple[TrainingResult, Path]:
    """Train a network on ``style_files`` over the photos of ``photo_folder``; the model lands in ``run_dir``.

    The loss network is VGG16 with its ImageNet weights from painterly's cache, or ``encoder_weights``
    (``conv1_1.weight`` ... up to the deepest loss layer) where the cache cannot be had, e.g. a copy carried to a GPU
    machine.

    With ``targets`` (a folder made by :func:`~painterly.training.distillation.make_targets`) the network is also
    pulled towards the optimisation's results on those photos (``distillation`` weighs the terms).

    ``initial_model`` (a model file of the same shape and styles, in the same order) is the starting point of a new
    run, e.g. to continue a network at another crop size; a resumed run ignores it.

    The network is written as ``model.safetensors`` (fp16) with its training record when the run stops (steps
    reached, budget spent or interrupted), so every stop leaves a usable model.
    """
    from ..devices import resolve_device, resolve_precision
    from ..encoders.vgg import vgg16
    from .distillation import DistillationObjective, DistillationTargets
    from .distillation import DistillationWeights as Distillation

    weights = weights or PerceptualWeights()
    if spec.styles != len(style_files):
        spec = dataclasses.replace(spec, styles=len(style_files))
    names = style_names_of([str(path) for path in style_files])
    torch_device = resolve_device(device)
    dtype = resolve_precision(precision, torch_device)
    styles = {name: load_image(path, max_pixels=None) for name, path in zip(names, style_files, strict=True)}
    photos = load_folder(photo_folder, crop=crop, max_side=PHOTO_MAX_SIDE)
    pairs = DistillationTargets(targets, names) if targets is not None else None
    distillation = (distillation or Distillation()) if pairs is not None else None
    extra_layers = list(distillation.feature_layers) if distillation is not None else []
    layers = list(dict.fromkeys([*weights.content_layers, *weights.style_layers, *extra_layers]))
    encoder = vgg16(layers=layers, weights=encoder_weights or "imagenet").to(torch_device)
    network = build_network(spec, options.seed)
    if initial_model is not None:
        start, start_names, _ = load_style_network(initial_model)
        if start.spec != network.spec or start_names != names:
            raise ConfigError(
                f"{initial_model} has the shape {start.spec.as_dict()} and styles {', '.join(start_names)}; "
                f"this run {network.spec.as_dict()} and {', '.join(names)}: they must match"
            )
        network.load_state_dict(start.state_dict())
    network = network.to(torch_device)
    preview = load_preview(preview_photo, photo_folder)
    perceptual = FeedForwardObjective(
        network, encoder, photos, styles, weights=weights, preview_photo=preview, dtype=dtype
    )
    objective: FeedForwardObjective | DistillationObjective = perceptual
    if pairs is not None and distillation is not None:
        objective = DistillationObjective(perceptual, pairs, distillation)

    def save(record: dict[str, Any]) -> Path:
        info = {
            "method": "feedforward (Johnson et al. 2016) with conditional instance norm (Dumoulin et al. 2017)",
            **record,
            "photos": f"{len(photos)} photos from {photo_folder.name}, random {crop}px crops and flips",
            "losses": weights.as_dict(),
            "precision": str(dtype).removeprefix("torch."),
        }
        if initial_model is not None:
            info["initialised_from"] = initial_model.name
        if pairs is not None and distillation is not None:
            info["distillation"] = {**pairs.describe(), "weights": distillation.as_dict()}
        model_path = save_style_network(network.cpu(), names, run_dir / MODEL_NAME, info=info)
        card = render_model_card(names, network.spec.as_dict(), parameter_count(network), info)
        write_text(run_dir / MODEL_CARD_NAME, card)
        return model_path

    try:
        return train_and_save(objective, options, run_dir, save, resume=resume, on_progress=on_progress)
    finally:
        objective.close()


def write_text(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror}") from error
