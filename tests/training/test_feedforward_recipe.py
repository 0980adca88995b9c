"""The feed-forward training recipe: per-image losses, per-style balance, batch prefetching, a log without
matplotlib, imports without OpenCV/tifffile/matplotlib, and the `train feedforward` loss options."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import wait
from importlib.machinery import ModuleSpec
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

from painterly.cli import main
from painterly.methods.feedforward import NetworkSpec
from painterly.ops import total_variation
from painterly.training import loop
from painterly.training.data import BatchPrefetcher, CropSampler, step_generator
from painterly.training.feedforward import (
    BALANCE_CROPS,
    LOSS_SETS,
    FeedForwardObjective,
    PerceptualWeights,
    build_network,
)
from tests.conftest import TINY_VGG16, gradient_image, make_tiny_encoder, tiny_feedforward_train_args

LAYERS = ["relu1_2", "relu2_2", "relu3_3"]
REPO = Path(__file__).resolve().parents[2]
Tensor = torch.Tensor


def recipe_weights(balance: bool) -> PerceptualWeights:
    """Unequal layer and term weights, so that a term weighted wrongly shows."""
    return PerceptualWeights(
        content_layers={"relu2_2": 1.5},
        style_layers={"relu1_2": 1.0, "relu3_3": 2.0},
        content_weight=2.0,
        style_weight=1e3,
        tv_weight=0.5,
        style_size=48,
        balance_styles=balance,
    )


def default_styles(count: int = 2) -> dict[str, Tensor]:
    return {f"s{index}": gradient_image(48, 48, seed=10 + index) ** (index + 1) for index in range(count)}


def build(balance: bool, styles: Mapping[str, Tensor] | None = None) -> FeedForwardObjective:
    styles = dict(styles) if styles is not None else default_styles()
    photos = CropSampler([gradient_image(40, 56, seed=index) for index in range(3)], crop=32)
    network = build_network(
        NetworkSpec(width=4, residual_blocks=1, downsamplings=2, edge_kernel=5, styles=len(styles)), 3
    )
    return FeedForwardObjective(network, make_tiny_encoder(LAYERS), photos, styles, weights=recipe_weights(balance))


def gram(features: Tensor) -> Tensor:
    batch, channels, height, width = features.shape
    flat = features.reshape(batch, channels, height * width)
    return flat @ flat.transpose(1, 2) / (channels * height * width)


def target_grams(objective: FeedForwardObjective, styles: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """{layer: (styles, C, C)}; the style images are 48 pixels wide already (style_size 48: no resize)."""
    grams: dict[str, list[Tensor]] = {layer: [] for layer in objective.weights.style_layers}
    for image in styles.values():
        assert max(image.shape[-2:]) == objective.weights.style_size
        features = objective.encoder(image)
        for layer in grams:
            grams[layer].append(gram(features[layer])[0])
    return {layer: torch.stack(values) for layer, values in grams.items()}


def per_image_reference(
    objective: FeedForwardObjective, styles: Mapping[str, Tensor], photos: Tensor, style_ids: Tensor
) -> dict[str, Tensor]:
    """(B,) content, style, tv and per-layer terms of each image, by hand (no balance)."""
    weights = objective.weights
    output = objective.model(photos, F.one_hot(style_ids, len(styles)).float())
    features = objective.encoder(output)
    targets = objective.encoder(photos)
    grams = target_grams(objective, styles)
    terms: dict[str, Tensor] = {}
    for layer, weight in weights.content_layers.items():
        difference = features[layer] - targets[layer]
        terms[f"content/{layer}"] = weights.content_weight * weight * difference.pow(2).flatten(1).mean(1)
    for layer, weight in weights.style_layers.items():
        difference = gram(features[layer]) - grams[layer][style_ids]
        terms[f"style/{layer}"] = weights.style_weight * weight * difference.pow(2).flatten(1).mean(1)
    dx = output[..., :, 1:] - output[..., :, :-1]
    dy = output[..., 1:, :] - output[..., :-1, :]
    terms["tv"] = weights.tv_weight * (dx.pow(2).flatten(1).mean(1) + dy.pow(2).flatten(1).mean(1))
    terms["content"] = sum((terms[f"content/{layer}"] for layer in weights.content_layers), torch.zeros(1))
    terms["style"] = sum((terms[f"style/{layer}"] for layer in weights.style_layers), torch.zeros(1))
    terms["total"] = terms["content"] + terms["style"] + terms["tv"]
    return terms


def balance_reference(objective: FeedForwardObjective, styles: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
    """(style loss of each style on the untouched balance crops, the factors (1/L) / mean(1/L)), by hand."""
    weights = objective.weights
    crops = objective.photos.sample(BALANCE_CROPS, torch.Generator().manual_seed(0))
    features = objective.encoder(crops)
    grams = target_grams(objective, styles)
    losses = []
    for index in range(len(styles)):
        loss = torch.zeros(())
        for layer, weight in weights.style_layers.items():
            loss = loss + weights.style_weight * weight * F.mse_loss(
                gram(features[layer]), grams[layer][index].expand(crops.shape[0], -1, -1)
            )
        losses.append(loss)
    style_losses = torch.stack(losses)
    inverse = 1.0 / style_losses
    return style_losses, inverse / inverse.mean()


def batch(objective: FeedForwardObjective, ids: list[int]) -> tuple[Tensor, Tensor]:
    return objective.photos.sample(len(ids), step_generator(11, 0)), torch.tensor(ids)


def test_losses_without_balance_are_the_plain_batch_means() -> None:
    styles = default_styles()
    objective = build(balance=False, styles=styles)
    assert objective.style_balance is None
    photos, style_ids = batch(objective, [0, 1, 1, 0, 1])
    with torch.no_grad():
        losses = objective.losses_for(photos, style_ids)
        # the old formula, batch-wide: mse over the batch of features, Gram matrices and pixel differences
        output = objective.model(photos, F.one_hot(style_ids, 2).float())
        features, targets = objective.encoder(output), objective.encoder(photos)
        grams = target_grams(objective, styles)
    content = 2.0 * 1.5 * F.mse_loss(features["relu2_2"], targets["relu2_2"])
    style_terms = {
        layer: 1e3 * weight * F.mse_loss(gram(features[layer]), grams[layer][style_ids])
        for layer, weight in {"relu1_2": 1.0, "relu3_3": 2.0}.items()
    }
    style = style_terms["relu1_2"] + style_terms["relu3_3"]
    tv = 0.5 * (
        (output[..., 1:] - output[..., :-1]).pow(2).mean() + (output[..., 1:, :] - output[..., :-1, :]).pow(2).mean()
    )
    expected = {
        "content": content,
        "style": style,
        "tv": tv,
        "total": content + style + tv,
        "content/relu2_2": content,
        **{f"style/{layer}": value for layer, value in style_terms.items()},
    }
    assert set(losses) == set(expected)
    for key, value in expected.items():
        assert float(value) > 0, key
        torch.testing.assert_close(losses[key], value, rtol=1e-5, atol=0, msg=key)


def test_balance_factors_are_the_inverse_style_losses_of_the_untouched_crops() -> None:
    styles = default_styles(3)
    objective = build(balance=True, styles=styles)
    balance = objective.style_balance
    assert balance is not None and balance.shape == (3,) and not balance.requires_grad
    assert bool((balance > 0).all())
    assert float(balance.mean()) == pytest.approx(1.0, rel=1e-6)
    with torch.no_grad():
        style_losses, expected = balance_reference(objective, styles)
    assert bool((style_losses > 0).all())
    torch.testing.assert_close(balance, expected, rtol=1e-5, atol=0)


def test_balanced_total_is_the_mean_of_per_image_totals_times_factors() -> None:
    styles = default_styles(3)
    objective = build(balance=True, styles=styles)
    balance = objective.style_balance
    assert balance is not None
    photos, style_ids = batch(objective, [2, 0, 1, 2, 2])
    with torch.no_grad():
        losses = objective.losses_for(photos, style_ids)
        reference = per_image_reference(objective, styles, photos, style_ids)
    factor = balance[style_ids]
    for key, per_image in reference.items():
        expected = (per_image * factor).mean()
        torch.testing.assert_close(losses[key], expected, rtol=1e-5, atol=0, msg=key)
    # the factors matter: the plain mean differs
    assert abs(float(losses["total"]) - float(reference["total"].mean())) > 1e-3 * float(losses["total"])
    # and the total still trains the network
    total = objective.losses_for(photos, style_ids)["total"]
    total.backward()  # type: ignore[no-untyped-call]
    assert all(p.grad is not None for p in objective.model.parameters() if p.requires_grad)


def test_balance_separates_styles_with_different_statistics() -> None:
    flat = torch.full((1, 3, 48, 48), 0.5)
    noise = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(4))
    styles = {"flat": flat, "gradient": gradient_image(48, 48, seed=2), "noise": noise}
    objective = build(balance=True, styles=styles)
    balance = objective.style_balance
    assert balance is not None
    with torch.no_grad():
        style_losses, _ = balance_reference(objective, styles)
    assert float(balance.max() / balance.min()) > 1.5
    assert float(style_losses.max() / style_losses.min()) > 1.5
    # the style the photos are furthest from gets the smallest factor, and so on
    assert torch.argsort(balance).tolist() == torch.argsort(style_losses, descending=True).tolist()

    same = build(balance=True, styles={"a": noise, "b": noise.clone()})
    assert same.style_balance is not None
    torch.testing.assert_close(same.style_balance, torch.ones(2), rtol=1e-6, atol=0)


def test_loss_sets_name_the_recipes() -> None:
    gatys_content, gatys_style = LOSS_SETS["gatys"]
    johnson_content, johnson_style = LOSS_SETS["johnson"]
    assert gatys_content == {"relu4_2": 1.0} and set(gatys_style) == {f"relu{i}_1" for i in range(1, 6)}
    assert johnson_content == {"relu3_3": 1.0} and set(johnson_style) == {"relu1_2", "relu2_2", "relu3_3", "relu4_3"}
    assert PerceptualWeights().content_layers == gatys_content and PerceptualWeights().balance_styles is False


def test_total_variation_per_image() -> None:
    images = torch.rand(4, 3, 7, 9, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    images[2] = 0.25  # a flat image has none
    for circular in (False, True):
        per_image = total_variation(images, per_image=True, circular=circular)
        assert per_image.shape == (4,)
        assert float(per_image[2]) == 0.0
        torch.testing.assert_close(per_image.mean(), total_variation(images, circular=circular), rtol=1e-12, atol=0)
        for index in range(4):
            alone = total_variation(images[index : index + 1], circular=circular)
            torch.testing.assert_close(per_image[index], alone, rtol=1e-12, atol=0)
    tiny = torch.rand(2, 3, 4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    tiny.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda image: total_variation(image, per_image=True), (tiny,))


def sampling_draw(calls: list[str]) -> Callable[[torch.Generator], tuple[Tensor, Tensor]]:
    def draw(generator: torch.Generator) -> tuple[Tensor, Tensor]:
        calls.append(threading.current_thread().name)
        return torch.rand(2, 3, generator=generator), torch.randint(100, (5,), generator=generator)

    return draw


def test_batch_prefetcher_returns_exactly_the_drawn_batches() -> None:
    calls: list[str] = []
    draw = sampling_draw(calls)
    reference = sampling_draw([])
    prefetcher = BatchPrefetcher(draw)
    try:
        for step in [0, 1, 2, 3, 4, 7, 8, 2, 2]:
            got = prefetcher.get(step_generator(5, step))
            expected = reference(step_generator(5, step))
            assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1]), step
        # steps 1-4 and 8 came from the thread, drawn ahead; 0, 7 and the repeated 2s in place
        assert sum(name.startswith("painterly-batches") for name in calls) >= 5
        assert not torch.equal(prefetcher.get(step_generator(5, 9))[0], prefetcher.get(step_generator(6, 9))[0])
    finally:
        prefetcher.close()
    assert prefetcher.pending is not None
    wait([prefetcher.pending[1]], timeout=5)
    assert prefetcher.pending[1].done()
    prefetcher.close()  # twice is fine


LOG = [
    {"step": step, "total": 3.0 / step, "content": 1.0, "style": 2.0 / step, "tv": 0.1, "style/relu1_2": 2.0 / step}
    for step in range(1, 6)
]


def test_write_log_without_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> ModuleSpec | None:
        return None if name.split(".")[0] == "matplotlib" else real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)  # what painterly.training.loop asks
    loop.write_log(LOG, tmp_path)
    assert json.loads((tmp_path / loop.LOG_NAME).read_text()) == LOG
    assert not (tmp_path / loop.PLOT_NAME).exists()


def test_write_log_with_matplotlib(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    loop.write_log(LOG, tmp_path)
    assert json.loads((tmp_path / loop.LOG_NAME).read_text()) == LOG
    assert (tmp_path / loop.PLOT_NAME).read_bytes().startswith(b"\x89PNG")


BARE_MACHINE = """
import importlib.abc, sys
from pathlib import Path

