"""The warping error E_warp (Lai et al. 2018), streaming and on whole sequences."""

from __future__ import annotations

import pytest
import torch

from painterly.errors import ConfigError
from painterly.video.flow import FlowEstimator, consistency_mask, to_grey, warp_by_flow
from painterly.video.warping_error import WarpingError, WarpingErrorMeter, warping_error
from tests.video.test_flow import HEIGHT, WIDTH, texture_frame, translating_clip

SHIFT = (3.0, -2.0)


def stylise(frame: torch.Tensor) -> torch.Tensor:
    """A per-pixel 'style' (channels swapped and tone-curved): its output moves exactly with the input."""
    return frame[:, [2, 0, 1]].pow(2.0)


def flicker(frames: list[torch.Tensor], sigma: float = 0.05, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [frame + sigma * torch.randn(frame.shape, generator=generator) for frame in frames]


@pytest.fixture(scope="module")
def estimator() -> FlowEstimator:
    return FlowEstimator("fast")


def test_static_clip_with_constant_outputs_has_no_error(estimator: FlowEstimator) -> None:
    still = texture_frame(HEIGHT, WIDTH, (0.0, 0.0))
    outputs = [torch.full_like(still, 0.3) for _ in range(4)]
    result = warping_error([still] * 4, outputs, estimator=estimator)
    assert isinstance(result, WarpingError)
    assert result.pairs == 3
    assert len(result.per_pair) == 3
    assert result.mean < 1e-10
    assert result.masked_share < 0.01  # no motion: almost every pixel is reliable


def test_flicker_is_positive_and_above_consistent_motion(estimator: FlowEstimator) -> None:
    inputs = translating_clip(5, SHIFT)
    moving = warping_error(inputs, [stylise(frame) for frame in inputs], estimator=estimator)
    flickering = warping_error(inputs, flicker([stylise(frame) for frame in inputs]), estimator=estimator)
    # Independent noise of σ = 0.05 per channel: E ≈ 2σ² · 3 channels = 0.015.
    assert 0.01 < flickering.mean < 0.02
    assert all(error > 0.01 for error in flickering.per_pair)
    assert moving.mean < 0.1 * flickering.mean
    # The strips where content leaves the frame (3 columns, 2 rows) are masked out.
    expected_share = (3 * HEIGHT + 2 * WIDTH - 6) / (HEIGHT * WIDTH)
    assert moving.masked_share == pytest.approx(expected_share, abs=0.02)
    assert moving.masked_share == flickering.masked_share


def test_pair_error_follows_the_definition(estimator: FlowEstimator) -> None:
    inputs = translating_clip(2, SHIFT)
    outputs = flicker(inputs, seed=3)
    meter = WarpingErrorMeter(estimator)
    assert meter.update(inputs[0], outputs[0]) is None
    error = meter.update(inputs[1], outputs[1])
    forward, backward = estimator.both(to_grey(inputs[0]), to_grey(inputs[1]))
    mask = consistency_mask(forward, backward)
    warped = warp_by_flow(outputs[1], forward)[0].numpy()
    squared = ((outputs[0][0].numpy() - warped) ** 2).sum(axis=0)
    assert error == pytest.approx(float((mask * squared).sum() / mask.sum()), rel=1e-5)


def test_meter_streams_the_same_as_the_function(estimator: FlowEstimator) -> None:
    inputs = translating_clip(4, (2.5, -1.25))
    outputs = flicker([stylise(frame) for frame in inputs], sigma=0.02)
    meter = WarpingErrorMeter(estimator)
    returned = [meter.update(frame, output) for frame, output in zip(inputs, outputs, strict=True)]
    assert returned[0] is None
    streamed = meter.result()
    assert returned[1:] == streamed.per_pair
    whole = warping_error(iter(inputs), (output for output in outputs), estimator=estimator)
    assert whole == streamed
    assert streamed.mean == pytest.approx(sum(streamed.per_pair) / 3)
    # The meter holds one previous frame, not the clip.
    assert meter.result() == streamed


def test_default_estimator_is_made() -> None:
    meter = WarpingErrorMeter()
    assert meter.estimator.preset == "medium"


def test_bad_inputs(estimator: FlowEstimator) -> None:
    frames = translating_clip(3, SHIFT, height=24, width=32)
    with pytest.raises(ConfigError, match="the warping error needs at least two frames, got none"):
        warping_error([], [], estimator=estimator)
    with pytest.raises(ConfigError, match="the warping error needs at least two frames"):
        warping_error(frames[:1], frames[:1], estimator=estimator)
    with pytest.raises(ConfigError, match="inputs and outputs differ in length: inputs go on after frame 2"):
        warping_error(frames, frames[:2], estimator=estimator)
    with pytest.raises(ConfigError, match="inputs and outputs differ in length: outputs go on after frame 2"):
        warping_error(frames[:2], frames, estimator=estimator)
    meter = WarpingErrorMeter(estimator)
    with pytest.raises(ConfigError, match="at least two frames"):
        meter.result()
    small = torch.rand(1, 3, 12, 16)
    with pytest.raises(ConfigError, match="output frame 16x12 differs in size from its input frame 32x24"):
        meter.update(frames[0], small)
    with pytest.raises(ConfigError, match=r"output frame must be a \(1, 3, H, W\) tensor, got \(1, 1, 24, 32\)"):
        meter.update(frames[0], frames[0][:, :1])
    with pytest.raises(ConfigError, match=r"input frame must be a \(1, 3, H, W\) tensor, got \(3, 24, 32\)"):
        meter.update(frames[0][0], frames[0])
    assert meter.update(frames[0], frames[0]) is None  # the rejected frames left no trace
    with pytest.raises(ConfigError, match="frame size changed from 32x24 to 16x12"):
        meter.update(small, small)
    assert meter.update(frames[1], frames[1]) is not None
