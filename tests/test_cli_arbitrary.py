"""``painterly stylize --style`` (AdaIN), ``painterly train arbitrary`` and ``method="adain"`` end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import painterly
from painterly.cli import main
from painterly.commands.selection import parse_style_argument
from painterly.errors import ConfigError
from painterly.methods.model_files import save_decoder
from tests.conftest import gradient_image, make_tiny_encoder
from tests.methods.test_arbitrary import tiny_decoder


def write_png(path: Path, image: torch.Tensor) -> Path:
    array = (image[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    Image.fromarray(array.squeeze()).save(path)
    return path


@pytest.fixture
def decoder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A random decoder as the 'shipped' one, and tiny random encoders everywhere (no weights needed)."""
    monkeypatch.setattr("painterly.encoders.vgg.vgg16", lambda *, layers, **_: make_tiny_encoder(list(layers)))
    path = save_decoder(tiny_decoder(), tmp_path / "d.safetensors")
    monkeypatch.setenv("PAINTERLY_DECODER", str(path))
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    mask = torch.zeros(1, 1, 45, 61)
    mask[..., :30] = 1.0
    return {
        "photo": write_png(tmp_path / "photo.png", gradient_image(45, 61)),
        "a": write_png(tmp_path / "a.png", gradient_image(40, 40, seed=1) ** 2),
        "b": write_png(tmp_path / "b.png", gradient_image(32, 50, seed=2).flip(1)),
        "mask": write_png(tmp_path / "mask.png", mask),
    }


def read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path), dtype=np.float32) / 255


def test_parse_style_argument() -> None:
    assert parse_style_argument("a.jpg") == (Path("a.jpg"), 1.0)
    assert parse_style_argument("a.jpg:0.3") == (Path("a.jpg"), 0.3)
    assert parse_style_argument("C:\\art\\a.jpg") == (Path("C:\\art\\a.jpg"), 1.0)
    with pytest.raises(ConfigError, match="finite and >= 0"):
        parse_style_argument("a.jpg:-1")


def test_stylize_with_any_painting_blends_alpha_and_masks(
    decoder: Path, files: dict[str, Path], tmp_path: Path
) -> None:
    def run(*arguments: str) -> np.ndarray:
        output = tmp_path / "out.png"
        assert (
            main(
                [
                    "stylize",
                    str(files["photo"]),
                    "-o",
                    str(output),
                    "--overwrite",
                    "--precision",
                    "fp32",
                    "--method",
                    "adain",
                    *arguments,
                ]
            )
            == 0
        )
        return read(output)

    single = run("--style", str(files["a"]))
    assert single.shape == (45, 61, 3)
    assert np.array_equal(run("--style", f"{files['a']}:1", "--style", f"{files['b']}:0"), single)
    assert not np.array_equal(run("--style", f"{files['a']}:0.5", "--style", f"{files['b']}:0.5"), single)
    reconstruction = run("--style", str(files["a"]), "--alpha", "0")
    assert not np.array_equal(reconstruction, single)
    wide = write_png(tmp_path / "wide.png", gradient_image(45, 200, seed=3))
    wide_mask = torch.zeros(1, 1, 45, 200)
    wide_mask[..., :30] = 1.0
    mask = write_png(tmp_path / "wide_mask.png", wide_mask)
    output = tmp_path / "wide_out.png"

    def run_wide(*arguments: str) -> np.ndarray:
        command = ["stylize", str(wide), "-o", str(output), "--overwrite", "--precision", "fp32", "--method", "adain"]
        assert main([*command, *arguments]) == 0
        return read(output)

    masked = run_wide("--style", str(files["a"]), "--mask", str(mask))  # white: the left 30 columns
    plain = run_wide("--style", str(files["a"]), "--alpha", "0")
    # beyond the decoder's reach (36 px) from the mask's feature cell: the photo's own features, decoded
    assert np.abs(masked[:, 100:] - plain[:, 100:]).max() <= 1 / 255
    assert np.abs(masked[:, :20] - plain[:, :20]).max() > 0.05
    assert run("--style", str(files["a"]), "--color", "luminance", "--size", "32").shape == (24, 32, 3)
    assert np.abs(run("--style", str(files["a"]), "--tile-size", "64") - single).max() <= 1 / 255


