"""``painterly stylize --method wct|photo``, ``transfer --init wct`` and ``train decoders`` end to end, tiny."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import painterly
from painterly.cli import main
from painterly.methods.model_files import load_decoder_set, load_photo_decoder
from painterly.methods.photo import PhotoOptions
from painterly.methods.registry import get_method, list_methods
from painterly.methods.wct import WCTOptions
from tests.conftest import gradient_image, make_tiny_encoder
from tests.test_cli_arbitrary import read, write_png


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    red, blue, green = torch.zeros(1, 3, 45, 61), torch.zeros(1, 3, 40, 40), torch.zeros(1, 3, 40, 40)
    red[:, 0] = 1.0
    blue[:, 2] = 1.0
    green[:, 1] = 1.0
    halves = torch.zeros(1, 3, 40, 40)
    halves[:, 0, :20] = 1.0
    halves[:, 2, 20:] = 1.0
    return {
        "photo": write_png(tmp_path / "photo.png", gradient_image(45, 61)),
        "a": write_png(tmp_path / "a.png", gradient_image(40, 40, seed=1) ** 2),
        "b": write_png(tmp_path / "b.png", gradient_image(36, 50, seed=2).flip(1)),
        "small": write_png(tmp_path / "small.png", gradient_image(20, 40, seed=3)),
        "photo_labels": write_png(tmp_path / "photo_labels.png", red),
        "style_labels": write_png(tmp_path / "style_labels.png", halves),
        "other_labels": write_png(tmp_path / "other_labels.png", green),
    }


def stylize(files: dict[str, Path], output: Path, *arguments: str) -> int:
    return main(["stylize", str(files["photo"]), "-o", str(output), "--overwrite", "--precision", "fp32", *arguments])


@pytest.mark.usefixtures("tiny_methods")
def test_stylize_with_wct_writes_an_image(files: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "wct.png"
    assert stylize(files, output, "--style", str(files["a"]), "--method", "wct") == 0
    single = read(output)
    assert single.shape == (45, 61, 3)
    assert stylize(files, output, "--style", str(files["a"]), "--method", "wct", "--level-alphas", "1,0.5,0") == 0
    assert not np.array_equal(read(output), single)
    arguments = ["--style", f"{files['a']}:0.5", "--style", f"{files['b']}:0.5", "--method", "wct", "--size", "32"]
    assert stylize(files, output, *arguments) == 0
    assert read(output).shape == (24, 32, 3)
    assert stylize(files, output, "--style", str(files["a"]), "--method", "wct", "--tile-size", "64") == 0
    assert np.abs(read(output) - single).max() <= 1 / 255


@pytest.mark.usefixtures("tiny_methods")
def test_stylize_with_photo_smooth_and_labels(files: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "photo_out.png"
    assert stylize(files, output, "--style", str(files["a"]), "--method", "photo") == 0
    plain = read(output)
    assert plain.shape == (45, 61, 3)
    assert stylize(files, output, "--style", str(files["a"]), "--method", "photo", "--smooth") == 0
    assert read(output).shape == (45, 61, 3) and not np.array_equal(read(output), plain)
    labels = f"{files['photo_labels']}:{files['style_labels']}"
    assert stylize(files, output, "--style", str(files["a"]), "--method", "photo", "--labels", labels) == 0
    assert read(output).shape == (45, 61, 3)


@pytest.mark.usefixtures("tiny_methods")
@pytest.mark.parametrize(
    ("arguments", "message", "code"),
    [
        (["--method", "wct", "--level-alphas", "1,2"], "level alphas must be numbers within 0..1, got '1,2'", 2),
        (["--method", "wct", "--level-alphas", "1,0.5"], "give one level alpha per level: 2 for 3", 2),
        (["--method", "wct", "--smooth"], "--smooth does not apply to method 'wct'", 2),
        (["--method", "adain", "--level-alphas", "1"], "--level-alphas does not apply to method 'adain'", 2),
        (["--method", "photo", "--level-alphas", "1"], "--level-alphas does not apply to method 'photo'", 2),
        (["--method", "photo", "--labels", "{photo_labels}:{other_labels}"], "share no region colour", 3),
        (["--method", "photo", "--labels", "{photo_labels}"], "labels must be PHOTO_LABELS:STYLE_LABELS", 2),
        (["--method", "photo", "--labels", "{photo_labels}:missing.png"], "missing.png", 3),
    ],
)
def test_stylize_wct_and_photo_bad_inputs(
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    message: str,
    code: int,
) -> None:
    filled = [argument.format(**{key: str(value) for key, value in files.items()}) for argument in arguments]
    assert stylize(files, tmp_path / "o.png", "--style", str(files["a"]), *filled) == code
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1 and error.startswith("painterly: error: ")
    assert not (tmp_path / "o.png").exists()


@pytest.mark.usefixtures("tiny_methods")
def test_stylize_wct_refuses_small_styles_and_preset_flags(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for method in ("wct", "photo"):
        assert stylize(files, tmp_path / "o.png", "--style", str(files["small"]), "--method", method) == 3
        error = capsys.readouterr().err
        assert "style 1 is 40x20 px: WCT needs at least 32 px on each side" in error and error.count("\n") == 1
    assert stylize(files, tmp_path / "o.png", "--preset", "starry", "--level-alphas", "1") == 2
    assert "(as do the wct and photo flags)" in capsys.readouterr().err


def test_stylize_wct_without_a_decoder_set_says_how_to_get_one(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("painterly.encoders.vgg.vgg16", lambda *, layers, **_: make_tiny_encoder(list(layers)))
    monkeypatch.setenv("PAINTERLY_WCT_DECODERS", str(tmp_path / "missing.safetensors"))
    monkeypatch.setenv("PAINTERLY_PHOTO_DECODER", str(tmp_path / "missing.safetensors"))
    assert stylize(files, tmp_path / "o.png", "--style", str(files["a"]), "--method", "wct") == 5
    assert stylize(files, tmp_path / "o.png", "--style", str(files["a"]), "--method", "photo") == 5
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2
    assert "no WCT decoder set" in errors[0] and "painterly train decoders" in errors[0]
    assert "no photorealistic decoder" in errors[1] and "--target photo" in errors[1]


def test_wct_and_photo_are_registered() -> None:
    assert list_methods()[-2:] == ["wct", "photo"]
    for name, options_type, weights in (
        ("wct", WCTOptions, ("vgg16", "wct_decoders")),
        ("photo", PhotoOptions, ("vgg16", "photo_decoder")),
    ):
        method = get_method(name)
        assert method.options_type is options_type and method.style_kind == "images"
        assert method.strength_field == "alpha" and method.weights == weights
    assert get_method("wct").options(None, level_alphas="1,0.5,0", size=40).level_alphas == (1.0, 0.5, 0.0)
    assert get_method("photo").options(None, smooth=True, labels="a.png:b.png").labels == (Path("a.png"), Path("b.png"))


@pytest.mark.usefixtures("tiny_methods")
@pytest.mark.parametrize("name", ["wct", "photo"])
def test_wct_and_photo_prepare_once_and_stylise_frames(name: str) -> None:
    method = get_method(name)
    stylizer = method.prepare([gradient_image(40, 40, seed=3) ** 2], method.options(None, size=40, precision="fp32"))
    frame = gradient_image(30, 40)
    first, second = stylizer(frame), stylizer(frame.flip(-1))
    assert first.shape == second.shape == (1, 3, 30, 40)
    assert first.dtype == torch.float32 and float(first.min()) >= 0 and float(first.max()) <= 1
    assert not torch.equal(first, second)


@pytest.mark.usefixtures("tiny_methods")
def test_python_api_wct_and_photo(files: dict[str, Path]) -> None:
    for method in ("wct", "photo"):
        picture = painterly.stylize(str(files["photo"]), str(files["a"]), method=method, precision="fp32", alpha=0.7)
        assert picture.size == (61, 45)


@pytest.mark.usefixtures("tiny_methods")
@pytest.mark.parametrize("init", ["wct", "adain"])
def test_transfer_starts_from_a_one_pass_result(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], init: str
) -> None:
    output = tmp_path / f"{init}.png"
    arguments = ["transfer", str(files["photo"]), str(files["a"]), "-o", str(output)]
    assert main([*arguments, "--size", "48", "--iterations", "3,3", "--device", "cpu", "-q", "--init", init]) == 0
    assert Image.open(output).size == (48, 35)
    capsys.readouterr()


def train_folders(tmp_path: Path) -> tuple[Path, Path]:
    photos, paintings = tmp_path / "photos", tmp_path / "paintings"
    photos.mkdir()
    paintings.mkdir()
    for index in range(3):
        write_png(photos / f"p{index}.png", gradient_image(40, 40, seed=5 + index))
    for index, name in enumerate(["starry_night", "mondrian"]):
        write_png(paintings / f"{name}.png", gradient_image(40, 40, seed=index) ** (index + 2))
    return photos, paintings


TINY_TRAINING = ["--steps", "2", "--quiet", "--crop", "32", "--batch", "2", "--precision", "fp32"]


def test_train_decoders_cli_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("painterly.encoders.vgg.vgg16", lambda *, layers, **_: make_tiny_encoder(list(layers)))
    photos, paintings = train_folders(tmp_path)
    run = tmp_path / "wct"
    arguments = ["train", "decoders", "--photos", str(photos), "--run", str(run), *TINY_TRAINING]
    assert main([*arguments, "--width", "4", "--quarter-convs", "0", "--levels", "relu4_1,relu1_1"]) == 0
    output = capsys.readouterr().out
    assert "2 steps in" in output and f"model: {run / 'wct_decoders.safetensors'}" in output
    decoders, info = load_decoder_set(run / "wct_decoders.safetensors")
    assert list(decoders) == ["relu1_1", "relu4_1"] and info["steps"] == 2
    assert "Not measured for this run." in (run / "MODEL_CARD.md").read_text()

    photo_run = tmp_path / "photo"
    photo_arguments = ["train", "decoders", "--target", "photo", "--photos", str(photos), "--run", str(photo_run)]
    more = ["--paintings", str(paintings), "--hold-out", "starry_night"]
    assert main([*photo_arguments, *TINY_TRAINING, *more]) == 0
    decoder, info = load_photo_decoder(photo_run / "photo_decoder.safetensors")
    assert info["steps"] == 2 and info["paintings"] == ["mondrian"] and info["held_out"] == ["starry_night"]
    assert decoder.spec.channels == (4, 4, 8, 8, 8, 8, 8, 8)
    assert "`mondrian`" in (photo_run / "MODEL_CARD.md").read_text()
    # the trained files drive stylize --model (a set of two levels needs those levels named: a TOML file)
    style, photo = str(paintings / "starry_night.png"), str(photos / "p0.png")
    config = tmp_path / "wct.toml"
    config.write_text('[wct]\nlevels = ["relu4_1", "relu1_1"]\n')
    for method, model, extra in (
        ("wct", run / "wct_decoders.safetensors", ["--config", str(config)]),
        ("photo", photo_run / "photo_decoder.safetensors", []),
    ):
        out = tmp_path / f"{method}.png"
        command = ["stylize", photo, "--style", style, "--method", method, "--model", str(model), "-o", str(out)]
        assert main([*command, *extra]) == 0 and Image.open(out).size == (40, 40)
    capsys.readouterr()
    default_levels = [
        "stylize",
        photo,
        "--style",
        style,
        "--method",
        "wct",
        "--model",
        str(run / "wct_decoders.safetensors"),
    ]
    assert main([*default_levels, "-o", str(tmp_path / "all_levels.png")]) == 5
    assert "the decoder set has no decoder for relu3_1, relu2_1" in capsys.readouterr().err


def test_train_decoders_cli_bad_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("painterly.encoders.vgg.vgg16", lambda *, layers, **_: make_tiny_encoder(list(layers)))
    photos, paintings = train_folders(tmp_path)
    base = ["train", "decoders", "--photos", str(photos), "--run", str(tmp_path / "run"), *TINY_TRAINING]
    cases = [
        (["--levels", "relu5_1"], "unknown decoder level 'relu5_1'", 2),
        (["--hold-out", "starry_night"], "--hold-out needs a folder of paintings", 2),
        (["--paintings", str(paintings), "--hold-out", "picasso"], "--hold-out names picasso are not in", 2),
        (["--eval-photos", str(tmp_path / "nowhere")], "not a folder of images", 3),
        (["--target", "jpeg"], "Invalid value for '--target'", 2),
    ]
    for extra, message, code in cases:
        assert main([*base, *extra]) == code, extra
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1, (extra, error)
    assert not (tmp_path / "run" / "wct_decoders.safetensors").exists()
