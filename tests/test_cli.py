"""The command line end to end through main([...]) at tiny sizes, with a tiny random encoder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from painterly.cli import main
from painterly.commands import transfer as transfer_command
from tests.conftest import gradient_image


def write_png(path: Path, array: np.ndarray) -> Path:
    Image.fromarray(array).save(path)
    return path


@pytest.fixture
def pictures(tmp_path: Path) -> dict[str, Path]:
    content = (gradient_image(40, 60)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    rng = np.random.default_rng(0)
    style = rng.integers(0, 255, (50, 50, 3), dtype=np.uint8)
    mask = np.zeros((40, 60), dtype=np.uint8)
    mask[:, :30] = 255
    return {
        "content": write_png(tmp_path / "content.png", content),
        "style": write_png(tmp_path / "style.png", style),
        "style2": write_png(tmp_path / "style2.png", 255 - style),
        "mask": write_png(tmp_path / "mask.png", mask),
        "mask2": write_png(tmp_path / "mask2.png", 255 - mask),
    }


def transfer_args(pictures: dict[str, Path], out: Path, *extra: str) -> list[str]:
    """``transfer CONTENT STYLE -o OUT`` at the quick test settings, plus ``extra`` options."""
    return ["transfer", str(pictures["content"]), str(pictures["style"]), "-o", str(out), *QUICK, *extra]


QUICK = ["--size", "48", "--iterations", "3,3", "--device", "cpu", "-q"]


def test_transfer_writes_image_record_history_and_animation(
    tiny_vgg: None, pictures: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results" / "out.png"
    code = main(
        transfer_args(
            pictures, out, "--history", "--save-every", "2", "--animate", str(tmp_path / "anim.gif"), "--sharpen", "0.3"
        )
    )
    assert code == 0
    assert Image.open(out).size == (48, 32)
    assert f"wrote {out} (48x32)" in capsys.readouterr().out
    record = json.loads((tmp_path / "results" / "out.run.json").read_text())
    assert record["method"] == "gatys" and record["options"]["size"] == 48 and not record["interrupted"]
    assert record["options"]["finish"]["sharpen"] == 0.3
    assert record["inputs"][0]["sha256"] and set(record["losses"]) == {"total", "content", "style", "tv"}
    history = json.loads((tmp_path / "results" / "out.history.json").read_text())
    assert len(history) == 6 and "style/relu3_1" in history[0]
    assert Image.open(tmp_path / "results" / "out.history.png").size[0] > 500
    assert sorted(p.name for p in (tmp_path / "results").glob("out.step*.png")) == [
        "out.step00002.png",
        "out.step00004.png",
        "out.step00006.png",
    ]
    animation = Image.open(tmp_path / "anim.gif")
    assert animation.n_frames >= 2


def test_several_styles_masks_and_colour_options(tiny_vgg: None, pictures: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "masked.jpg"
    code = main(
        [
            "transfer",
            str(pictures["content"]),
            str(pictures["style"]),
            str(pictures["style2"]),
            "--mask",
            str(pictures["mask"]),
            "--mask",
            str(pictures["mask2"]),
            "--color",
            "histogram",
            "--style-blend",
            "2,1",
            "--init",
            "mix",
            "-o",
            str(out),
            *QUICK,
        ]
    )
    assert code == 0 and Image.open(out).size == (48, 32)


def test_config_file_and_flags(tiny_vgg: None, pictures: dict[str, Path], tmp_path: Path) -> None:
    config = tmp_path / "options.toml"
    config.write_text("size = 40\niterations = 2\noptimizer = 'adam'\n")
    out = tmp_path / "out.png"
    assert (
        main(
            [
                "transfer",
                str(pictures["content"]),
                str(pictures["style"]),
                "-o",
                str(out),
                "--config",
                str(config),
                "--size",
                "32",
                "-q",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    record = json.loads((tmp_path / "out.run.json").read_text())
    assert record["options"]["size"] == 32 and record["options"]["optimizer"] == "adam"  # flag beats file


def test_alpha_is_kept(tiny_vgg: None, tmp_path: Path) -> None:
    rgba = np.zeros((32, 32, 4), dtype=np.uint8)
    rgba[..., :3] = 120
    rgba[..., 3] = 255
    rgba[:10, :, 3] = 0
    content = write_png(tmp_path / "alpha.png", rgba)
    style = write_png(tmp_path / "s.png", np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8))
    out = tmp_path / "out.png"
    assert (
        main(
            [
                "transfer",
                str(content),
                str(style),
                "-o",
                str(out),
                "--size",
                "32",
                "--iterations",
                "2",
                "-q",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    result = np.asarray(Image.open(out))
    assert result.shape == (32, 32, 4)
    assert result[:8, :, 3].max() == 0 and result[12:, :, 3].min() == 255


def test_interrupt_keeps_the_latest_image(
    tiny_vgg: None,
    pictures: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    original = transfer_command.RunWatcher.__call__

    def interrupting(self: Any, progress: Any) -> None:
        original(self, progress)
        if progress.total_step == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(transfer_command.RunWatcher, "__call__", interrupting)
    out = tmp_path / "out.png"
    code = main(["transfer", str(pictures["content"]), str(pictures["style"]), "-o", str(out), *QUICK])
    assert code == 130
    assert out.is_file() and Image.open(out).size[0] > 0
    assert json.loads((tmp_path / "out.run.json").read_text())["interrupted"] is True
    assert "kept the image of iteration 3" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["{missing}", "{style}"], 3, "missing.png"),
        (["{notimage}", "{style}"], 3, "notimage.png"),
        (["{content}", "{style}", "--strength", "3"], 2, "3"),
        (["{content}", "{style}", "--style-blend", "1,2,3"], 2, "3 style weight(s) for 1 style image(s)"),
        (
            ["{content}", "{style}", "--mask", "{mask}", "--mask", "{mask2}"],
            2,
            "2 mask(s) for 1 style image(s)",
        ),
        (["{content}", "{style}", "--style-layers", "relu9_1"], 2, "unknown vgg16 layer(s) relu9_1"),
        (["{content}", "{style}", "--iterations", "ten"], 2, "iterations must be whole numbers"),
        (["{content}", "{style}", "--config", "{missing}"], 2, "config file not found"),
        (["{content}", "{style}", "--init", "{missing}"], 3, "missing.png"),
        (["{content}", "{style}", "--animate", "{out_dir}/a.mp4"], 4, "needs one of the suffixes .gif"),
        (["{content}", "{style}", "--bit-depth", "16", "-o", "{out_dir}/o.jpg"], 4, "--bit-depth 16 needs a .png"),
        (["{content}"], 2, "Missing argument 'STYLES...'"),
        (["{content}", "{style}", "--size", "abc"], 2, "'abc' is not a valid integer"),
    ],
)
def test_bad_input_gives_one_line_and_exit_code(
    tiny_vgg: None,
    pictures: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    code: int,
    message: str,
) -> None:
    (tmp_path / "notimage.png").write_text("hello, not a picture")
    names = {
        **{k: str(v) for k, v in pictures.items()},
        "missing": str(tmp_path / "missing.png"),
        "notimage": str(tmp_path / "notimage.png"),
        "out_dir": str(tmp_path),
    }
    argv = ["transfer", "-o", str(tmp_path / "o.png"), *QUICK, *[a.format(**names) for a in arguments]]
    assert main(argv) == code
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.png").exists()


def test_output_safety(
    tiny_vgg: None, pictures: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content, style = str(pictures["content"]), str(pictures["style"])
    assert main(["transfer", content, style, "-o", content, *QUICK]) == 4
    assert "input" in capsys.readouterr().err
    existing = tmp_path / "exists.png"
    existing.write_bytes(b"keep me")
    assert main(["transfer", content, style, "-o", str(existing), *QUICK]) == 4
    assert "--overwrite" in capsys.readouterr().err
    assert existing.read_bytes() == b"keep me"
    assert main(["transfer", content, style, "-o", str(existing), "--overwrite", *QUICK]) == 0


def test_demo_runs_on_embedded_images(tiny_vgg: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo.png"
    assert main(["demo", "-o", str(out), "--size", "40", "--iterations", "2", "-q", "--device", "cpu"]) == 0
    assert Image.open(out).size == (40, 40)
    assert "wrote" in capsys.readouterr().out


def test_weights_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PAINTERLY_HOME", str(tmp_path))
    assert main(["weights", "list"]) == 0
    listing = capsys.readouterr().out
    assert "vgg16" in listing and "vgg19" in listing and "lpips_vgg16" in listing
    assert main(["weights", "path", "vgg16"]) == 0
    assert capsys.readouterr().out.strip().startswith(str(tmp_path))
    assert main(["weights", "path", "nope"]) == 2
    assert "nope" in capsys.readouterr().err
    monkeypatch.setenv("PAINTERLY_OFFLINE", "1")
    assert main(["weights", "fetch", "vgg19"]) == 5
    assert "vgg19" in capsys.readouterr().err


def test_module_entry_point_and_version() -> None:
    done = subprocess.run([sys.executable, "-m", "painterly", "--version"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "painterly" in done.stdout


def test_tileable_and_tile_size_flags(tiny_vgg: None, pictures: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "wrap.png"
    assert main(transfer_args(pictures, out, "--tileable", "--tile-size", "0")) == 0
    record = json.loads((tmp_path / "wrap.run.json").read_text())
    assert record["options"]["tileable"] is True and record["options"]["tile_size"] == 0
    assert main(transfer_args(pictures, tmp_path / "t.png", "--tile-size", "20")) == 2


def test_backward_and_start_are_chosen_and_recorded(
    tiny_vgg: None, pictures: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reference.png"
    assert main(transfer_args(pictures, out, "--backward", "autograd", "--init", "content")) == 0
    assert "iterations from content" in capsys.readouterr().out
    record = json.loads((tmp_path / "reference.run.json").read_text())
    assert record["options"]["backward"] == "autograd" and record["start"] == "content"
    assert main(transfer_args(pictures, tmp_path / "bad.png", "--backward", "jit")) == 2
    assert "'jit' is not one of 'fused', 'autograd'" in capsys.readouterr().err


def test_debug_anywhere_and_step_files_are_not_overwritten(
    tiny_vgg: None, pictures: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.png"
    args = transfer_args(pictures, out, "--save-every", "3")
    assert main([*args, "--debug"]) == 0
    out.unlink()
    assert main(args) == 4
    assert "intermediate images exist" in capsys.readouterr().err
