"""Distillation: targets made by the optimisation (resumable, refused when mixed), the pairs they load as, the loss
towards them against a hand reference, the objective's sum with the perceptual loss, and the CLI end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from painterly.cli import main
from painterly.config import GatysConfig
from painterly.errors import ConfigError, InputImageError
from painterly.image.io import load_image, save_image
from painterly.methods.feedforward import NetworkSpec
from painterly.methods.gatys import GatysTransfer
from painterly.training import distillation
from painterly.training.data import load_folder, step_generator
from painterly.training.distillation import (
    MANIFEST_NAME,
    DistillationObjective,
    DistillationTargets,
    DistillationWeights,
    TargetSettings,
    make_targets,
    pair_name,
)
from painterly.training.feedforward import PHOTO_MAX_SIDE, FeedForwardObjective, PerceptualWeights, build_network
from tests.conftest import gradient_image, make_tiny_encoder, tiny_feedforward_train_args
from tests.training.test_feedforward_recipe import training_folders

Tensor = torch.Tensor
SETTINGS = TargetSettings(per_style=2, crop=64, iterations=10, style_size=48, seed=1)
STYLE_NAMES = ["style_0", "style_1"]


@pytest.fixture
def made_targets(tmp_path: Path, tiny_vgg: None) -> tuple[Path, Path, Path]:
    """(styles folder, photos folder, targets folder) with 2 paintings x 2 targets on a tiny random VGG."""
    styles, photos = training_folders(tmp_path)
    out = tmp_path / "targets"
    make_targets(sorted(styles.iterdir()), photos, out, SETTINGS, device="cpu", precision="fp32")
    return styles, photos, out


def count_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the optimisation's runs from here on."""
    from painterly.methods.gatys import GatysTransfer

    runs: list[int] = []
    real_run = GatysTransfer.run

    def counting(self: GatysTransfer, *args: object, **kwargs: object) -> object:
        runs.append(1)
        return real_run(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(GatysTransfer, "run", counting)
    return runs


def test_targets_are_the_seeded_crops_and_their_optimisation(made_targets: tuple[Path, Path, Path]) -> None:
    styles, photos, out = made_targets
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["styles"] == STYLE_NAMES
    assert manifest["settings"]["per_style"] == 2 and manifest["settings"]["crop"] == 64
    sampler = load_folder(photos, crop=64, max_side=PHOTO_MAX_SIDE)
    # what `painterly transfer` does with the crop: 64 px output, the painting at 48 px, 10 iterations, strength 0.5
    transfer = GatysTransfer(GatysConfig(size=64, iterations=(10,), style_scale=48 / 64, seed=1, precision="fp32"))
    for style_index, (name, painting) in enumerate(zip(STYLE_NAMES, sorted(styles.iterdir()), strict=True)):
        crops = sampler.sample(2, torch.Generator().manual_seed(SETTINGS.seed * 1_009 + style_index))
        for index in range(2):
            saved = load_image(out / "photos" / pair_name(name, index))
            torch.testing.assert_close(saved, crops[index : index + 1], rtol=0, atol=0.5 / 255)
            target = load_image(out / "targets" / pair_name(name, index))
            expected = transfer.run(crops[index : index + 1], [load_image(painting)]).image
            torch.testing.assert_close(target, expected, rtol=0, atol=0.5 / 255 + 1e-6)
            assert (target - saved).abs().amax() > 2 / 255  # the optimisation changed the crop
    # the two paintings get different crops (more photos for the shared convolutions)
    first, second = (load_image(out / "photos" / pair_name(name, 0)) for name in STYLE_NAMES)
    assert not torch.equal(first, second)


def test_making_targets_resumes_and_redoes_only_what_is_missing(
    made_targets: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    styles, photos, out = made_targets
    runs = count_runs(monkeypatch)
    kept = (out / "targets" / pair_name("style_1", 0)).read_bytes()
    make_targets(sorted(styles.iterdir()), photos, out, SETTINGS, device="cpu", precision="fp32")
    assert runs == []
    (out / "targets" / pair_name("style_0", 1)).unlink()
    progress: list[distillation.TargetProgress] = []
    make_targets(
        sorted(styles.iterdir()), photos, out, SETTINGS, device="cpu", precision="fp32", on_progress=progress.append
    )
    assert runs == [1]
    assert [item.done for item in progress] == [1, 2, 3, 4] and progress[-1].total == 4
    assert [bool(item.losses) for item in progress] == [False, True, False, False]
    assert (out / "targets" / pair_name("style_0", 1)).exists()
    assert (out / "targets" / pair_name("style_1", 0)).read_bytes() == kept


def test_a_target_folder_made_otherwise_is_refused(made_targets: tuple[Path, Path, Path]) -> None:
    styles, photos, out = made_targets
    other = TargetSettings(per_style=2, crop=64, iterations=11, style_size=48, seed=1)
    with pytest.raises(ConfigError, match="other settings or paintings"):
        make_targets(sorted(styles.iterdir()), photos, out, other, device="cpu", precision="fp32")
    with pytest.raises(ConfigError, match="other settings or paintings"):
        make_targets(sorted(styles.iterdir())[:1], photos, out, SETTINGS, device="cpu", precision="fp32")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"per_style": 0}, "at least one crop"),
        ({"iterations": 0}, "one iteration"),
        ({"crop": 32}, "at least 64 pixels"),
        ({"strength": 1.5}, "within 0..1"),
        ({"style_size": 16}, "at least 32 pixels"),
        ({"style_size": 1100, "crop": 128}, "within 0.05x..8x the crop"),
        ({"seed": -1}, "seed must be >= 0"),
    ],
)
def test_target_settings_are_validated(settings: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TargetSettings(**settings)  # type: ignore[arg-type]


def test_distillation_weights_are_validated() -> None:
    with pytest.raises(ConfigError, match=">= 0"):
        DistillationWeights(pixel_weight=-1)
    with pytest.raises(ConfigError, match="at least one feature layer"):
        DistillationWeights(feature_layers={})
    assert DistillationWeights(feature_layers={}, feature_weight=0).as_dict()["feature_layers"] == {}


def test_pairs_load_in_the_runs_style_order_and_sample_aligned(made_targets: tuple[Path, Path, Path]) -> None:
    _, _, out = made_targets
    pairs = DistillationTargets(out, list(reversed(STYLE_NAMES)))
    assert len(pairs) == 4 and pairs.counts == {"style_1": 2, "style_0": 2}
    assert pairs.styles.tolist() == [0, 0, 1, 1]
    stored = load_image(out / "targets" / pair_name("style_1", 0))
    torch.testing.assert_close(pairs.targets[0].float()[None] / 255, stored, rtol=0, atol=0)
    photos, targets = pairs.sample(torch.tensor([0, 1, 1, 0, 0, 1, 0, 1]), torch.Generator().manual_seed(3))
    assert photos.shape == targets.shape == (8, 3, 64, 64)
    known = [(pairs.photos[i].float() / 255, pairs.targets[i].float() / 255, int(pairs.styles[i])) for i in range(4)]
    flips = []
    for index, style in enumerate([0, 1, 1, 0, 0, 1, 0, 1]):
        matches = [
            flipped
            for photo, target, pair_style in known
            for flipped in (False, True)
            if pair_style == style
            and torch.equal(photos[index], photo.flip(-1) if flipped else photo)
            and torch.equal(targets[index], target.flip(-1) if flipped else target)
        ]
        assert matches, f"image {index} is not a stored pair of its style (flipped together)"
        flips.append(matches[0])
    assert any(flips) and not all(flips)


def test_pairs_missing_or_unfinished_are_errors(made_targets: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, _, out = made_targets
    with pytest.raises(ConfigError, match="no targets for other"):
        DistillationTargets(out, ["style_0", "other"])
    for index in range(2):
        (out / "targets" / pair_name("style_1", index)).unlink()
    with pytest.raises(ConfigError, match="no finished targets for style_1"):
        DistillationTargets(out, STYLE_NAMES)
    assert DistillationTargets(out, ["style_0"]).counts == {"style_0": 2}
    with pytest.raises(InputImageError, match=r"no targets\.json"):
        DistillationTargets(tmp_path / "nowhere", STYLE_NAMES)
    (out / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(InputImageError, match="cannot read"):
        DistillationTargets(out, ["style_0"])
    (out / MANIFEST_NAME).write_text(json.dumps({"format": 99}))
    with pytest.raises(InputImageError, match="not a painterly targets manifest"):
        DistillationTargets(out, ["style_0"])


def test_pairs_of_different_sizes_are_an_error(made_targets: tuple[Path, Path, Path]) -> None:
    _, _, out = made_targets
    save_image(torch.rand(1, 3, 32, 64), out / "targets" / pair_name("style_0", 0))
    with pytest.raises(InputImageError, match="differ in size"):
        DistillationTargets(out, STYLE_NAMES)


LAYERS = ["relu1_1", "relu2_1", "relu2_2", "relu3_1", "relu4_1"]


def distillation_objective(targets: Path, weights: DistillationWeights) -> DistillationObjective:
    styles = {name: gradient_image(48, 48, seed=10 + index) for index, name in enumerate(STYLE_NAMES)}
    photos = load_folder(targets / "photos", crop=32)
    network = build_network(NetworkSpec(width=4, residual_blocks=1, downsamplings=2, edge_kernel=5, styles=2), 3)
    perceptual = FeedForwardObjective(
        network,
        make_tiny_encoder(LAYERS),
        photos,
        styles,
        weights=PerceptualWeights(content_layers={"relu2_2": 1.0}, style_layers={"relu1_1": 1.0}, style_size=48),
        preview_photo=gradient_image(32, 32),
    )
    return DistillationObjective(perceptual, DistillationTargets(targets, STYLE_NAMES), weights)


def test_distillation_terms_match_a_hand_reference(made_targets: tuple[Path, Path, Path]) -> None:
    _, _, out = made_targets
    weights = DistillationWeights(pixel_weight=7.0, feature_weight=3.0, feature_layers={"relu1_1": 1.0, "relu3_1": 0.5})
    objective = distillation_objective(out, weights)
    photos, targets = objective.targets.sample(torch.tensor([0, 1, 1]), torch.Generator().manual_seed(0))
    style_ids = torch.tensor([0, 1, 1])
    terms = objective.distillation_terms(photos, targets, style_ids)
    network, encoder = objective.model, objective.perceptual.encoder
    output = network(photos, F.one_hot(style_ids, 2).float())
    pixel = 7.0 * ((output - targets) ** 2).mean()
    out_features, target_features = encoder(output), encoder(targets)
    relu1 = 3.0 * 1.0 * ((out_features["relu1_1"] - target_features["relu1_1"]) ** 2).mean()
    relu3 = 3.0 * 0.5 * ((out_features["relu3_1"] - target_features["relu3_1"]) ** 2).mean()
    torch.testing.assert_close(terms["distill/pixel"], pixel)
    torch.testing.assert_close(terms["distill/relu1_1"], relu1)
    torch.testing.assert_close(terms["distill/relu3_1"], relu3)
    torch.testing.assert_close(terms["distill"], pixel + relu1 + relu3)
    assert set(terms) == {"distill", "distill/pixel", "distill/relu1_1", "distill/relu3_1"}


def test_objective_adds_the_scaled_perceptual_loss_and_draws_the_same_pairs(
    made_targets: tuple[Path, Path, Path],
) -> None:
    _, _, out = made_targets
    alone = distillation_objective(out, DistillationWeights(perceptual_scale=0.0))
    mixed = distillation_objective(out, DistillationWeights(perceptual_scale=2.5))
    first = alone.losses(step_generator(0, 5), 4)
    again = alone.losses(step_generator(0, 5), 4)
    torch.testing.assert_close(first["total"], again["total"])
    assert "content" not in first and "style" not in first
    torch.testing.assert_close(first["total"], first["distill"])
    both = mixed.losses(step_generator(0, 5), 4)
    perceptual = mixed.perceptual.losses(step_generator(0, 5), 4)
    # same network initialisation and the distillation batch drawn from its own generator: the same distill term
    torch.testing.assert_close(both["distill"], first["distill"])
    torch.testing.assert_close(both["total"], 2.5 * perceptual["total"] + first["distill"])
    assert {"content", "style", "tv", "distill/pixel"} <= set(both)


def test_distillation_alone_trains_every_shared_weight(made_targets: tuple[Path, Path, Path]) -> None:
    _, _, out = made_targets
    objective = distillation_objective(out, DistillationWeights(perceptual_scale=0.0))
    objective.losses(step_generator(0, 0), 4)["total"].backward()  # type: ignore[no-untyped-call]
    for name, parameter in objective.model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert all(p.grad is None for p in objective.perceptual.encoder.parameters())


def test_cli_targets_then_distilled_training(
    tmp_path: Path, tiny_vgg: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("painterly.encoders.vgg.vgg16", lambda *, layers, **_: make_tiny_encoder(list(layers)))
    styles, photos = training_folders(tmp_path)
    targets = tmp_path / "targets"
    command = ["train", "targets", "--styles", str(styles), "--photos", str(photos), "--out", str(targets)]
    options = ["--per-style", "2", "--crop", "64", "--iterations", "2", "--style-size", "48", "--quiet"]
    assert main([*command, *options, "--precision", "fp32", "--device", "cpu"]) == 0
    assert "targets:" in capsys.readouterr().out
    assert len(list((targets / "targets").iterdir())) == 4
    run = tmp_path / "run"
    extra = ["--steps", "2", "--targets", str(targets), "--pixel-weight", "50", "--perceptual-scale", "0.5"]
    assert main(tiny_feedforward_train_args(styles, photos, run, *extra)) == 0
    log = json.loads((run / "log.json").read_text())
    assert {"distill", "distill/pixel", "distill/relu4_1", "style", "content"} <= set(log[0])
    card = (run / "MODEL_CARD.md").read_text()
    assert "Distillation: 4 optimisation results" in card and "x50" in card and "perceptual loss x0.5" in card
    assert log[0]["total"] == pytest.approx(
        log[0]["content"] + log[0]["style"] + log[0]["tv"] + log[0]["distill"], rel=1e-5
    )


def test_cli_targets_errors_are_one_line(
    tmp_path: Path, tiny_vgg: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("painterly.encoders.vgg.vgg16", lambda *, layers, **_: make_tiny_encoder(list(layers)))
    styles, photos = training_folders(tmp_path)

    def one_line_error(args: list[str], expected: str) -> None:
        code = main(args)
        errors = capsys.readouterr().err
        lines = [line for line in errors.splitlines() if line.strip()]
        assert code != 0 and len(lines) == 1 and expected in lines[0], errors
        assert "Traceback" not in errors

    run = tmp_path / "run"
    one_line_error(
        tiny_feedforward_train_args(styles, photos, run, "--steps", "1", "--targets", str(tmp_path / "none")),
        "no targets.json",
    )
    one_line_error(tiny_feedforward_train_args(styles, photos, run, "--pixel-weight", "5"), "add --targets")
    assert not (run / "model.safetensors").exists()
    targets = tmp_path / "targets"
    base = ["train", "targets", "--styles", str(styles), "--photos", str(photos), "--out", str(targets), "--quiet"]
    tiny = ["--crop", "64", "--iterations", "1", "--style-size", "48", "--per-style", "1", "--device", "cpu"]
    assert main([*base, *tiny]) == 0
    capsys.readouterr()
    one_line_error([*base, *tiny, "--strength", "0.9"], "other settings or paintings")
    one_line_error([*base[:3], str(tmp_path / "missing"), *base[4:], *tiny], "not a folder of images")
    assert main([*base, *tiny, "--crop", "40"]) == 2
    assert "40 is not in the range x>=64" in capsys.readouterr().err


def test_a_refused_folder_is_not_claimed(tmp_path: Path, tiny_vgg: None) -> None:
    styles, _ = training_folders(tmp_path)
    out = tmp_path / "targets"
    with pytest.raises(InputImageError, match="not a folder of images"):
        make_targets(sorted(styles.iterdir()), tmp_path / "no_photos", out, SETTINGS, device="cpu")
    assert not out.exists()


def test_leftovers_of_a_killed_write_are_not_targets(made_targets: tuple[Path, Path, Path]) -> None:
    _, _, out = made_targets
    (out / "targets" / pair_name("style_0", 1)).unlink()
    (out / "targets" / f".{pair_name('style_0', 1)}.123-4.partial").write_bytes(b"\x89PNG half")
    assert DistillationTargets(out, STYLE_NAMES).counts == {"style_0": 1, "style_1": 2}


def test_a_damaged_manifest_is_one_clear_error(made_targets: tuple[Path, Path, Path]) -> None:
    _, _, out = made_targets
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    del manifest["settings"]["seed"]
    (out / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(InputImageError, match="is damaged"):
        DistillationTargets(out, STYLE_NAMES)


def test_steps_draw_different_pairs_and_negative_seeds_work(made_targets: tuple[Path, Path, Path]) -> None:
    _, _, out = made_targets
    objective = distillation_objective(out, DistillationWeights(perceptual_scale=0.0))
    totals = {float(objective.losses(step_generator(0, step), 2)["distill/pixel"]) for step in range(6)}
    assert len(totals) > 1
    assert torch.isfinite(objective.losses(step_generator(-1, 0), 2)["total"])


def test_distilled_runs_resume_exactly_and_refuse_changed_targets(
    made_targets: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from painterly.training.loop import TrainingOptions, train

    _, _, out = made_targets
    weights = DistillationWeights(perceptual_scale=0.5)

    def run(folder: Path, steps: int) -> list[float]:
        options = TrainingOptions(steps=steps, batch_size=2, checkpoint_every=2, preview_every=100)
        result = train(distillation_objective(out, weights), options, folder)
        return [record["total"] for record in result.log]

    straight = run(tmp_path / "straight", 4)
    run(tmp_path / "resumed", 2)
    torch.testing.assert_close(run(tmp_path / "resumed", 4), straight, rtol=1e-5, atol=0)
    (out / "targets" / pair_name("style_1", 1)).unlink()
    with pytest.raises(ConfigError, match="made with different settings"):
        run(tmp_path / "resumed", 6)
