"""Optical flow (DIS), warping by a flow and the forward-backward consistency mask."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from painterly.errors import ConfigError
from painterly.video.flow import (
    FLOW_PRESETS,
    VIDEO_FLOW_PRESET,
    FlowEstimator,
    consistency_mask,
    to_grey,
    warp_by_flow,
)

HEIGHT, WIDTH = 96, 128
SHIFTS = [(3.0, -2.0), (2.5, -1.25)]  # content motion per frame (dx, dy): integer and sub-pixel


def texture_frame(height: int, width: int, shift: tuple[float, float], *, seed: int = 0) -> torch.Tensor:
    """A smooth random colour texture (sums of plane waves, periods 7-40 px) with its content moved by ``shift``:
    ``frame(x) = texture(x − shift)``, exact at sub-pixel shifts. (1, 3, H, W) in [0, 1]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    x -= shift[0]
    y -= shift[1]

    def waves(count: int) -> np.ndarray:
        theta = rng.uniform(0.0, 2.0 * np.pi, count)
        period = rng.uniform(7.0, 40.0, count)
        phase = rng.uniform(0.0, 2.0 * np.pi, count)
        total: np.ndarray = np.zeros_like(x)
        for k in range(count):
            total += np.sin(2.0 * np.pi * (np.cos(theta[k]) * x + np.sin(theta[k]) * y) / period[k] + phase[k])
        return total / count

    common = waves(12)
    channels = [0.5 + 0.6 * common + 0.1 * waves(6) for _ in range(3)]
    return torch.from_numpy(np.stack(channels)[None].astype(np.float32)).clamp(0.0, 1.0)


def translating_clip(
    frames: int, shift: tuple[float, float], *, height: int = HEIGHT, width: int = WIDTH, seed: int = 0
) -> list[torch.Tensor]:
    """Frame t shows the texture moved by t · shift, so the flow t → t+1 is ``shift`` and t → t−1 is −shift."""
    return [texture_frame(height, width, (t * shift[0], t * shift[1]), seed=seed) for t in range(frames)]


