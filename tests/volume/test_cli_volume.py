"""``painterly volume`` end to end through main([...]) with a tiny random VGG and tiny grids."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from painterly.cli import main
from painterly.config import DEFAULT_STYLE_LAYERS
from painterly.volume.grid import load_density
from tests.conftest import gradient_image, interrupt_once_under_way, make_tiny_encoder

FAST = ["--iterations", "3", "--frame-iterations", "2", "--views", "1", "--render-size", "32", "--style-size", "32"]
FAST += ["--precision", "fp32", "-q"]


@pytest.fixture(autouse=True)
def tiny_vgg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("painterly.volume.stylize.vgg16", lambda layers: make_tiny_encoder(list(DEFAULT_STYLE_LAYERS)))


@pytest.fixture
def painting(tmp_path: Path) -> Path:
    path = tmp_path / "painting.png"
    Image.fromarray((gradient_image(40, 40, seed=2)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(path)
    return path


def blob(side: int = 16, shift: float = 0.0) -> np.ndarray:
    axis = np.linspace(-1, 1, side)
    z, y, x = np.meshgrid(axis, axis, axis, indexing="ij")
    return np.exp(-(((x - shift) / 0.5) ** 2 + (y / 0.6) ** 2 + (z / 0.5) ** 2) * 2).astype(np.float32)


def test_demo_with_a_turntable(painting: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output, turntable = tmp_path / "plume.npz", tmp_path / "plume.gif"
    arguments = ["volume", "--demo", "--demo-size", "16", "--style", str(painting), "-o", str(output)]
    assert main([*arguments, "--turntable", str(turntable), "--turntable-frames", "4", *FAST]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {output} (1 frame(s)" in printed and f"wrote {turntable}" in printed
    assert load_density(output).shape == (16, 16, 16)
    assert turntable.read_bytes()[:6] in (b"GIF89a", b"GIF87a")
    record = json.loads((tmp_path / "plume.npz.run.json").read_text())
    assert record["method"] == "volume" and record["mass_change"] < 1e-4 and not record["interrupted"]


def test_a_sequence_and_its_resume(painting: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    for index in range(2):
        np.save(frames / f"frame{index}.npy", blob(shift=0.1 * index))
    output = tmp_path / "styled"
    assert main(["volume", str(frames), "--style", str(painting), "-o", str(output), *FAST]) == 0
    assert sorted(path.name for path in output.iterdir()) == ["frame0.npz", "frame1.npz"]
    before = torch.as_tensor(np.load(frames / "frame1.npy")).sum()
    assert load_density(output / "frame1.npz").sum().item() == pytest.approx(float(before), rel=1e-4)
    capsys.readouterr()
    assert main(["volume", str(frames), "--style", str(painting), "-o", str(output), "--resume", *FAST]) == 0
    assert "2 resumed" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        ([], 2, "give a DENSITY grid or folder, or --demo"),
        (["{grid}", "--demo"], 2, "not both"),
        (["{grid}", "-o", "{tmp}/out.vdb"], 4, "needs one of the suffixes .npy, .npz"),
        (["{nan}"], 3, "has NaN values"),
        (["{grid}", "--max-voxels", "1000"], 3, "over the 1,000 voxel cap (e.g. 10x10x10 fits): pass --max-voxels"),
        (["{grid}", "--iterations", "a,b"], 2, "--iterations must be numbers"),
        (["{grid}", "--turntable", "{tmp}/t.png"], 4, "needs one of the suffixes .gif"),
    ],
)
def test_bad_input(
    painting: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], code: int, message: str
) -> None:
    grid, nan = tmp_path / "grid.npy", tmp_path / "nan.npy"
    np.save(grid, blob())
    broken = blob()
    broken[3, 3, 3] = np.nan
    np.save(nan, broken)
    filled = [argument.format(grid=grid, nan=nan, tmp=tmp_path) for argument in arguments]
    if "-o" not in filled:
        filled += ["-o", str(tmp_path / "out.npz")]
    assert main(["volume", *FAST, "--style", str(painting), *filled]) == code
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1 and message in error, error
    assert not (tmp_path / "out.npz").exists()


def test_an_interrupted_grid_resumes_from_its_checkpoint(
    painting: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from painterly.volume.stylize import VolumeStyleTransfer

    grid = tmp_path / "grid.npy"
    np.save(grid, blob(32))
    steps = ["--iterations", "6,5", "--views", "1", "--render-size", "32", "--style-size", "32", "-q"]
    steps += ["--precision", "fp32"]
    whole = tmp_path / "whole.npz"
    assert main(["volume", str(grid), "--style", str(painting), "-o", str(whole), *steps]) == 0

    evaluate = VolumeStyleTransfer.losses
    calls: list[int] = []

    def ctrl_c_at_the_ninth(self: VolumeStyleTransfer, *args: object) -> dict[str, torch.Tensor]:
        calls.append(1)
        if len(calls) == 9:
            raise KeyboardInterrupt
        return evaluate(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(VolumeStyleTransfer, "losses", ctrl_c_at_the_ninth)
    output = tmp_path / "stopped.npz"
    arguments = ["volume", str(grid), "--style", str(painting), "-o", str(output), *steps]
    capsys.readouterr()
    assert main(arguments) == 130
    checkpoint = tmp_path / "stopped.npz.checkpoint.pt"
    assert f"wrote {output} as far as it got; --resume continues from {checkpoint}" in capsys.readouterr().err
    assert output.is_file() and checkpoint.is_file()
    assert json.loads((tmp_path / "stopped.npz.run.json").read_text())["interrupted"]
    monkeypatch.setattr(VolumeStyleTransfer, "losses", evaluate)

    assert main(arguments) == 4  # neither --resume nor --overwrite: the kept result stays
    assert "already exists" in capsys.readouterr().err
    assert main([*arguments, "--resume", "--strength", "0.7"]) == 2  # other options: not this checkpoint
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1 and "made from another input, other options" in error
    assert main([*arguments, "--resume"]) == 0
    assert "1 resumed" in capsys.readouterr().out
    assert not checkpoint.exists()
    assert torch.equal(load_density(output), load_density(whole))


def test_ctrl_c_in_a_real_process_keeps_the_grid_and_a_checkpoint(painting: Path, tmp_path: Path) -> None:
    """SIGINT to `painterly volume` in its own process (a tiny VGG patched in by the launcher)."""
    grid, output = tmp_path / "grid.npy", tmp_path / "long.npz"
    np.save(grid, blob(16))
    launcher = (
        "import sys; import painterly.volume.stylize as s; from painterly.config import DEFAULT_STYLE_LAYERS; "
        "from tests.conftest import make_tiny_encoder; "
        "s.vgg16 = lambda layers: make_tiny_encoder(list(DEFAULT_STYLE_LAYERS)); "
        "from painterly.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    arguments = ["volume", str(grid), "--style", str(painting), "-o", str(output), "--iterations", "100000"]
    arguments += ["--views", "1", "--render-size", "32", "--style-size", "32", "--precision", "fp32"]
    code, rest = interrupt_once_under_way(
        [sys.executable, "-c", launcher, *arguments], sig=signal.SIGINT, cwd=Path(__file__).resolve().parents[2]
    )
    assert code == 130, rest
    assert "--resume continues from" in rest
    assert load_density(output).shape == (16, 16, 16)
    assert (tmp_path / "long.npz.checkpoint.pt").is_file()
    assert json.loads((tmp_path / "long.npz.run.json").read_text())["interrupted"]
