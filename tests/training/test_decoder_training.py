"""Reconstruction training: WCT's level decoders and the photorealistic decoder, their files, cards and resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from painterly.encoders.haar import HaarEncoder, PhotoDecoder, PhotoDecoderSpec
from painterly.errors import ConfigError
from painterly.methods.decoders import LEVELS, Decoder, decoder_for_level, level_of
from painterly.methods.model_files import load_decoder_set, load_photo_decoder, save_decoder
from painterly.training.data import CropSampler, step_generator
from painterly.training.decoders import (
    LevelDecodersObjective,
    ReconstructionWeights,
    psnr,
    train_level_decoders,
    training_batch,
    transferred_features,
    transplant_tail,
    warm_start,
)
from painterly.training.loop import TrainingOptions, TrainingProgress
from painterly.training.photo_decoder import PhotoDecoderObjective, train_photo_decoder
from tests.conftest import gradient_image, make_tiny_encoder

TINY_LEVEL_CHANNELS = {"relu1_1": 4, "relu2_1": 8, "relu3_1": 8, "relu4_1": 8}


def tiny_level_decoders(seed: int = 0) -> dict[str, Decoder]:
    torch.manual_seed(seed)
    return {
        layer: decoder_for_level(level_of(layer), width=4, quarter_convs=0, in_channels=TINY_LEVEL_CHANNELS[layer])
        for layer in LEVELS
    }


def photo_sampler() -> CropSampler:
    return CropSampler([gradient_image(40, 48, seed=index) for index in range(3)], crop=32)


def write_photos(folder: Path, count: int, *, seed: int = 0, size: int = 40) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        smooth = (gradient_image(size, size, seed=seed + index)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        noise = rng.integers(0, 40, smooth.shape, dtype=np.uint8)
        Image.fromarray(np.clip(smooth.astype(int) + noise - 20, 0, 255).astype(np.uint8)).save(folder / f"{index}.png")
    return folder


@pytest.fixture
def tiny_vgg16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("painterly.encoders.vgg.vgg16", lambda *, layers, **_: make_tiny_encoder(list(layers)))


def test_reconstruction_settings_and_psnr() -> None:
    assert psnr(0.01) == pytest.approx(20.0) and psnr(1.0) == 0.0 and psnr(0.0) == pytest.approx(120.0)
    assert ReconstructionWeights().as_dict() == {
        "pixel_weight": 1.0,
        "feature_weight": 0.05,
        "painting_share": 0.25,
        "max_zoom_out": 2.0,
        "transfer_weight": 0.0,
    }
    with pytest.raises(ConfigError, match="cannot all be 0"):
        ReconstructionWeights(pixel_weight=0.0, feature_weight=0.0)
    with pytest.raises(ConfigError, match=">= 0"):
        ReconstructionWeights(feature_weight=-1.0)
    with pytest.raises(ConfigError, match=r"painting share must be within 0\.\.1"):
        ReconstructionWeights(painting_share=1.5)
    with pytest.raises(ConfigError, match=r"zoom-out must be within 1\.\.8"):
        ReconstructionWeights(max_zoom_out=0.5)


def test_training_batches_mix_photos_and_paintings() -> None:
    photos = CropSampler([torch.zeros(1, 3, 32, 32)], crop=16)
    paintings = CropSampler([torch.ones(1, 3, 32, 32)], crop=16)
    batch = training_batch(photos, paintings, 8, 0.25, step_generator(0, 0))
    assert batch.shape == (8, 3, 16, 16)
    assert [float(image.mean()) for image in batch] == [0.0] * 6 + [1.0] * 2
    assert float(training_batch(photos, None, 4, 0.5, step_generator(0, 0)).max()) == 0.0


def test_crop_sampler_zooms_out_deterministically() -> None:
    images = [gradient_image(48, 80, seed=1), gradient_image(60, 40, seed=2)]
    sampler = CropSampler(images, crop=16, max_zoom_out=3.0)
    first = sampler.sample(6, step_generator(5, 2))
    assert first.shape == (6, 3, 16, 16) and float(first.min()) >= 0 and float(first.max()) <= 1
    assert torch.equal(first, sampler.sample(6, step_generator(5, 2)))
    assert not torch.equal(first, sampler.sample(6, step_generator(6, 2)))
    plain = CropSampler(images, crop=16).sample(6, step_generator(5, 2))
    assert not torch.equal(first, plain)
    # zoomed-out crops are scaled down: smoother than crops at the image's own scale
    rough = CropSampler([torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))], crop=16)
    zoomed = CropSampler(
        [torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))], crop=16, max_zoom_out=4
    )
    generator = step_generator(0, 0)
    assert float(zoomed.sample(16, generator).std()) < float(rough.sample(16, step_generator(0, 0)).std())
    # the zoom is bounded by the image: a crop-sized image always gives the whole image (flipped or not)
    whole = CropSampler([images[0][..., :16, :16]], crop=16, max_zoom_out=8.0)
    stored = whole.images[0].float()[None] / 255
    for crop in whole.sample(8, step_generator(1, 1)):
        assert torch.equal(crop[None], stored) or torch.equal(crop[None], stored.flip(-1))
    for bad in (0.5, 8.5):
        with pytest.raises(ConfigError, match=r"max_zoom_out must be within 1\.\.8"):
            CropSampler(images, crop=16, max_zoom_out=bad)


def test_level_objective_has_every_term_and_a_few_steps_lower_the_loss() -> None:
    objective = LevelDecodersObjective(
        tiny_level_decoders(),
        make_tiny_encoder(list(LEVELS)),
        photo_sampler(),
        None,
        preview_photo=gradient_image(36, 44),
    )
    assert objective.levels == list(LEVELS)
    images = photo_sampler().sample(4, step_generator(0, 0))
    terms = objective.losses_for(images)
    expected = {"total", "pixel", *(f"pixel/{layer}" for layer in LEVELS), *(f"feature/{layer}" for layer in LEVELS)}
    assert set(terms) == expected
    weights = objective.weights
    total = sum(
        weights.pixel_weight * terms[f"pixel/{layer}"] + weights.feature_weight * terms[f"feature/{layer}"]
        for layer in LEVELS
    )
    torch.testing.assert_close(terms["total"].detach(), total)
    torch.testing.assert_close(terms["pixel"], sum(terms[f"pixel/{layer}"] for layer in LEVELS) / 4)
    assert set(objective.losses(step_generator(0, 1), 2)) == expected
    assert objective.identity()["crop"] == 32 and set(objective.identity()["decoders"]) == set(LEVELS)
    parameters = objective.parameter_groups()[0][0]
    optimiser = torch.optim.Adam(parameters, lr=3e-3)
    first = float(terms["total"].detach())
    for _ in range(15):
        optimiser.zero_grad()
        torch.autograd.backward(objective.losses_for(images)["total"])
        optimiser.step()
    assert float(objective.losses_for(images)["total"].detach()) < 0.8 * first
    with torch.no_grad():
        preview = objective.preview()
    assert preview.shape == (1, 3, 32, 40 * 5)  # the photo then four reconstructions, cropped to the stride 8


def test_transferred_features_take_the_next_samples_statistics() -> None:
    generator = torch.Generator().manual_seed(5)
    mixing = torch.randn(3, 6, 6, generator=generator)
    features = (
        torch.einsum("bij,bjn->bin", mixing, torch.randn(3, 6, 400, generator=generator))
        + torch.arange(3.0)[:, None, None]
    )
    result = transferred_features(features.view(3, 6, 20, 20)).view(3, 6, 400).double().numpy()
    reference = features.double().numpy()
    for index in range(3):
        following = reference[(index + 1) % 3]
        np.testing.assert_allclose(np.cov(result[index]), np.cov(following), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(result[index].mean(axis=1), following.mean(axis=1), atol=1e-4)


def test_level_objective_with_the_transfer_term() -> None:
    weights = ReconstructionWeights(transfer_weight=0.5)
    objective = LevelDecodersObjective(
        tiny_level_decoders(), make_tiny_encoder(list(LEVELS)), photo_sampler(), None, weights=weights
    )
    terms = objective.losses_for(photo_sampler().sample(3, step_generator(0, 0)))
    assert {f"transfer/{layer}" for layer in LEVELS} <= set(terms)
    total = sum(
        weights.pixel_weight * terms[f"pixel/{layer}"]
        + weights.feature_weight * terms[f"feature/{layer}"]
        + weights.transfer_weight * terms[f"transfer/{layer}"]
        for layer in LEVELS
    )
    torch.testing.assert_close(terms["total"].detach(), total)
    torch.autograd.backward(terms["total"])
    assert all(parameter.grad is not None for parameter in objective.model.parameters())


def test_level_objective_refuses_missing_levels() -> None:
    with pytest.raises(ConfigError, match="no decoder levels to train"):
        LevelDecodersObjective({}, make_tiny_encoder(["relu1_1"]), photo_sampler(), None)
    with pytest.raises(ConfigError, match="the encoder does not provide relu3_1"):
        LevelDecodersObjective(
            {"relu3_1": tiny_level_decoders()["relu3_1"]}, make_tiny_encoder(["relu1_1"]), photo_sampler(), None
        )


def test_photo_objective_has_every_term_and_a_few_steps_lower_the_loss() -> None:
    encoder = HaarEncoder(make_tiny_encoder(["relu4_1"]))
    torch.manual_seed(0)
    objective = PhotoDecoderObjective(
        PhotoDecoder(PhotoDecoderSpec.of(encoder)), encoder, photo_sampler(), None, preview_photo=gradient_image(36, 44)
    )
    images = photo_sampler().sample(4, step_generator(0, 0))
    terms = objective.losses_for(images)
    assert set(terms) == {"total", "pixel", "feature", *(f"feature/{layer}" for layer in LEVELS)}
    torch.testing.assert_close(terms["total"].detach(), terms["pixel"] + 0.05 * terms["feature"])
    optimiser = torch.optim.Adam(objective.parameter_groups()[0][0], lr=3e-3)
    first = float(terms["total"].detach())
    for _ in range(15):
        optimiser.zero_grad()
        torch.autograd.backward(objective.losses_for(images)["total"])
        optimiser.step()
    assert float(objective.losses_for(images)["total"].detach()) < 0.8 * first
    assert objective.preview().shape == (1, 3, 32, 80)


def test_warm_start_loads_a_level_and_transplants_the_tail(tmp_path: Path) -> None:
    source = tiny_level_decoders(seed=1)["relu4_1"]
    adain = save_decoder(source, tmp_path / "adain.safetensors")
    decoders = tiny_level_decoders(seed=2)
    done = warm_start(decoders, adain)
    assert done == [
        "relu1_1: last 2 convolutions from relu4_1",
        "relu2_1: last 4 convolutions from relu4_1",
        "relu3_1: last 6 convolutions from relu4_1",
        "relu4_1",
    ]
    last = [module for module in decoders["relu1_1"].body if isinstance(module, torch.nn.Conv2d)][-1]
    source_last = [module for module in source.body if isinstance(module, torch.nn.Conv2d)][-1]
    torch.testing.assert_close(last.weight, source_last.weight, atol=2e-3, rtol=1e-3)
    assert transplant_tail(decoder_for_level(1, width=8, in_channels=4), source) == 0
    wider = {"relu4_1": decoder_for_level(4, width=8, quarter_convs=0, in_channels=8)}
    with pytest.raises(ConfigError, match="the relu4_1 decoder has the shape"):
        warm_start(wider, adain)


def progress_events(events: list[str]) -> object:
    def record(progress: TrainingProgress) -> None:
        events.append(f"{progress.event}:{progress.step}")

    return record


@pytest.mark.usefixtures("tiny_vgg16")
def test_train_level_decoders_writes_the_set_and_card_and_resumes(tmp_path: Path) -> None:
    photos = write_photos(tmp_path / "photos", 3)
    evaluation = write_photos(tmp_path / "eval", 2, seed=10)
    paintings = write_photos(tmp_path / "paintings", 2, seed=20)
    painting_files = sorted(paintings.iterdir())
    run = tmp_path / "run"
    common = {
        "painting_files": painting_files[:1],
        "held_out": ["1"],
        "width": 4,
        "quarter_convs": 0,
        "crop": 32,
        "evaluation_folder": evaluation,
        "precision": "fp32",
    }
    options = TrainingOptions(steps=3, batch_size=2, warmup_steps=0, checkpoint_every=1, preview_every=100)
    result, path = train_level_decoders(photos, run, options=options, **common)  # type: ignore[arg-type]
    assert path == run / "wct_decoders.safetensors" and path.is_file()
    assert result.steps_done == 3 and result.stopped_by == "steps"
    decoders, info = load_decoder_set(path)
    assert list(decoders) == list(LEVELS)
    assert {layer: decoder.spec.in_channels for layer, decoder in decoders.items()} == TINY_LEVEL_CHANNELS
    assert info["steps"] == 3 and info["levels"] == list(LEVELS) and info["held_out"] == ["1"]
    assert set(info["psnr"]) == set(LEVELS) and all(np.isfinite(value) for value in info["psnr"].values())
    assert "2 photos of eval" in info["psnr_photos"]
    card = (run / "MODEL_CARD.md").read_text()
    assert "PSNR (dB) on 2 photos of eval at 512 px" in card and "relu1_1" in card
    assert "Trained 3 of 3 planned steps" in card and "`0` (user-supplied)" in card and "`1` (user-supplied)" in card
    events: list[str] = []
    longer = TrainingOptions(**{**options.__dict__, "steps": 5})
    resumed, _ = train_level_decoders(photos, run, options=longer, on_progress=progress_events(events), **common)  # type: ignore[arg-type]
    assert events[0] == "resumed:3" and resumed.steps_done == 5
    assert load_decoder_set(path)[1]["steps"] == 5
    log = json.loads((run / "log.json").read_text())
    assert [row["step"] for row in log] == [1, 2, 3, 4, 5]


@pytest.mark.usefixtures("tiny_vgg16")
def test_train_level_decoders_without_evaluation_and_from_a_start(tmp_path: Path) -> None:
    photos = write_photos(tmp_path / "photos", 2)
    start = save_decoder(tiny_level_decoders()["relu4_1"], tmp_path / "adain.safetensors")
    _, path = train_level_decoders(
        photos,
        tmp_path / "run",
        options=TrainingOptions(steps=1, batch_size=1, warmup_steps=0),
        levels=("relu4_1", "relu2_1", "relu4_1"),
        width=4,
        quarter_convs=0,
        crop=32,
        initial_decoders_file=start,
        precision="fp32",
    )
    decoders, info = load_decoder_set(path)
    assert list(decoders) == ["relu2_1", "relu4_1"] and "psnr" not in info
    assert info["initialised_from"] == "adain.safetensors (relu2_1: last 4 convolutions from relu4_1, relu4_1)"
    card = (tmp_path / "run" / "MODEL_CARD.md").read_text()
    assert "Not measured for this run." in card and "Training started from `adain.safetensors" in card


@pytest.mark.usefixtures("tiny_vgg16")
def test_train_photo_decoder_writes_the_decoder_and_card_and_resumes(tmp_path: Path) -> None:
    photos = write_photos(tmp_path / "photos", 3)
    evaluation = write_photos(tmp_path / "eval", 2, seed=10)
    run = tmp_path / "run"
    options = TrainingOptions(steps=3, batch_size=2, warmup_steps=0, checkpoint_every=1, preview_every=2)
    result, path = train_photo_decoder(
        photos, run, options=options, crop=32, evaluation_folder=evaluation, precision="fp32"
    )
    assert path == run / "photo_decoder.safetensors" and path.is_file() and result.steps_done == 3
    assert (run / "previews" / "step_000002.png").is_file()
    decoder, info = load_photo_decoder(path)
    assert decoder.spec == PhotoDecoderSpec((4, 4, 8, 8, 8, 8, 8, 8), (2, 4, 7), feature_skips=True)
    assert info["steps"] == 3 and np.isfinite(info["psnr"]) and "2 photos of eval" in info["psnr_photos"]
    assert info["parameters"] == sum(parameter.numel() for parameter in decoder.parameters())
    card = (run / "MODEL_CARD.md").read_text()
    assert f"PSNR {info['psnr']:.2f} dB on 2 photos of eval at 512 px." in card
    events: list[str] = []
    longer = TrainingOptions(**{**options.__dict__, "steps": 4})
    resumed, _ = train_photo_decoder(
        photos,
        run,
        options=longer,
        crop=32,
        evaluation_folder=evaluation,
        precision="fp32",
        on_progress=progress_events(events),  # type: ignore[arg-type]
    )
    assert events[0] == "resumed:3" and resumed.steps_done == 4
    assert load_photo_decoder(path)[1]["steps"] == 4
    # a fresh run may start from that decoder; a decoder of another shape is refused
    _, again = train_photo_decoder(
        photos,
        tmp_path / "fine",
        options=TrainingOptions(steps=1, batch_size=1, warmup_steps=0),
        crop=32,
        initial_decoder_file=path,
        precision="fp32",
    )
    assert load_photo_decoder(again)[1]["initialised_from"] == "photo_decoder.safetensors"
    from painterly.methods.model_files import save_photo_decoder

    other = save_photo_decoder(PhotoDecoder(PhotoDecoderSpec((4, 8), (1,))), tmp_path / "other.safetensors")
    with pytest.raises(ConfigError, match="has the shape"):
        train_photo_decoder(
            photos,
            tmp_path / "bad",
            options=TrainingOptions(steps=1, batch_size=1),
            crop=32,
            initial_decoder_file=other,
            precision="fp32",
        )
