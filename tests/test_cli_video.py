"""``painterly video`` and ``painterly score`` end to end through main([...]), on tiny random networks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from painterly.cli import main
from painterly.video.io import open_video
from tests.conftest import gradient_image
from tests.video.conftest import audio_packets, make_clip


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return make_clip(tmp_path / "clip.mp4", frames=8, width=64, height=48, audio=True)


@pytest.fixture
def painting(tmp_path: Path) -> Path:
    path = tmp_path / "painting.png"
    Image.fromarray((gradient_image(40, 40, seed=2)[0].permute(1, 2, 0).numpy() ** 2 * 255).astype(np.uint8)).save(path)
    return path


def frame_count(path: Path) -> int:
    with open_video(path) as reader:
        return sum(1 for _ in reader)


@pytest.mark.usefixtures("tiny_methods")
@pytest.mark.parametrize(
    "choice",
    [
        ["--preset", "starry:0.5,udnie:0.5"],
        ["--style", "{painting}", "--alpha", "0.8"],
        ["--style", "{painting}", "--method", "gatys", "--iterations", "2", "--frame-iterations", "1"],
    ],
)
def test_video_with_every_method_keeps_frames_and_sound(
    clip: Path, painting: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], choice: list[str]
) -> None:
    output = tmp_path / "out.mp4"
    arguments = [argument.format(painting=painting) for argument in choice]
    assert main(["video", str(clip), "-o", str(output), *arguments, "-q"]) == 0
    printed = capsys.readouterr().out
    assert "wrote" in printed and "audio copied (aac)" in printed
    assert frame_count(output) == 8
    assert [packet[0] for packet in audio_packets(output)] == [packet[0] for packet in audio_packets(clip)]
    record = json.loads((tmp_path / "out.mp4.run.json").read_text())
    assert (
        record["frames"] == 8
        and record["audio"] == "audio copied (aac)"
        and set(record["stage_seconds"])
        >= {
            "decode",
            "flow",
            "stylize",
            "encode",
        }
    )
    assert not (tmp_path / "out.mp4.work").exists()


@pytest.mark.usefixtures("tiny_methods")
def test_video_outputs_webm_gif_and_frames(clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["video", str(clip), "--preset", "starry", "-q", "--size", "32"]
    assert main([*base, "-o", str(tmp_path / "out.webm")]) == 0
    assert "transcoded to opus" in capsys.readouterr().out
    assert main([*base, "-o", str(tmp_path / "out.gif")]) == 0
    assert "gif has no sound" in capsys.readouterr().out
    assert main([*base, "-o", str(tmp_path / "frames"), "--start", "0.1", "--duration", "0.15"]) == 0
    pictures = sorted((tmp_path / "frames").glob("*.png"))
    assert len(pictures) in (3, 4) and Image.open(pictures[0]).size == (32, 24)
    assert main(["video", str(tmp_path / "frames"), "--preset", "udnie", "-q", "-o", str(tmp_path / "again.mp4")]) == 0
    assert frame_count(tmp_path / "again.mp4") == len(pictures)


@pytest.mark.usefixtures("tiny_methods")
@pytest.mark.parametrize(
    ("arguments", "message", "code"),
    [
        ([], "choose a style", 2),
        (["--preset", "starry", "--frame-iterations", "3"], "--frame-iterations does not apply to method 'preset'", 2),
        (["--preset", "starry", "--temporal", "2"], "2.0 is not in the range 0<=x<=1", 2),
        (["--preset", "starry", "-o", "{tmp}/out.avi"], "unsupported output container", 2),
        (["--preset", "starry", "-o", "{clip}", "--overwrite"], "it is the input", 4),
        (["--preset", "starry", "-o", "{tmp}"], "the folder is not empty; choose a new or empty folder", 4),
        (["--preset", "monet"], "unknown style 'monet'", 2),
        (["--style", "{tmp}/missing.png", "--method", "adain"], "missing.png", 3),
    ],
)
def test_video_bad_options_and_outputs(
    clip: Path,
    painting: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    message: str,
    code: int,
) -> None:
    filled = [argument.format(tmp=tmp_path, clip=clip) for argument in arguments]
    if "-o" not in filled:
        filled += ["-o", str(tmp_path / "out.mp4")]
    assert main(["video", str(clip), "-q", *filled]) == code
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1, error
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.usefixtures("tiny_methods")
def test_video_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    audio_only = make_clip(tmp_path / "sound.mp4", audio=True, video=False)
    for source, message in (
        (tmp_path / "missing.mp4", "missing.mp4"),
        (text, "notes.mp4"),
        (audio_only, "no video stream"),
    ):
        assert main(["video", str(source), "--preset", "starry", "-o", str(tmp_path / "o.mp4"), "-q"]) == 3
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1, error
        assert not list(tmp_path.glob("o.*")) and not list(tmp_path.glob(".o*"))


@pytest.mark.usefixtures("tiny_methods")
def test_video_existing_output_and_resume(clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "out.mp4"
    base = ["video", str(clip), "--preset", "starry", "-q", "-o", str(output)]
    assert main([*base, "--keep-frames"]) == 0
    assert len(list((tmp_path / "out.mp4.work").glob("frame_*.png"))) == 8
    assert main(base) == 4
    assert "already exists" in capsys.readouterr().err
    assert main([*base, "--resume"]) == 0  # every frame is in the work folder: nothing to stylise again
    assert "8 resumed" in capsys.readouterr().out


@pytest.mark.real_weights
def test_score_images_and_videos(
    clip: Path, tmp_path: Path, painting: Path, capsys: pytest.CaptureFixture[str], real_weights: Path
) -> None:
    photo = tmp_path / "photo.png"
    Image.fromarray((gradient_image(48, 64)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(photo)
    assert main(["score", str(photo), str(painting), "--content", str(photo), "--style", str(painting)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["content"] == pytest.approx(0.0, abs=1e-6) and lines[0]["ssim"] == pytest.approx(1.0)
    assert lines[0]["lpips"] == pytest.approx(0.0, abs=1e-6) and lines[1]["content"] > 0 and lines[1]["style"] >= 0

    assert main(["score", str(clip), "--content", str(clip)]) == 0
    same = json.loads(capsys.readouterr().out)
    assert same["frames"] == 8 and 0 <= same["warping_error"] < 0.01 and 0 <= same["masked_share"] < 1
    shorter = make_clip(tmp_path / "short.mp4", frames=5, width=64, height=48)
    assert main(["score", str(shorter), "--content", str(clip)]) == 2
    assert "differ in length (after 5 frames)" in capsys.readouterr().err
    assert main(["score", str(clip), "--content", str(clip), "--style", str(painting)]) == 2
    assert "--style applies to images" in capsys.readouterr().err


def test_score_a_flickering_video_scores_worse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fractions import Fraction

    from painterly.video.io import VideoWriter
    from tests.video.test_flow import texture_frame

    steady, flicker = tmp_path / "steady.mp4", tmp_path / "flicker.mp4"
    for path, noise in ((steady, 0.0), (flicker, 0.1)):
        with VideoWriter(path, width=128, height=96, fps=25.0, time_base=Fraction(1, 25), quality=0) as writer:
            for index in range(6):
                frame = texture_frame(96, 128, (2.0 * index, 0.0), seed=1)
                noisy = frame + noise * torch.randn(frame.shape, generator=torch.Generator().manual_seed(index))
                writer.write(noisy.clamp(0, 1), index)
    assert main(["score", str(steady), str(flicker), "--content", str(steady)]) == 0
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert first["frames"] == second["frames"] == 6
    assert second["warping_error"] > 10 * first["warping_error"]


@pytest.mark.usefixtures("tiny_methods")
def test_video_interrupted_then_resumed_through_the_cli(
    clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from painterly.video import pipeline

    output = tmp_path / "out.mp4"
    base = ["video", str(clip), "--preset", "starry", "-q", "-o", str(output)]
    original_put = pipeline.FrameStore.put

    def put_then_stop(self: pipeline.FrameStore, index: int, image: torch.Tensor) -> None:
        original_put(self, index, image)
        if index == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(pipeline.FrameStore, "put", put_then_stop)
    assert main(base) == 130
    error = capsys.readouterr().err
    assert "out.partial.mp4 (playable)" in error and "--resume" in error and error.count("\n") == 1
    assert frame_count(tmp_path / "out.partial.mp4") == 4 and not output.exists()
    monkeypatch.setattr(pipeline.FrameStore, "put", original_put)
    assert main(base) == 4  # the work folder is there: it needs --resume
    assert "pass --resume" in capsys.readouterr().err
    assert main([*base, "--start", "0.04", "--resume"]) == 2  # another range is another run
    assert "made with another input" in capsys.readouterr().err
    assert main([*base, "--resume"]) == 0
    assert "5 resumed" in capsys.readouterr().out
    assert frame_count(output) == 8 and not (tmp_path / "out.partial.mp4").exists()
    assert not (tmp_path / "out.mp4.work").exists()


@pytest.mark.usefixtures("tiny_methods")
def test_gatys_video_resumed_equals_uninterrupted(
    clip: Path, painting: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from painterly.image.io import load_image
    from painterly.video import pipeline

    def run(output: Path, *extra: str) -> int:
        return main(
            ["video", str(clip), "--style", str(painting), "--method", "gatys", "--iterations", "3",
             "--frame-iterations", "2", "-q", "--keep-frames", "-o", str(output), *extra]
        )  # fmt: skip

    assert run(tmp_path / "whole.mp4") == 0
    original_put = pipeline.FrameStore.put

    def put_then_stop(self: pipeline.FrameStore, index: int, image: torch.Tensor) -> None:
        original_put(self, index, image)
        if index == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(pipeline.FrameStore, "put", put_then_stop)
    assert run(tmp_path / "out.mp4") == 130
    monkeypatch.setattr(pipeline.FrameStore, "put", original_put)
    assert run(tmp_path / "out.mp4", "--resume") == 0
    whole = sorted((tmp_path / "whole.mp4.work").glob("frame_*.png"))
    resumed = sorted((tmp_path / "out.mp4.work").glob("frame_*.png"))
    assert len(whole) == len(resumed) == 8
    for first, second in zip(whole, resumed, strict=True):
        assert torch.equal(load_image(first), load_image(second))


@pytest.mark.usefixtures("tiny_methods")
def test_video_with_the_fast_preset_network(clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = {}
    for network in ("quality", "fast"):
        output = tmp_path / network
        base = ["video", str(clip), "--preset", "starry", "-q", "--duration", "0.1", "--temporal", "0"]
        assert main([*base, "--network", network, "-o", str(output)]) == 0
        frames[network] = [np.asarray(Image.open(path)).astype(int) for path in sorted(output.glob("*.png"))]
        record = json.loads((tmp_path / f"{network}.run.json").read_text())
        assert f"network='{network}'" in record["options"]
    assert len(frames["fast"]) == len(frames["quality"]) > 0
    assert np.abs(np.stack(frames["fast"]) - np.stack(frames["quality"])).mean() > 1
    assert main(["video", str(clip), "--preset", "starry", "-q", "--network", "turbo", "-o", str(tmp_path / "x")]) == 2
    assert "'--network'" in capsys.readouterr().err
