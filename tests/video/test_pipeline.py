"""The frame-by-frame pipeline: stabilisation, the previous result for optimisation, resume, Ctrl-C, work folders."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

from painterly.errors import ConfigError, OutputError
from painterly.methods.base import Method, PreviousResult
from painterly.methods.registry import METHOD_MODULES, get_method
from painterly.video.io import VideoWriter, open_video
from painterly.video.pipeline import (
    VideoInterruptedError,
    VideoOptions,
    VideoProgress,
    run_identity,
    stylize_video,
    work_dir_for,
)
from painterly.video.warping_error import warping_error
from tests.video.test_flow import texture_frame


class NoisyStylizer:
    """A stand-in method whose result flickers: the frame with fresh noise each call (seeded per call count)."""

    def __init__(self) -> None:
        self.calls = 0
        self.previous: list[PreviousResult | None] = []

    def __call__(self, frame: Tensor, *, previous: PreviousResult | None = None, progress: Any = None) -> Tensor:
        self.previous.append(previous)
        generator = torch.Generator().manual_seed(self.calls)
        self.calls += 1
        return (frame + 0.15 * torch.randn(frame.shape, generator=generator)).clamp(0, 1)


def noisy_method(*, uses_previous: bool = False) -> Method:
    return Method(
        name="noisy",
        summary="test",
        options_type=dict,
        style_kind="images",
        prepare=lambda styles, options, **_: NoisyStylizer(),
        uses_previous=uses_previous,
    )


@pytest.fixture
def moving_clip(tmp_path: Path) -> Path:
    """A 96x128 clip of a texture moving (2, -1) px per frame, 10 frames, written losslessly enough (crf 0)."""
    path = tmp_path / "moving.mp4"
    with VideoWriter(path, width=128, height=96, fps=25.0, time_base=Fraction(1, 25), quality=0) as writer:
        for index in range(10):
            writer.write(texture_frame(96, 128, (2.0 * index, -1.0 * index), seed=3), index)
    return path


def run(
    source: Path,
    output: Path,
    method: Method,
    stylizer: Any,
    options: VideoOptions,
    progress: Any = None,
) -> Any:
    with open_video(source) as reader:
        info = reader.info
        writer = VideoWriter(output, width=info.width, height=info.height, fps=info.fps, time_base=info.time_base)
        identity = run_identity(info, method, {}, options, styles=["noise"])
        return stylize_video(
            reader,
            writer,
            stylizer,
            method,
            options,
            identity=identity,
            work_dir=work_dir_for(output),
            progress=progress,
        )


def frames_of(path: Path) -> list[Tensor]:
    with open_video(path) as reader:
        return [frame.image for frame in reader]


def work_frames(output: Path) -> Iterator[Tensor]:
    from painterly.image.io import load_image

    for path in sorted(work_dir_for(output).glob("frame_*.png")):
        yield load_image(path)


def test_stabilisation_cuts_the_warping_error_of_a_flickering_method(moving_clip: Path, tmp_path: Path) -> None:
    method = noisy_method()
    per_frame = tmp_path / "per_frame.mp4"
    stable = tmp_path / "stable.mp4"
    run(moving_clip, per_frame, method, NoisyStylizer(), VideoOptions(temporal=0.0, keep_frames=True))
    result = run(moving_clip, stable, method, NoisyStylizer(), VideoOptions(temporal=0.8, keep_frames=True))
    assert result.frames == 10 and result.stage_seconds["flow"] > 0 and result.stage_seconds["blend"] > 0
    inputs = frames_of(moving_clip)
    flicker = warping_error(inputs, list(work_frames(per_frame))).mean
    stabilised = warping_error(inputs, list(work_frames(stable))).mean
    assert stabilised < 0.4 * flicker
    assert per_frame.is_file() and stable.is_file() and len(frames_of(stable)) == 10


def test_temporal_zero_is_each_frame_on_its_own(moving_clip: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    stylizer = NoisyStylizer()
    result = run(moving_clip, output, noisy_method(), stylizer, VideoOptions(temporal=0.0))
    assert result.stage_seconds["flow"] == 0 and all(previous is None for previous in stylizer.previous)
    assert not work_dir_for(output).exists()  # removed after a successful run


def test_a_method_that_uses_the_previous_result_gets_it_warped_with_a_mask(moving_clip: Path, tmp_path: Path) -> None:
    stylizer = NoisyStylizer()
    run(moving_clip, tmp_path / "out.mp4", noisy_method(uses_previous=True), stylizer, VideoOptions(temporal=0.6))
    assert stylizer.previous[0] is None
    later = [previous for previous in stylizer.previous[1:] if previous is not None]
    assert len(later) == 9 and all(previous.strength == 0.6 for previous in later)
    mask = later[0].mask
    assert mask.shape == (1, 1, 96, 128) and 0.8 < float(mask.mean()) < 1.0  # the entering strip is unreliable
    assert float(mask[..., :, :4].mean()) < 0.5  # content enters from the left (it moves right)


def test_interrupt_leaves_a_partial_video_and_resume_gives_the_same_frames(moving_clip: Path, tmp_path: Path) -> None:
    method = noisy_method()
    whole = tmp_path / "whole.mp4"
    run(moving_clip, whole, method, NoisyStylizer(), VideoOptions(temporal=0.7, keep_frames=True))

    output = tmp_path / "out.mp4"

    def stop_after_four(progress: VideoProgress) -> None:
        if progress.frame == 4:
            raise KeyboardInterrupt

    with pytest.raises(VideoInterruptedError, match=r"frames so far are in .*out\.partial\.mp4.*--resume") as caught:
        run(moving_clip, output, method, NoisyStylizer(), VideoOptions(temporal=0.7), progress=stop_after_four)
    assert caught.value.frames == 4 and caught.value.partial == tmp_path / "out.partial.mp4"
    assert len(frames_of(tmp_path / "out.partial.mp4")) == 4 and not output.exists()
    assert len(list(work_dir_for(output).glob("frame_*.png"))) == 4

    with pytest.raises(OutputError, match="pass --resume"):
        run(moving_clip, output, method, NoisyStylizer(), VideoOptions(temporal=0.7))
    resumed_stylizer = NoisyStylizer()
    resumed_stylizer.calls = 4  # the same noise as frame 5 of an uninterrupted run
    result = run(
        moving_clip, output, method, resumed_stylizer, VideoOptions(temporal=0.7, resume=True, keep_frames=True)
    )
    assert result.resumed == 4 and result.frames == 10 and resumed_stylizer.calls == 10
    for first, second in zip(work_frames(whole), work_frames(output), strict=True):
        assert torch.equal(first, second)


def test_resume_refuses_a_work_folder_of_another_run(moving_clip: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    run(moving_clip, output, noisy_method(), NoisyStylizer(), VideoOptions(temporal=0.5, keep_frames=True))
    with pytest.raises(ConfigError, match="made with another input, method, style or options"):
        run(moving_clip, output, noisy_method(), NoisyStylizer(), VideoOptions(temporal=0.9, resume=True))
    work_dir_for(tmp_path / "y.mp4").mkdir()
    with pytest.raises(OutputError, match="exists and is not painterly's"):
        run(moving_clip, tmp_path / "y.mp4", noisy_method(), NoisyStylizer(), VideoOptions())


def test_bad_video_options() -> None:
    with pytest.raises(ConfigError, match=r"temporal must be within 0\.\.1"):
        VideoOptions(temporal=1.5)
    with pytest.raises(ConfigError, match="unknown flow preset 'slow'"):
        VideoOptions(flow_preset="slow")


def test_a_registered_module_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("painterly_test_noisy")
    module.METHOD = noisy_method()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "painterly_test_noisy", module)
    monkeypatch.setitem(METHOD_MODULES, "noisy", "painterly_test_noisy")
    assert get_method("noisy").prepare([], {})(torch.zeros(1, 3, 4, 4)).shape == (1, 3, 4, 4)
