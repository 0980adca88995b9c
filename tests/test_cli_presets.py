"""``painterly stylize / presets / sheet / export / train feedforward`` end to end through main([...])."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from painterly.cli import main
from painterly.methods.feedforward import NetworkSpec, style_weights
from painterly.methods.model_files import save_style_network
from tests.conftest import gradient_image, make_tiny_encoder, tiny_feedforward_train_args
from tests.methods.test_feedforward import randomised

NAMES = ["starry", "scream", "udnie"]


@pytest.fixture
def model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    network = randomised(NetworkSpec(width=4, residual_blocks=1, downsamplings=2, edge_kernel=5, styles=3))
    path = save_style_network(network, NAMES, tmp_path / "presets.safetensors", info={"steps": 7, "seconds": 60})
    monkeypatch.setenv("PAINTERLY_PRESETS", str(path))
    return path


@pytest.fixture
def fast_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A different tiny network with the same styles as the fast network of the pair."""
    network = randomised(NetworkSpec(width=4, residual_blocks=1, downsamplings=2, edge_kernel=5, styles=3), seed=1)
    path = save_style_network(network, NAMES, tmp_path / "presets_fast.safetensors", info={"steps": 3, "seconds": 60})
    monkeypatch.setenv("PAINTERLY_PRESETS_FAST", str(path))
    return path


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    array = (gradient_image(45, 61)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(array).save(path)
    return path


def test_presets_lists_the_styles(model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets"]) == 0
    captured = capsys.readouterr()
    assert captured.out.split() == NAMES
    assert "7 training steps" in captured.err


def test_presets_card_of_another_model(model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets", "--card", "--model", str(model)]) == 0
    card = capsys.readouterr().out
    assert "`starry`" in card and "Trained 7 of" in card and "Check the licences" in card


def test_stylize_with_a_preset_and_a_blend(model: Path, photo: Path, tmp_path: Path) -> None:
    single = tmp_path / "single.png"
    assert main(["stylize", str(photo), "--preset", "scream", "-o", str(single), "--precision", "fp32"]) == 0
    blend = tmp_path / "blend.png"
    assert (
        main(
            [
                "stylize",
                str(photo),
                "--preset",
                "scream:0.5,udnie:0.5",
                "--strength",
                "0.7",
                "-o",
                str(blend),
                "--precision",
                "fp32",
            ]
        )
        == 0
    )
    first, second = np.asarray(Image.open(single)), np.asarray(Image.open(blend))
    assert first.shape == second.shape == (45, 61, 3)
    assert np.abs(first.astype(int) - second.astype(int)).mean() > 1
    zero = tmp_path / "zero.png"
    assert main(["stylize", str(photo), "--preset", "scream", "--strength", "0", "-o", str(zero)]) == 0
    assert np.array_equal(np.asarray(Image.open(zero)), np.asarray(Image.open(photo)))


def test_stylize_keeps_alpha_and_resizes(model: Path, tmp_path: Path) -> None:
    rgba = np.zeros((30, 40, 4), np.uint8)
    rgba[..., :3] = 128
    rgba[..., 3] = np.linspace(0, 255, 40, dtype=np.uint8)[None, :]
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(path)
    output = tmp_path / "out.png"
    assert main(["stylize", str(path), "--preset", "starry", "--size", "80", "-o", str(output)]) == 0
    result = Image.open(output)
    assert result.mode == "RGBA" and result.size == (80, 60)


@pytest.mark.parametrize(
    ("arguments", "message", "code"),
    [
        (["--preset", "monet"], "unknown style 'monet'", 2),
        (["--preset", "scream:x"], "must be a number", 2),
        (["--preset", "scream:0"], "not all be zero", 2),
        ([], "choose a style: --preset NAME", 2),
        (["--preset", "scream", "--style-scale", "20"], "style_scale", 2),
        (["--preset", "scream", "--tile-size", "70"], "tile size", 2),
    ],
)
def test_stylize_bad_options(
    model: Path,
    photo: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    message: str,
    code: int,
) -> None:
    assert main(["stylize", str(photo), "-o", str(tmp_path / "o.png"), *arguments]) == code
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_stylize_bad_files(model: Path, photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stylize", str(tmp_path / "none.jpg"), "--preset", "scream", "-o", str(tmp_path / "o.png")]) == 3
    assert main(["stylize", str(photo), "--preset", "scream", "-o", str(photo)]) == 4
    assert main(["stylize", str(photo), "--preset", "scream", "-o", str(tmp_path / "o.xyz")]) == 4
    bad_model = tmp_path / "bad.safetensors"
    bad_model.write_bytes(b"nope")
    assert (
        main(["stylize", str(photo), "--preset", "scream", "--model", str(bad_model), "-o", str(tmp_path / "o.png")])
        == 5
    )
    assert main(["presets", "--model", str(tmp_path / "missing.safetensors")]) == 5
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 5 and all(line.startswith("painterly: error:") for line in errors)


def test_sheet_has_every_preset(model: Path, photo: Path, tmp_path: Path) -> None:
    output = tmp_path / "sheet.png"
    assert main(["sheet", str(photo), "-o", str(output), "--tile", "64", "--columns", "2"]) == 0
    sheet = Image.open(output)
    # photo + 3 presets in 2 columns: 2 rows of (64 x 47) tiles with labels
    assert sheet.size[0] == 6 + 2 * (64 + 6)
    assert sheet.size[1] == 6 + 2 * (47 + 28 + 6)


@pytest.mark.parametrize("suffix", [".onnx", ".pt"])
def test_export_matches_pytorch(model: Path, tmp_path: Path, suffix: str) -> None:
    from painterly.methods.model_files import load_style_network

    output = tmp_path / f"net{suffix}"
    assert main(["export", "-o", str(output)]) == 0
    network, _, _ = load_style_network(model)
    image = gradient_image(37, 53, seed=2)
    weights = style_weights(3, {1: 0.3, 2: 0.7})
    with torch.no_grad():
        expected = network(image, weights).numpy()
    if suffix == ".onnx":
        import onnx
        import onnxruntime

        assert json.loads({p.key: p.value for p in onnx.load(str(output)).metadata_props}["styles"]) == NAMES
        session = onnxruntime.InferenceSession(str(output), providers=["CPUExecutionProvider"])
        result = session.run(None, {"image": image.numpy(), "weights": weights.numpy()})[0]
    else:
        extra = {"styles.json": ""}
        loaded = torch.jit.load(str(output), _extra_files=extra)
        assert json.loads(extra["styles.json"]) == NAMES
        with torch.no_grad():
            result = loaded(image, weights).numpy()
    assert result.shape == expected.shape
    np.testing.assert_allclose(result, expected, atol=1e-4)  # fp32 kernels differ in summation order only


def test_export_refuses_bad_outputs(model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "-o", str(tmp_path / "net.zip")]) == 4
    assert main(["export", "-o", str(tmp_path / "net.pt"), "--format", "onnx"]) == 4
    (tmp_path / "exists.onnx").write_text("x")
    assert main(["export", "-o", str(tmp_path / "exists.onnx")]) == 4
    errors = capsys.readouterr().err
    assert "cannot tell the format" in errors and "should be named *.onnx" in errors and "--overwrite" in errors


def test_train_feedforward_cli_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("painterly.encoders.vgg.vgg16", lambda *, layers, **_: make_tiny_encoder(list(layers)))
    styles, photos = tmp_path / "styles", tmp_path / "photos"
    styles.mkdir()
    photos.mkdir()
    for index in range(2):
        array = (gradient_image(48, 48, seed=index)[0].permute(1, 2, 0).numpy() ** (index + 1) * 255).astype(np.uint8)
        Image.fromarray(array).save(styles / f"style-{index}.png")
    for index in range(3):
        array = (gradient_image(40, 56, seed=5 + index)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        Image.fromarray(array).save(photos / f"p{index}.jpg")
    run = tmp_path / "run"
    common = tiny_feedforward_train_args(styles, photos, run)
    assert main([*common, "--steps", "2"]) == 0
    assert main([*common, "--steps", "4"]) == 0
    output = capsys.readouterr()
    assert "resuming at step 2" in output.err
    assert "4 steps in" in output.out
    card = (run / "MODEL_CARD.md").read_text()
    assert "`style_0`" in card and "Trained 4 of 4 planned steps" in card
    assert main(["presets", "--model", str(run / "model.safetensors")]) == 0
    assert capsys.readouterr().out.split() == ["style_0", "style_1"]
    assert main([*common, "--steps", "5", "--budget", "soon"]) == 2
    assert "cannot read the duration 'soon'" in capsys.readouterr().err
    assert main([*common[:3], str(tmp_path / "nothing"), *common[4:], "--steps", "5"]) == 3

    # a new run started from the first one's model: equal weights before its first step, its card says so
    started = tmp_path / "started"
    again = tiny_feedforward_train_args(styles, photos, started)
    grown = ["--init-from", str(run / "model.safetensors"), "--lr", "1e-12", "--crop", "48"]
    assert main([*again, *grown, "--steps", "1", "--budget", "10m", "--decay-over-budget"]) == 0
    first = load_file(str(run / "model.safetensors"))
    second = load_file(str(started / "model.safetensors"))
    assert first.keys() == second.keys()
    assert all(torch.allclose(first[key].float(), second[key].float(), atol=1e-3) for key in first)
    card = (started / "MODEL_CARD.md").read_text()
    assert "Training started from `model.safetensors`" in card and "over the time budget" in card
    capsys.readouterr()
    one_style = tmp_path / "one_style"
    one_style.mkdir()
    (styles / "style-0.png").rename(one_style / "style-0.png")
    assert main([*again[:3], str(one_style), *again[4:], "--init-from", str(run / "model.safetensors")]) == 2
    assert "they must match" in capsys.readouterr().err
    assert main([*tiny_feedforward_train_args(styles, photos, tmp_path / "r3"), "--decay-over-budget"]) == 2
    assert "needs a time budget" in capsys.readouterr().err


def test_python_api_preset_route(model: Path, photo: Path) -> None:
    import painterly
    from painterly.errors import ConfigError

    picture = painterly.stylize(str(photo), "scream:0.5,udnie:0.5", method="preset", strength=0.5)
    assert picture.size == (61, 45)
    array = painterly.stylize(np.zeros((20, 30, 3), np.float32), {"starry": 1.0}, method="preset")
    assert array.shape == (20, 30, 3) and array.dtype == np.float32
    tensor = painterly.stylize(gradient_image(16, 24), "udnie", method="preset", strength=0.0)
    assert torch.equal(tensor, gradient_image(16, 24))
    with pytest.raises(ConfigError, match="unknown option"):
        painterly.stylize(str(photo), "udnie", method="preset", iterations=3)
    with pytest.raises(ConfigError, match="preset name"):
        painterly.stylize(str(photo), 3, method="preset")
    with pytest.raises(ConfigError, match="takes no masks"):
        painterly.stylize(str(photo), "udnie", method="preset", masks=[str(photo)])
    with pytest.raises(ConfigError, match="must be numbers"):
        painterly.stylize(str(photo), {"udnie": "lots"}, method="preset")


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path)).astype(int)


@pytest.mark.usefixtures("model")
def test_stylize_network_fast_runs_the_fast_network(fast_model: Path, photo: Path, tmp_path: Path) -> None:
    outputs = {}
    for name, extra in [
        ("default", []),
        ("quality", ["--network", "quality"]),
        ("fast", ["--network", "fast"]),
        ("fast_file", ["--model", str(fast_model)]),
    ]:
        outputs[name] = tmp_path / f"{name}.png"
        arguments = ["stylize", str(photo), "--preset", "scream", "-o", str(outputs[name]), "--precision", "fp32"]
        assert main([*arguments, *extra]) == 0
    assert np.array_equal(pixels(outputs["default"]), pixels(outputs["quality"]))
    assert np.array_equal(pixels(outputs["fast"]), pixels(outputs["fast_file"]))
    assert np.abs(pixels(outputs["fast"]) - pixels(outputs["quality"])).mean() > 1
    config = tmp_path / "fast.toml"
    config.write_text('network = "fast"\n')
    from_config = tmp_path / "from_config.png"
    arguments = ["stylize", str(photo), "--preset", "scream", "--config", str(config), "--precision", "fp32"]
    assert main([*arguments, "-o", str(from_config)]) == 0
    assert np.array_equal(pixels(from_config), pixels(outputs["fast"]))


@pytest.mark.usefixtures("model", "fast_model")
@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["stylize", "{photo}", "-o", "{out}.png", "--preset", "scream", "--network", "bogus"], "'--network'"),
        (["sheet", "{photo}", "-o", "{out}.png", "--network", "bogus"], "'--network'"),
        (["presets", "--network", "bogus"], "'--network'"),
        (["export", "-o", "{out}.onnx", "--network", "bogus"], "'--network'"),
        (["stylize", "{photo}", "-o", "{out}.png", "--style", "{photo}", "--network", "fast"], "--network does not"),
        (["stylize", "{photo}", "-o", "{out}.png", "--preset", "scream", "--config", "{toml}"], "unknown preset netw"),
    ],
)
def test_bad_network_choices(
    photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], message: str
) -> None:
    toml = tmp_path / "bad.toml"
    toml.write_text('network = "turbo"\n')
    values = {"photo": photo, "out": tmp_path / "out", "toml": toml}
    assert main([part.format(**values) for part in command]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1 and error.startswith("painterly: error:")
    if "'--network'" in message:
        assert "'quality'" in error and "'fast'" in error
    assert not list(tmp_path.glob("out*"))


@pytest.mark.usefixtures("model")
def test_presets_lists_and_describes_the_chosen_network(fast_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets", "--network", "fast"]) == 0
    captured = capsys.readouterr()
    assert captured.out.split() == NAMES and "3 training steps" in captured.err
    assert main(["presets", "--network", "fast", "--card"]) == 0
    assert "Trained 3 of" in capsys.readouterr().out
    assert main(["presets", "--network", "quality", "--card"]) == 0
    assert "Trained 7 of" in capsys.readouterr().out


@pytest.mark.usefixtures("model", "fast_model")
def test_sheet_with_the_fast_network(photo: Path, tmp_path: Path) -> None:
    sheets = {}
    for network in ("quality", "fast"):
        sheets[network] = tmp_path / f"{network}.png"
        arguments = ["sheet", str(photo), "-o", str(sheets[network]), "--tile", "64", "--precision", "fp32"]
        assert main([*arguments, "--network", network]) == 0
    quality, fast = pixels(sheets["quality"]), pixels(sheets["fast"])
    assert quality.shape == fast.shape and np.abs(quality - fast).mean() > 0.5


@pytest.mark.usefixtures("model")
def test_export_the_fast_network(fast_model: Path, tmp_path: Path) -> None:
    import onnxruntime

    from painterly.methods.model_files import load_style_network

    output = tmp_path / "fast.onnx"
    assert main(["export", "-o", str(output), "--network", "fast"]) == 0
    image, weights = gradient_image(24, 40, seed=3), style_weights(3, {0: 1.0})
    session = onnxruntime.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    result = session.run(None, {"image": image.numpy(), "weights": weights.numpy()})[0]
    with torch.no_grad():
        fast = load_style_network(fast_model)[0](image, weights).numpy()
    np.testing.assert_allclose(result, fast, atol=1e-4)
