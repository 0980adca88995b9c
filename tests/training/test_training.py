"""Training machinery: crops, schedule, checkpoints with exact resume, the feed-forward objective."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from painterly.errors import ConfigError, InputImageError, OutputError, TrainingError
from painterly.methods.feedforward import NetworkSpec
from painterly.training.data import CropSampler, image_files, load_folder, step_generator
from painterly.training.feedforward import FeedForwardObjective, PerceptualWeights, build_network, style_names_of
from painterly.training.loop import CHECKPOINT_NAME, TrainingOptions, TrainingProgress, train
from tests.conftest import gradient_image, make_tiny_encoder

LAYERS = ["relu1_2", "relu2_2", "relu3_3"]
WEIGHTS = PerceptualWeights(
    content_layers={"relu2_2": 1.0}, style_layers={"relu1_2": 1.0, "relu3_3": 1.0}, style_weight=1e3, style_size=48
)


def make_objective(seed: int = 0, styles: int = 2) -> FeedForwardObjective:
    photos = CropSampler([gradient_image(40, 56, seed=index) for index in range(3)], crop=32)
    style_images = {f"s{index}": gradient_image(48, 48, seed=10 + index) ** (index + 1) for index in range(styles)}
    network = build_network(
        NetworkSpec(width=4, residual_blocks=1, downsamplings=2, edge_kernel=5, styles=styles), seed
    )
    return FeedForwardObjective(
        network,
        make_tiny_encoder(LAYERS),
        photos,
        style_images,
        weights=WEIGHTS,
        preview_photo=gradient_image(24, 32),
    )


def test_crops_are_deterministic_per_step_and_flip() -> None:
    sampler = CropSampler([torch.rand(1, 3, 40, 60), torch.rand(1, 3, 20, 30)], crop=32)
    first = sampler.sample(6, step_generator(3, 7))
    assert first.shape == (6, 3, 32, 32) and first.dtype == torch.float32
    assert torch.equal(first, sampler.sample(6, step_generator(3, 7)))
    assert not torch.equal(first, sampler.sample(6, step_generator(3, 8)))
    assert min(image.shape[-2] for image in sampler.images) >= 32  # the small image was scaled up to the crop


def test_crop_sampler_rejects_bad_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least 8"):
        CropSampler([torch.rand(1, 3, 40, 40)], crop=4)
    with pytest.raises(ConfigError, match="no training images"):
        CropSampler([], crop=16)
    with pytest.raises(InputImageError, match="not a folder"):
        image_files(tmp_path / "missing")
    with pytest.raises(InputImageError, match="no images found"):
        image_files(tmp_path)
    Image.new("RGB", (50, 40), "red").save(tmp_path / "b.png")
    Image.new("RGB", (50, 40), "blue").save(tmp_path / "a.jpg")
    (tmp_path / "notes.txt").write_text("x")
    assert [path.name for path in image_files(tmp_path)] == ["a.jpg", "b.png"]
    assert len(load_folder(tmp_path, crop=32)) == 2


def test_balanced_style_ids_cover_the_styles() -> None:
    from painterly.training.feedforward import balanced_style_ids

    ids = balanced_style_ids(10, 4, step_generator(0, 1))
    assert len(set(ids.tolist())) == 4 and ids.max() < 10
    counts = torch.bincount(balanced_style_ids(3, 12, step_generator(0, 2)), minlength=3)
    assert counts.tolist() == [4, 4, 4]
    assert not torch.equal(
        balanced_style_ids(10, 10, step_generator(0, 3)), balanced_style_ids(10, 10, step_generator(0, 4))
    )


def test_learning_rate_schedule() -> None:
    options = TrainingOptions(steps=100, learning_rate=1e-3, warmup_steps=10, final_learning_rate_ratio=0.1)
    assert options.learning_rate_at(0) < options.learning_rate_at(9) < 1e-3
    assert options.learning_rate_at(10) == pytest.approx(1e-3)
    assert options.learning_rate_at(100) == pytest.approx(1e-4)
    rates = [options.learning_rate_at(step) for step in range(10, 101)]
    assert all(a >= b for a, b in itertools.pairwise(rates))


def test_learning_rate_decays_over_the_budget_when_asked() -> None:
    options = TrainingOptions(
        steps=100_000, warmup_steps=10, final_learning_rate_ratio=0.1, budget_seconds=60.0, decay_over_budget=True
    )
    assert options.learning_rate_at(5, 0.9) == options.learning_rate_at(5, 0.0)  # warm-up counts steps
    assert options.learning_rate_at(20, 0.5) == pytest.approx(0.55e-3)
    assert options.learning_rate_at(20, 1.0) == pytest.approx(1e-4)
    assert options.learning_rate_at(20, 3.0) == pytest.approx(1e-4)
    assert options.learning_rate_at(100_000, 0.0) == pytest.approx(1e-4)  # the steps still end it
    without = TrainingOptions(steps=100_000, warmup_steps=10, budget_seconds=60.0)
    assert without.learning_rate_at(20, 1.0) == pytest.approx(1e-3, rel=1e-6)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"steps": 0}, "at least 1"),
        ({"learning_rate": -1.0}, "learning rate"),
        ({"final_learning_rate_ratio": 2.0}, "ratio"),
        ({"budget_seconds": 0.0}, "budget"),
        ({"decay_over_budget": True}, "needs a time budget"),
        ({"checkpoint_every": 0}, "intervals"),
    ],
)
def test_bad_training_options(options: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainingOptions(**options)  # type: ignore[arg-type]


def test_objective_checks_its_inputs() -> None:
    network = build_network(NetworkSpec(width=4, residual_blocks=1, downsamplings=2, styles=3), 0)
    photos = CropSampler([gradient_image(40, 40)], crop=32)
    with pytest.raises(ConfigError, match="3 style rows but 1 styles"):
        FeedForwardObjective(network, make_tiny_encoder(LAYERS), photos, {"a": gradient_image(32, 32)}, weights=WEIGHTS)
    network = build_network(NetworkSpec(width=4, residual_blocks=1, downsamplings=2, styles=1), 0)
    with pytest.raises(ConfigError, match="does not provide relu3_3"):
        FeedForwardObjective(
            network, make_tiny_encoder(["relu1_2", "relu2_2"]), photos, {"a": gradient_image(32, 32)}, weights=WEIGHTS
        )
    assert style_names_of(["x/Starry Night.jpg", "y/the-scream.png"]) == ["starry_night", "the_scream"]
    assert style_names_of(["monet, lilies: 2.jpg"]) == ["monet_lilies_2"]
    with pytest.raises(ConfigError, match="cannot make style names"):
        style_names_of(["x/!!!.jpg"])
    with pytest.raises(ConfigError, match="unique"):
        style_names_of(["a/x.jpg", "b/x.png"])


def test_a_few_steps_lower_the_loss(tmp_path: Path) -> None:
    objective = make_objective()
    photos = objective.photos.sample(4, step_generator(99, 0))
    style_ids = torch.tensor([0, 1, 0, 1])
    with torch.no_grad():
        before = float(objective.losses_for(photos, style_ids)["total"])
    options = TrainingOptions(steps=30, batch_size=4, learning_rate=1e-2, warmup_steps=2, checkpoint_every=10)
    result = train(objective, options, tmp_path / "run")
    with torch.no_grad():
        after = float(objective.losses_for(photos, style_ids)["total"])
    assert result.steps_done == 30 and result.stopped_by == "steps"
    assert after < 0.7 * before
    log = json.loads((tmp_path / "run" / "log.json").read_text())
    assert len(log) == 30 and {"total", "content", "style", "tv", "style/relu1_2"} <= set(log[0])
    assert (tmp_path / "run" / "loss.png").is_file()
    assert sorted(path.name for path in (tmp_path / "run" / "previews").iterdir()) == ["step_000030.png"]


def test_resume_continues_exactly(tmp_path: Path) -> None:
    options = TrainingOptions(steps=8, batch_size=2, learning_rate=5e-3, warmup_steps=2, checkpoint_every=2)
    straight = make_objective()
    train(straight, options, tmp_path / "straight")

    def stop_at_four(progress: TrainingProgress) -> None:
        if progress.step == 4:
            raise KeyboardInterrupt  # as a Ctrl-C would: the state is checkpointed on the way out

    with pytest.raises(KeyboardInterrupt):
        train(make_objective(), options, tmp_path / "resumed", on_progress=stop_at_four)
    events: list[TrainingProgress] = []
    resumed = make_objective(seed=5)  # a different initialisation: the checkpoint must replace it
    result = train(resumed, options, tmp_path / "resumed", on_progress=events.append)
    assert events[0].event == "resumed" and events[0].step == 4
    assert result.steps_done == 8
    for (name, value), (_, expected) in zip(
        resumed.model.state_dict().items(), straight.model.state_dict().items(), strict=True
    ):
        assert torch.equal(value, expected), name
    straight_log = json.loads((tmp_path / "straight" / "log.json").read_text())
    resumed_log = json.loads((tmp_path / "resumed" / "log.json").read_text())
    assert [row["total"] for row in resumed_log] == [row["total"] for row in straight_log]


def test_resume_refuses_other_settings_and_can_be_refused(tmp_path: Path) -> None:
    options = TrainingOptions(steps=2, batch_size=2, checkpoint_every=1)
    train(make_objective(), options, tmp_path / "run")
    with pytest.raises(OutputError, match="exists"):
        train(make_objective(), options, tmp_path / "run", resume=False)
    with pytest.raises(ConfigError, match="different settings"):
        train(make_objective(styles=3), TrainingOptions(steps=3, batch_size=2), tmp_path / "run")
    with pytest.raises(ConfigError, match="batch_size=2"):
        train(make_objective(), TrainingOptions(steps=3, batch_size=3), tmp_path / "run")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / CHECKPOINT_NAME).write_bytes(b"junk")
    with pytest.raises(TrainingError, match="not a readable painterly checkpoint"):
        train(make_objective(), options, tmp_path / "bad")


def test_budget_stops_and_interrupt_keeps_a_checkpoint(tmp_path: Path) -> None:
    result = train(make_objective(), TrainingOptions(steps=1000, batch_size=1, budget_seconds=0.5), tmp_path / "b")
    assert result.stopped_by == "budget" and 0 < result.steps_done < 1000
    assert (tmp_path / "b" / CHECKPOINT_NAME).is_file()

    def interrupt(progress: TrainingProgress) -> None:
        if progress.step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(
            make_objective(),
            TrainingOptions(steps=10, batch_size=1, checkpoint_every=100),
            tmp_path / "i",
            on_progress=interrupt,
        )
    state = torch.load(tmp_path / "i" / CHECKPOINT_NAME, weights_only=True)
    assert state["step"] == 3


def test_a_diverging_loss_stops_with_a_typed_error(tmp_path: Path) -> None:
    from painterly.errors import TrainingError

    objective = make_objective()
    original = objective.losses

    def diverging(generator: torch.Generator, batch_size: int) -> dict[str, torch.Tensor]:
        terms = original(generator, batch_size)
        return {**terms, "total": terms["total"] * float("nan")}

    objective.losses = diverging  # type: ignore[method-assign]
    with pytest.raises(TrainingError, match="diverged at step 1"):
        train(objective, TrainingOptions(steps=3, batch_size=1), tmp_path / "run")


def test_preview_shows_the_photo_and_every_style() -> None:
    objective = make_objective(styles=2)
    with torch.inference_mode():
        picture = objective.preview()
    assert picture.shape == (1, 3, 24, 32 * 3)
    assert torch.equal(picture[..., :32], objective.preview_photo)
