"""Decoder training for the arbitrary-style method: style kinds, colour jitter, loss, exact resume, saved model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from painterly.errors import ConfigError
from painterly.image.color import rgb_to_yiq
from painterly.methods.arbitrary import STYLE_LAYERS
from painterly.methods.decoders import Decoder, DecoderSpec
from painterly.methods.model_files import load_decoder
from painterly.training.arbitrary import AdainLossWeights, AdainObjective, style_kinds, train_arbitrary
from painterly.training.data import CropSampler, jitter_colors, step_generator
from painterly.training.loop import TrainingOptions, TrainingProgress, train
from tests.conftest import gradient_image, make_tiny_encoder

WEIGHTS = AdainLossWeights(style_weight=1.0, reconstruction_weight=1.0)


def make_objective(seed: int = 0) -> AdainObjective:
    torch.manual_seed(seed)
    decoder = Decoder(DecoderSpec(width=4, quarter_convs=0, in_channels=8))
    photos = CropSampler([gradient_image(40, 56, seed=index) for index in range(3)], crop=32)
    paintings = CropSampler([gradient_image(48, 48, seed=10 + index) ** 2 for index in range(2)], crop=32)
    return AdainObjective(
        decoder,
        make_tiny_encoder(list(STYLE_LAYERS)),
        photos,
        paintings,
        weights=WEIGHTS,
        preview_photo=gradient_image(24, 32),
        preview_styles=[gradient_image(30, 20, seed=20)],
    )


def test_style_kinds_follow_the_shares() -> None:
    assert style_kinds(8, AdainLossWeights()) == ["self"] * 2 + ["photo"] * 2 + ["painting"] * 4
    assert style_kinds(3, AdainLossWeights(self_style_share=0.0, photo_style_share=0.0)) == ["painting"] * 3
    with pytest.raises(ConfigError, match="add up to at most 1"):
        AdainLossWeights(self_style_share=0.7, photo_style_share=0.5)
    with pytest.raises(ConfigError, match=">= 0"):
        AdainLossWeights(style_weight=-1)


def test_colour_jitter_is_deterministic_bounded_and_changes_hue() -> None:
    images = gradient_image(16, 16).repeat(4, 1, 1, 1)
    assert torch.equal(jitter_colors(images, step_generator(0, 0), strength=0.0), images)
    first = jitter_colors(images, step_generator(0, 1))
    assert torch.equal(first, jitter_colors(images, step_generator(0, 1)))
    assert float(first.min()) >= 0 and float(first.max()) <= 1
    chroma_before, chroma_after = rgb_to_yiq(images)[:, 1:], rgb_to_yiq(first)[:, 1:]
    assert not torch.allclose(chroma_before, chroma_after, atol=0.02)


def test_losses_have_every_term_and_self_styles_get_the_pixel_loss() -> None:
    objective = make_objective()
    terms = objective.losses(step_generator(0, 0), 4)
    assert {"total", "content", "style", "reconstruction", *(f"style/{layer}" for layer in STYLE_LAYERS)} <= set(terms)
    total = terms["content"] + terms["style"] + terms["reconstruction"]
    torch.testing.assert_close(terms["total"], total)
    assert float(terms["reconstruction"].detach()) > 0
    none = AdainObjective(
        objective.model,
        objective.encoder,
        objective.photos,
        objective.paintings,
        weights=AdainLossWeights(self_style_share=0.0),
    )
    assert float(none.losses(step_generator(0, 0), 4)["reconstruction"].detach()) == 0.0


def test_a_few_steps_lower_the_loss_and_resume_exactly(tmp_path: Path) -> None:
    options = TrainingOptions(steps=8, batch_size=4, learning_rate=3e-3, warmup_steps=0, preview_every=100)
    straight = make_objective()
    result = train(straight, options, tmp_path / "straight")
    losses = [row["total"] for row in result.log]
    assert sum(losses[-3:]) < sum(losses[:3])

    def stop_at_four(progress: TrainingProgress) -> None:
        if progress.step == 4:
            raise KeyboardInterrupt  # as a Ctrl-C would: the state is checkpointed on the way out

    with pytest.raises(KeyboardInterrupt):
        train(make_objective(), options, tmp_path / "halves", on_progress=stop_at_four)
    resumed = make_objective(seed=123)  # different initial weights: the checkpoint must restore everything
    second = train(resumed, options, tmp_path / "halves")
    assert second.steps_done == 8
    for name, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name
    assert [row["total"] for row in second.log] == losses


def test_previews_do_not_disturb_training(tmp_path: Path) -> None:
    options = TrainingOptions(steps=3, batch_size=2, warmup_steps=0, preview_every=100)
    quiet, watched = make_objective(), make_objective()
    train(quiet, options, tmp_path / "quiet")
    train(watched, TrainingOptions(**{**options.__dict__, "preview_every": 1}), tmp_path / "watched")
    assert len(list((tmp_path / "watched" / "previews").iterdir())) == 3
    for name, value in quiet.model.state_dict().items():
        assert torch.equal(value, watched.model.state_dict()[name]), name


def test_preview_shows_the_photo_reconstruction_styles_and_results() -> None:
    objective = make_objective()
    with torch.inference_mode():
        picture = objective.preview()
    assert picture.shape == (1, 3, 48, 32 * 3)
    # the trained modules are untouched by the preview (it works on copies)
    assert all(parameter.requires_grad for parameter in objective.model.parameters())
    terms = objective.losses(step_generator(0, 0), 2)
    terms["total"].backward()


def test_train_arbitrary_writes_a_decoder_with_its_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("painterly.encoders.vgg.vgg16", lambda layers: make_tiny_encoder(layers))
    photos, paintings = tmp_path / "photos", tmp_path / "paintings"
    photos.mkdir()
    paintings.mkdir()
    for index in range(3):
        image = (gradient_image(40, 48, seed=index)[0].permute(1, 2, 0).numpy() * 255).astype("uint8")
        Image.fromarray(image).save(photos / f"p{index}.png")
        Image.fromarray(image[::-1]).save(paintings / f"Painting {index}.png")
    result, path = train_arbitrary(
        sorted(paintings.iterdir()),
        photos,
        tmp_path / "run",
        spec=DecoderSpec(width=4, quarter_convs=0),
        options=TrainingOptions(steps=3, batch_size=4, preview_every=2),
        crop=32,
        held_out=["starry_night"],
        preview_styles=[paintings / "Painting 0.png"],
        precision="fp32",
    )
    decoder, info = load_decoder(path)
    assert decoder.spec.in_channels == 8  # taken from the encoder
    assert info["steps"] == 3 and info["held_out"] == ["starry_night"]
    assert info["paintings"] == ["painting_0", "painting_1", "painting_2"]
    assert (tmp_path / "run" / "previews" / "step_000002.png").is_file()
    card = (tmp_path / "run" / "MODEL_CARD.md").read_text()
    assert "painting_0" in card and "starry_night" in card and "3 of 3 planned steps" in card
    assert result.stopped_by == "steps"