def interior(margin: int = 8, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    inner = np.zeros((height, width), dtype=bool)
    inner[margin:-margin, margin:-margin] = True
    return inner


# --- references ---------------------------------------------------------------------------------------------------


def bilinear_reference(field: np.ndarray, x: float, y: float) -> list[float]:
    """``field`` (H, W, K) at (x, y), coordinates clamped into the frame, the four neighbours weighted by hand."""
    height, width = field.shape[:2]
    x = min(max(x, 0.0), width - 1.0)
    y = min(max(y, 0.0), height - 1.0)
    x0, y0 = math.floor(x), math.floor(y)
    x1, y1 = min(x0 + 1, width - 1), min(y0 + 1, height - 1)
    ax, ay = x - x0, y - y0
    return [
        (1 - ay) * ((1 - ax) * float(field[y0, x0, k]) + ax * float(field[y0, x1, k]))
        + ay * ((1 - ax) * float(field[y1, x0, k]) + ax * float(field[y1, x1, k]))
        for k in range(field.shape[2])
    ]


def warp_reference(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """out[c, y, x] = image[c](x + flow(x)) pixel by pixel; ``image`` (C, H, W)."""
    channels_last = np.moveaxis(image, 0, -1)
    out = np.zeros_like(image, dtype=np.float64)
    for row in range(image.shape[1]):
        for col in range(image.shape[2]):
            values = bilinear_reference(channels_last, col + float(flow[row, col, 0]), row + float(flow[row, col, 1]))
            out[:, row, col] = values
    return out


def consistency_reference(forward: np.ndarray, backward: np.ndarray, motion_boundaries: bool) -> np.ndarray:
    """Sundaram et al.'s check written out per pixel, in Python floats."""
    height, width = forward.shape[:2]
    mask = np.zeros((height, width), dtype=np.float32)
    for row in range(height):
        for col in range(width):
            u, v = float(forward[row, col, 0]), float(forward[row, col, 1])
            x, y = col + u, row + v
            if not (0.0 <= x <= width - 1 and 0.0 <= y <= height - 1):
                continue
            u_hat, v_hat = bilinear_reference(backward, x, y)
            if (u + u_hat) ** 2 + (v + v_hat) ** 2 >= 0.01 * (u * u + v * v + u_hat * u_hat + v_hat * v_hat) + 0.5:
                continue
            if motion_boundaries:
                left, right = max(col - 1, 0), min(col + 1, width - 1)
                up, down = max(row - 1, 0), min(row + 1, height - 1)
                edge = 0.0
                for k in range(2):
                    d_dx = 0.5 * (float(forward[row, right, k]) - float(forward[row, left, k]))
                    d_dy = 0.5 * (float(forward[down, col, k]) - float(forward[up, col, k]))
                    edge += d_dx * d_dx + d_dy * d_dy
                if edge > 0.01 * (u * u + v * v) + 0.002:
                    continue
            mask[row, col] = 1.0
    return mask


# --- presets and grey frames --------------------------------------------------------------------------------------


def test_presets() -> None:
    assert FLOW_PRESETS == ("ultrafast", "fast", "medium")
    assert VIDEO_FLOW_PRESET in FLOW_PRESETS
    assert FlowEstimator().preset == "medium"
    with pytest.raises(ConfigError, match="unknown flow preset 'slow'; choose one of ultrafast, fast, medium"):
        FlowEstimator("slow")


def test_to_grey_rec601() -> None:
    image = torch.zeros(1, 3, 2, 3)
    image[0, 0, 0, 0] = 1.0  # red
    image[0, 1, 0, 1] = 1.0  # green
    image[0, 2, 0, 2] = 1.0  # blue
    image[0, :, 1, 0] = 1.0  # white
    image[0, :, 1, 1] = 0.2  # grey
    grey = to_grey(image)
    assert grey.dtype == np.uint8
    assert grey.shape == (2, 3)
    assert grey.tolist() == [[76, 150, 29], [255, 51, 0]]
    # Out-of-range values clip instead of wrapping around.
    assert to_grey(torch.full((1, 3, 1, 1), 1.7)).item() == 255
    assert to_grey(torch.full((1, 3, 1, 1), -0.3)).item() == 0


@pytest.mark.parametrize("shape", [(3, 4, 4), (1, 1, 4, 4), (2, 3, 4, 4)])
def test_to_grey_rejects_other_shapes(shape: tuple[int, ...]) -> None:
    with pytest.raises(ConfigError, match=r"expected an image of shape \(1, 3, H, W\)"):
        to_grey(torch.zeros(shape))


def test_estimator_rejects_bad_frames() -> None:
    estimator = FlowEstimator("ultrafast")
    grey = np.zeros((16, 16), dtype=np.uint8)
    with pytest.raises(ConfigError, match="flow source must be a grey uint8"):
        estimator(grey.astype(np.float32), grey)
    with pytest.raises(ConfigError, match="flow target must be a grey uint8"):
        estimator(grey, np.zeros((16, 16, 3), dtype=np.uint8))
    with pytest.raises(ConfigError, match="differ in size"):
        estimator(grey, np.zeros((16, 17), dtype=np.uint8))


# --- DIS on a translating texture ----------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", FLOW_PRESETS)
@pytest.mark.parametrize("shift", SHIFTS)
def test_dis_recovers_translation(preset: str, shift: tuple[float, float]) -> None:
    first, second = (to_grey(frame) for frame in translating_clip(2, shift))
    forward, backward = FlowEstimator(preset).both(first, second)
    assert forward.shape == (HEIGHT, WIDTH, 2)
    assert forward.dtype == np.float32
    mask = consistency_mask(forward, backward) > 0
    reliable = mask & interior()
    assert reliable.mean() > 0.9 * interior().mean()
    for flow, sign in ((forward, 1.0), (backward, -1.0)):
        endpoint_error = np.hypot(flow[..., 0] - sign * shift[0], flow[..., 1] - sign * shift[1])
        assert endpoint_error[reliable].mean() < 0.5


@pytest.mark.parametrize("preset", ["fast", "medium"])
@pytest.mark.parametrize("shift", SHIFTS)
def test_uncovered_strip_is_masked(preset: str, shift: tuple[float, float]) -> None:
    previous, current = (to_grey(frame) for frame in translating_clip(2, shift))
    # As the pipeline does: the flow t → t−1 checked against t−1 → t, in frame t's coordinates.
    to_previous, from_previous = FlowEstimator(preset).both(current, previous)
    mask = consistency_mask(to_previous, from_previous)
    columns = np.arange(WIDTH) - shift[0]  # where each column of frame t was in frame t−1
    rows = np.arange(HEIGHT) - shift[1]
    new_columns = columns < -0.5  # content entering from the left, more than half a pixel outside
    new_rows = rows > HEIGHT - 1 + 0.5  # content entering from the bottom (it moves up)
    assert new_columns.any() and new_rows.any()
    assert (mask[:, new_columns] == 0).all()
    assert (mask[new_rows, :] == 0).all()
    assert mask[interior(4)].mean() > 0.98
    assert mask.mean() > 0.9


# --- warping -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("channels", [1, 2, 3, 5])
def test_warp_matches_reference(dtype: torch.dtype, channels: int) -> None:
    rng = np.random.default_rng(channels)
    image = rng.random((channels, 7, 9))
    flow = (rng.standard_normal((7, 9, 2)) * 3.0).astype(np.float32)  # some samples land outside: border replicate
    warped = warp_by_flow(torch.from_numpy(image).to(dtype)[None], flow)
    assert warped.dtype == dtype
    assert warped.shape == (1, channels, 7, 9)
    expected = warp_reference(image, flow)
    np.testing.assert_allclose(warped[0].double().numpy(), expected, atol=1e-5, rtol=0)
    # A tensor flow gives the same, and every image of a batch is warped alike.
    batch = torch.from_numpy(np.stack([image, 1.0 - image])).to(dtype)
    warped_batch = warp_by_flow(batch, torch.from_numpy(flow))
    np.testing.assert_allclose(warped_batch[1].double().numpy(), 1.0 - expected, atol=1e-5, rtol=0)


def test_warp_identity_and_integer_shift() -> None:
    image = torch.rand(1, 3, 10, 12, dtype=torch.float64)
    zero = np.zeros((10, 12, 2), dtype=np.float32)
    torch.testing.assert_close(warp_by_flow(image, zero), image, atol=1e-12, rtol=0)
    shift = zero.copy()
    shift[..., 0], shift[..., 1] = 2.0, -1.0
    warped = warp_by_flow(image, shift)
    torch.testing.assert_close(warped[..., 1:, :-2], image[..., :-1, 2:], atol=1e-12, rtol=0)
    torch.testing.assert_close(warped[..., 0, :-2], image[..., 0, 2:], atol=1e-12, rtol=0)  # replicated top row


def test_warp_is_differentiable_and_rejects_bad_shapes() -> None:
    image = torch.rand(1, 2, 5, 6, requires_grad=True)
    flow = np.full((5, 6, 2), 0.25, dtype=np.float32)
    (gradient,) = torch.autograd.grad(warp_by_flow(image, flow).sum(), image)
    assert gradient.shape == image.shape
    with pytest.raises(ConfigError, match=r"flow must have shape \(H, W, 2\)"):
        warp_by_flow(image, np.zeros((5, 6, 3), dtype=np.float32))
    with pytest.raises(ConfigError, match=r"flow of size \(5, 7\) does not fit an image of size \(5, 6\)"):
        warp_by_flow(image, np.zeros((5, 7, 2), dtype=np.float32))
    with pytest.raises(ConfigError, match=r"expected an image of shape \(B, C, H, W\)"):
        warp_by_flow(image[0], flow)


@pytest.mark.parametrize("shift", SHIFTS)
def test_warp_of_translated_frame_reproduces_previous(shift: tuple[float, float]) -> None:
    previous, current = translating_clip(2, shift)
    to_previous, from_previous = FlowEstimator("fast").both(to_grey(current), to_grey(previous))
    mask = consistency_mask(to_previous, from_previous) > 0
    warped = warp_by_flow(previous, to_previous)  # the previous frame brought into the current one
    difference = (warped - current).abs().amax(dim=1)[0].numpy()
    assert difference[mask].mean() < 0.015  # ~0.007 measured (under two grey levels)
    unwarped = (previous - current).abs().amax(dim=1)[0].numpy()
    assert unwarped[mask].mean() > 5 * difference[mask].mean()  # ~0.1 measured


# --- consistency mask ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("motion_boundaries", [True, False])
def test_consistency_matches_reference(seed: int, motion_boundaries: bool) -> None:
    rng = np.random.default_rng(seed)
    height, width = 9, 11
    # A smooth flow (so some pixels pass the motion-boundary test) plus a little noise; the backward flow is the
    # exact inverse at the forward targets plus noise of mixed size, so both outcomes of the round trip occur.
    smooth = rng.standard_normal(2) * 2.0 + np.linspace(0, 1, width)[None, :, None] * rng.standard_normal(2) * 0.3
    forward = (np.broadcast_to(smooth, (height, width, 2)) + rng.standard_normal((height, width, 2)) * 0.05).astype(
        np.float32
    )
    backward = (-np.broadcast_to(smooth, (height, width, 2)) + rng.standard_normal((height, width, 2)) * 0.6).astype(
        np.float32
    )
    mask = consistency_mask(forward, backward, motion_boundaries=motion_boundaries)
    expected = consistency_reference(forward, backward, motion_boundaries)
    assert mask.dtype == np.float32
    assert mask.shape == (height, width)
    np.testing.assert_array_equal(mask, expected)
    assert 0 < expected.sum() < expected.size  # a meaningful mix of both outcomes


def test_consistency_of_random_flows_matches_reference() -> None:
    rng = np.random.default_rng(7)
    forward = (rng.standard_normal((8, 10, 2)) * 1.5).astype(np.float32)
    backward = (rng.standard_normal((8, 10, 2)) * 1.5).astype(np.float32)
    for motion_boundaries in (True, False):
        np.testing.assert_array_equal(
            consistency_mask(forward, backward, motion_boundaries=motion_boundaries),
            consistency_reference(forward, backward, motion_boundaries),
        )


def test_consistency_synthetic_cases() -> None:
    height, width = 12, 16
    zero = np.zeros((height, width, 2), dtype=np.float32)
    assert (consistency_mask(zero, zero) == 1).all()  # the frame's last row and column count as inside

    shift = zero.copy()
    shift[..., 0], shift[..., 1] = 2.0, -1.0
    mask = consistency_mask(shift, -shift)
    assert (mask[:, -2:] == 0).all()  # x + 2 leaves the frame
    assert (mask[0, :] == 0).all()  # y − 1 leaves the frame
    assert (mask[1:, :-2] == 1).all()

    # A backward flow that does not return (it goes on instead of back) is unreliable everywhere.
    assert (consistency_mask(shift, shift) == 0).all()

    # An occluded patch: the backward flow there points elsewhere.
    backward = -shift
    backward[4:8, 6:10] = (3.0, 3.0)
    occluded = consistency_mask(shift, backward, motion_boundaries=False)
    targets = np.zeros((height, width), dtype=bool)
    targets[5:9, 4:8] = True  # pixels whose target x + (2, −1) lands inside the patch
    assert (occluded[targets] == 0).all()


def test_motion_boundary_flags_a_discontinuity() -> None:
    height, width = 6, 16
    forward = np.zeros((height, width, 2), dtype=np.float32)
    forward[:, 8:, 0] = 1.0  # the right half moves one pixel right
    backward = np.zeros_like(forward)
    backward[:, 9:, 0] = -1.0  # and comes back: consistent everywhere
    plain = consistency_mask(forward, backward, motion_boundaries=False)
    assert (plain[:, :-1] == 1).all()
    assert (plain[:, -1] == 0).all()  # x + 1 leaves the frame
    with_edges = consistency_mask(forward, backward)
    # Central differences flag the two columns either side of the jump, and nothing else.
    assert (with_edges[:, 7:9] == 0).all()
    np.testing.assert_array_equal(np.delete(with_edges, [7, 8], axis=1), np.delete(plain, [7, 8], axis=1))


def test_consistency_treats_non_finite_flow_as_unreliable() -> None:
    forward = np.zeros((4, 5, 2), dtype=np.float32)
    forward[1, 2] = np.nan
    backward = np.zeros_like(forward)
    backward[3, 4, 0] = np.inf
    mask = consistency_mask(forward, backward, motion_boundaries=False)
    assert mask[1, 2] == 0
    assert mask[3, 4] == 0  # its round trip is infinite
    assert mask[:3, :2].all()  # far from both, all reliable


def test_consistency_rejects_bad_shapes() -> None:
    flow = np.zeros((4, 5, 2), dtype=np.float32)
    with pytest.raises(ConfigError, match=r"forward flow must have shape \(H, W, 2\), got \(4, 5\)"):
        consistency_mask(flow[..., 0], flow)
    with pytest.raises(ConfigError, match=r"backward flow must have shape \(H, W, 2\)"):
        consistency_mask(flow, np.zeros((4, 5, 3), dtype=np.float32))
    with pytest.raises(ConfigError, match="forward and backward flows differ in size"):
        consistency_mask(flow, np.zeros((4, 6, 2), dtype=np.float32))