BLOCKED = ("cv2", "tifffile", "matplotlib", "skimage", "av", "scipy")

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked")
        return None

sys.meta_path.insert(0, Block())
for name in BLOCKED:  # as if not installed: imports fail and importlib.util.find_spec answers None
    sys.modules[name] = None

import torch
import painterly.commands.train
import painterly.training.feedforward
from painterly.image.io import load_image, save_image
from painterly.training.loop import LOG_NAME, PLOT_NAME, write_log

folder = Path(sys.argv[1])
image = torch.rand(1, 3, 9, 13, generator=torch.Generator().manual_seed(0))
save_image(image, folder / "picture.png")
loaded = load_image(folder / "picture.png")
assert loaded.shape == (1, 3, 9, 13), loaded.shape
assert float((loaded - image).abs().max()) <= 0.5 / 255 + 1e-6
write_log([{"total": 1.0, "content": 0.5, "style": 0.5, "tv": 0.0}], folder)
assert (folder / LOG_NAME).is_file() and not (folder / PLOT_NAME).exists()
loaded_blocked = [name for name in BLOCKED if sys.modules.get(name) is not None]
assert not loaded_blocked, loaded_blocked
print("bare ok")
"""


def test_training_imports_without_optional_packages(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", BARE_MACHINE, str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "bare ok" in result.stdout


def training_folders(tmp_path: Path) -> tuple[Path, Path]:
    styles, photos = tmp_path / "styles", tmp_path / "photos"
    styles.mkdir()
    photos.mkdir()
    for index in range(2):
        array = (gradient_image(48, 48, seed=index)[0].permute(1, 2, 0).numpy() ** (index + 1) * 255).astype(np.uint8)
        Image.fromarray(array).save(styles / f"style-{index}.png")
    for index in range(2):
        array = (gradient_image(40, 48, seed=5 + index)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        Image.fromarray(array).save(photos / f"p{index}.png")
    return styles, photos


def trained_losses(model: Path) -> dict[str, object]:
    with safe_open(str(model), "pt") as handle:
        metadata = handle.metadata()
    losses: dict[str, object] = json.loads(metadata["info"])["losses"]
    return losses


@pytest.mark.parametrize("content", [b"not a safetensors file at all", None])
def test_cli_unreadable_loss_network_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None
) -> None:
    styles, photos = training_folders(tmp_path)
    network = tmp_path / "vgg16.safetensors"
    if content is not None:
        network.write_bytes(content)
    code = main(
        tiny_feedforward_train_args(styles, photos, tmp_path / "run", "--steps", "2", "--loss-network", str(network))
    )
    errors = capsys.readouterr().err
    assert code != 0
    lines = [line for line in errors.splitlines() if line.strip()]
    assert len(lines) == 1, errors
    assert "cannot read the loss network" in lines[0] and str(network) in lines[0]
    assert "Traceback" not in errors
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_cli_johnson_losses_without_balance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("painterly.encoders.vgg.vgg16", lambda *, layers, **_: make_tiny_encoder(list(layers)))
    styles, photos = training_folders(tmp_path)
    run = tmp_path / "run"
    assert (
        main(
            tiny_feedforward_train_args(
                styles, photos, run, "--steps", "2", "--losses", "johnson", "--no-balance-styles"
            )
        )
        == 0
    )
    assert "2 steps in" in capsys.readouterr().out
    log = json.loads((run / "log.json").read_text())
    assert len(log) == 2
    assert {"content/relu3_3", "style/relu1_2", "style/relu2_2", "style/relu3_3", "style/relu4_3"} <= set(log[0])
    assert not any(key in log[0] for key in ("content/relu4_2", "style/relu1_1", "style/relu5_1"))
    losses = trained_losses(run / "model.safetensors")
    assert losses["balance_styles"] is False
    assert losses["content_layers"] == LOSS_SETS["johnson"][0]
    assert losses["style_layers"] == LOSS_SETS["johnson"][1]


def test_cli_default_recipe_is_gatys_balanced_with_a_carried_loss_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real vgg16 builder on VGG16's layout at tiny widths, its weights from an fp16 --loss-network file."""
    from painterly.encoders import vgg
    from painterly.encoders.layout import VGG_CONFIGS

    monkeypatch.setattr(vgg, "VGG_CONFIGS", {**VGG_CONFIGS, "vgg16": TINY_VGG16})
    donor = make_tiny_encoder(["relu5_1"], seed=7)
    file = tmp_path / "vgg16_fp16.safetensors"
    save_file({name: value.half().contiguous() for name, value in donor.body.state_dict().items()}, str(file))
    built: list[vgg.VGGEncoder] = []
    real_vgg16 = vgg.vgg16

    def spy(**kwargs: object) -> vgg.VGGEncoder:
        encoder = real_vgg16(**kwargs)  # type: ignore[arg-type]
        built.append(encoder)
        return encoder

    monkeypatch.setattr(vgg, "vgg16", spy)
    styles, photos = training_folders(tmp_path)
    run = tmp_path / "run"
    assert main(tiny_feedforward_train_args(styles, photos, run, "--steps", "1", "--loss-network", str(file))) == 0
    assert len(built) == 1
    weight = built[0].body.state_dict()["conv1_1.weight"]
    assert weight.dtype == torch.float32
    expected = donor.body.state_dict()["conv1_1.weight"].half().float()
    torch.testing.assert_close(weight, expected, rtol=0, atol=0)
    losses = trained_losses(run / "model.safetensors")
    assert losses["balance_styles"] is True
    assert losses["content_layers"] == LOSS_SETS["gatys"][0]
    assert losses["style_layers"] == LOSS_SETS["gatys"][1]