@pytest.mark.parametrize(
    ("arguments", "message", "code"),
    [
        ([], "choose a style", 2),
        (["--preset", "x", "--style", "a"], "not both", 2),
        (["--style", "{a}", "--strength", "0.5"], "use --alpha", 2),
        (["--style", "{a}", "--strength", "1"], "use --alpha", 2),
        (["--style", "{a}", "--mask", "{mask}", "--mask", "{mask}"], "one mask per style", 2),
        (["--style", "{a}:0.2", "--style", "{b}:0.8", "--mask", "{mask}", "--mask", "{mask}"], "cannot be combined", 2),
        (["--style", "{a}", "--style-scale", "0"], "style_scale", 2),
        (["--style", "{a}", "--tile-size", "70"], "tile size", 2),
        (["--style", "{a}:-2"], "finite and >= 0", 2),
        (["--style", "missing.png"], "missing.png", 3),
        (["--style", "{a}", "--overwrite", "-o", "{a}"], "", 4),
    ],
)
def test_stylize_style_bad_inputs(
    decoder: Path,
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    message: str,
    code: int,
) -> None:
    filled = [argument.format(**{key: str(value) for key, value in files.items()}) for argument in arguments]
    assert main(["stylize", str(files["photo"]), "-o", str(tmp_path / "o.png"), *filled]) == code
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_preset_route_refuses_style_options(
    decoder: Path, files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stylize", str(files["photo"]), "-o", str(tmp_path / "o.png"), "--preset", "x", "--alpha", "0.5"]) == 2
    assert "--alpha, --palette and --mask go with --style" in capsys.readouterr().err


def test_stylize_style_bad_decoder_files(
    decoder: Path,
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = [
        "stylize",
        str(files["photo"]),
        "--style",
        str(files["a"]),
        "--method",
        "adain",
        "-o",
        str(tmp_path / "o.png"),
    ]
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"nope")
    assert main([*base, "--model", str(bad)]) == 5
    monkeypatch.setenv("PAINTERLY_DECODER", str(tmp_path / "missing.safetensors"))
    assert main(base) == 5
    errors = capsys.readouterr().err.strip().splitlines()
    assert (
        "not a readable" in errors[0] and "no AdaIN decoder" in errors[1] and "painterly train arbitrary" in errors[1]
    )


def test_python_api_adain_route(decoder: Path, files: dict[str, Path]) -> None:
    picture = painterly.stylize(str(files["photo"]), str(files["a"]), method="adain", precision="fp32", alpha=0.7)
    assert picture.size == (61, 45)
    tensor = painterly.stylize(
        gradient_image(20, 24),
        [str(files["a"]), str(files["b"])],
        method="adain",
        style_blend=(0.2, 0.8),
        precision="fp32",
    )
    assert tensor.shape == (1, 3, 20, 24)
    masked = painterly.stylize(
        gradient_image(45, 61), [str(files["a"])], method="adain", masks=[str(files["mask"])], precision="fp32"
    )
    assert masked.shape == (1, 3, 45, 61)
    with pytest.raises(ConfigError, match="unknown option"):
        painterly.stylize(gradient_image(20, 24), str(files["a"]), method="adain", strength=0.5)
    with pytest.raises(ConfigError, match="one mask per style"):
        painterly.stylize(gradient_image(20, 24), str(files["a"]), method="adain", masks=[str(files["mask"])] * 2)


def test_train_arbitrary_cli_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("painterly.encoders.vgg.vgg16", lambda *, layers, **_: make_tiny_encoder(list(layers)))
    styles, photos = tmp_path / "styles", tmp_path / "photos"
    styles.mkdir()
    photos.mkdir()
    for index, name in enumerate(["starry_night", "mondrian", "udnie"]):
        write_png(styles / f"{name}.png", gradient_image(48, 48, seed=index) ** (index + 1))
    for index in range(3):
        write_png(photos / f"p{index}.jpg", gradient_image(40, 56, seed=5 + index))
    run = tmp_path / "run"
    common = [
        "train", "arbitrary", "--styles", str(styles), "--photos", str(photos), "--run", str(run),
        "--hold-out", "starry_night", "--crop", "32", "--batch", "4", "--width", "4", "--quarter-convs", "0",
        "--checkpoint-every", "2", "--preview-every", "2", "--preview-style", str(styles / "starry_night.png"),
        "--quiet", "--precision", "fp32",
    ]  # fmt: skip
    assert main([*common, "--steps", "2"]) == 0
    assert main([*common, "--steps", "3"]) == 0
    output = capsys.readouterr()
    assert "resuming at step 2" in output.err and "3 steps in" in output.out
    card = (run / "MODEL_CARD.md").read_text()
    assert "`mondrian`" in card and "Held out" in card and "`starry_night`" in card
    assert "Trained 3 of 3 planned steps" in card
    out = tmp_path / "styled.png"
    photo = str(photos / "p0.jpg")
    model = str(run / "decoder.safetensors")
    painting = str(styles / "starry_night.png")
    assert main(["stylize", photo, "--style", painting, "--method", "adain", "--model", model, "-o", str(out)]) == 0
    fine_tune = [*common[:7], str(tmp_path / "fine"), *common[8:], "--init-from", model, "--steps", "1"]
    assert main(fine_tune) == 0
    assert (
        "Training started from the decoder `decoder.safetensors`" in (tmp_path / "fine" / "MODEL_CARD.md").read_text()
    )
    wider = [*common[:7], str(tmp_path / "wide"), *common[8:], "--init-from", model, "--width", "8", "--steps", "1"]
    assert main(wider) == 2
    assert "they must match" in capsys.readouterr().err
    assert main([*common, "--hold-out", "picasso", "--steps", "4"]) == 2
    assert "--hold-out names picasso are not in" in capsys.readouterr().err
    assert main([*common, "--hold-out", "starry_night,mondrian,udnie", "--steps", "4"]) == 2
    assert "leaves no painting" in capsys.readouterr().err


def test_demo_arbitrary(decoder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "demo.png"
    assert main(["demo", "--arbitrary", "-o", str(output), "--size", "64", "--precision", "fp32"]) == 0
    assert Image.open(output).size == (64, 64)
    assert "arbitrary style with skimage.data" in capsys.readouterr().out
    assert main(["demo", "--arbitrary", "--preset", "starry_night", "-o", str(tmp_path / "x.png")]) == 2
    assert "not both" in capsys.readouterr().err
