"""Frame linking, the occlusion-aware blend and the short-term temporal loss."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from painterly.errors import ConfigError
from painterly.losses import TemporalLoss
from painterly.video.flow import FlowEstimator, warp_by_flow
from painterly.video.temporal import FrameLinker, Link, blend
from tests.video.test_flow import HEIGHT, SHIFTS, WIDTH, interior, translating_clip


def make_link(height: int = 6, width: int = 8, *, seed: int = 0) -> Link:
    rng = np.random.default_rng(seed)
    flow = (rng.standard_normal((height, width, 2)) * 1.5).astype(np.float32)
    mask = torch.from_numpy((rng.random((height, width)) > 0.4).astype(np.float32))[None, None]
    return Link(flow=flow, mask=mask)


# --- Link and FrameLinker ------------------------------------------------------------------------------------------


def test_link_warp_and_coverage() -> None:
    link = make_link()
    image = torch.rand(1, 3, 6, 8)
    expected = warp_by_flow(image, link.flow, mode="bicubic").clamp(0, 1)
    torch.testing.assert_close(link.warp(image), expected, atol=2e-4, rtol=0)  # OpenCV's remap: the same kernel
    # bicubic is exact at whole-pixel shifts (away from the replicated border) and sharper than bilinear between
    shift = np.zeros((6, 8, 2), np.float32)
    shift[..., 0] = 1.0
    torch.testing.assert_close(
        Link(flow=shift, mask=link.mask).warp(image)[..., :6], image[..., 1:7], atol=1e-6, rtol=0
    )
    assert link.coverage == pytest.approx(float(link.mask.mean()))
    assert 0.0 < link.coverage < 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        link.flow = link.flow  # type: ignore[misc]


@pytest.mark.parametrize("shift", SHIFTS)
def test_linker_links_consecutive_frames(shift: tuple[float, float]) -> None:
    frames = translating_clip(4, shift)
    linker = FrameLinker(FlowEstimator("fast"))
    assert linker.link(frames[0]) is None
    for t in range(1, 4):
        link = linker.link(frames[t])
        assert link is not None
        assert link.flow.shape == (HEIGHT, WIDTH, 2)
        assert link.flow.dtype == np.float32
        assert link.mask.shape == (1, 1, HEIGHT, WIDTH)
        assert link.mask.dtype == torch.float32
        assert set(np.unique(link.mask.numpy()).tolist()) <= {0.0, 1.0}
        # Always t → t−1 (only the previous frame is kept): −shift, not −t·shift.
        reliable = (link.mask[0, 0].numpy() > 0) & interior()
        endpoint_error = np.hypot(link.flow[..., 0] + shift[0], link.flow[..., 1] + shift[1])
        assert endpoint_error[reliable].mean() < 0.5
        assert 0.9 < link.coverage < 1.0  # the strip where content enters is left out
        # The previous frame warped by the link reproduces this one where the mask trusts the flow.
        difference = (link.warp(frames[t - 1]) - frames[t]).abs().amax(dim=1)[0].numpy()
        assert difference[link.mask[0, 0].numpy() > 0].mean() < 0.015


def test_linker_reset_and_size_change() -> None:
    small = translating_clip(2, (1.0, 0.0), height=32, width=40)
    large = translating_clip(1, (1.0, 0.0), height=36, width=40)
    linker = FrameLinker(FlowEstimator("ultrafast"))
    assert linker.link(small[0]) is None
    with pytest.raises(ConfigError, match=r"frame size changed from 40x32 to 40x36 \(reset the linker between clips\)"):
        linker.link(large[0])
    assert linker.link(small[1]) is not None  # the failed frame did not replace the previous one
    linker.reset()
    assert linker.link(large[0]) is None


# --- blend ---------------------------------------------------------------------------------------------------------


def test_blend_strength_zero_is_exact() -> None:
    link = make_link()
    current, previous = torch.rand(1, 3, 6, 8), torch.rand(1, 3, 6, 8)
    out = blend(current, previous, link, 0.0)
    assert torch.equal(out, current)
    assert out is not current


def test_blend_strength_one_takes_warped_inside_mask() -> None:
    link = make_link(seed=1)
    current, previous = torch.rand(1, 3, 6, 8), torch.rand(1, 3, 6, 8)
    out = blend(current, previous, link, 1.0)
    inside = link.mask.expand_as(current) > 0
    warped = link.warp(previous)
    assert torch.equal(out[inside], warped[inside])
    assert torch.equal(out[~inside], current[~inside])


def test_blend_partial_strength() -> None:
    link = make_link(seed=2)
    current, previous = torch.rand(1, 3, 6, 8), torch.rand(1, 3, 6, 8)
    out = blend(current, previous, link, 0.25)
    expected = torch.where(link.mask > 0, 0.25 * link.warp(previous) + 0.75 * current, current)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("strength", [-0.1, 1.5, float("nan"), float("inf"), True])
def test_blend_rejects_bad_strength(strength: float) -> None:
    link = make_link()
    image = torch.rand(1, 3, 6, 8)
    with pytest.raises(ConfigError, match="temporal blend strength must be between 0 and 1"):
        blend(image, image, link, strength)


def test_blend_rejects_mismatched_shapes() -> None:
    link = make_link()
    with pytest.raises(ConfigError, match=r"current frame \(1, 3, 6, 8\) and previous output \(1, 3, 6, 9\) differ"):
        blend(torch.rand(1, 3, 6, 8), torch.rand(1, 3, 6, 9), link, 0.5)
    with pytest.raises(ConfigError, match=r"mask \(1, 1, 6, 8\) does not fit an image \(1, 3, 5, 8\)"):
        blend(torch.rand(1, 3, 5, 8), torch.rand(1, 3, 5, 8), link, 0.5)


# --- temporal loss -------------------------------------------------------------------------------------------------


def test_temporal_loss_value() -> None:
    """Ruder et al.'s short-term loss (painterly.losses.TemporalLoss, used by the optimisation): Σ m·(x − w)² / CHW."""
    image = torch.zeros(1, 3, 2, 2)
    warped = torch.zeros(1, 3, 2, 2)
    image[0, :, 0, 0] = 1.0  # differs by 1 in all 3 channels at a reliable pixel
    image[0, 1, 1, 1] = 2.0  # differs by 2 at an unreliable pixel: ignored
    mask = torch.tensor([[[[1.0, 1.0], [1.0, 0.0]]]])
    assert TemporalLoss(warped, mask)(image).item() == pytest.approx(3.0 / 12.0)
    assert TemporalLoss(image, mask)(image).item() == 0.0


def test_temporal_loss_gradcheck() -> None:
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 2, 3, 4, dtype=torch.float64, generator=generator, requires_grad=True)
    warped = torch.rand(1, 2, 3, 4, dtype=torch.float64, generator=generator)
    mask = (torch.rand(1, 1, 3, 4, generator=generator) > 0.5).double()
    loss = TemporalLoss(warped, mask)
    assert torch.autograd.gradcheck(loss, (image,))
    # The analytic gradient: 2 · mask · (image − warped) / (C·H·W) (the target is held in fp32).
    (gradient,) = torch.autograd.grad(loss(image), image)
    torch.testing.assert_close(gradient, 2 * mask * (image - warped.float().double()).detach() / 24)


def test_temporal_loss_resizes_to_pyramid_levels_and_rejects_bad_shapes() -> None:
    warped, mask = torch.rand(1, 3, 8, 8), torch.ones(1, 1, 8, 8)
    assert TemporalLoss(warped, mask)(torch.rand(1, 3, 4, 4)).item() > 0
    with pytest.raises(ConfigError, match="must match"):
        TemporalLoss(torch.rand(1, 3, 4, 5), torch.ones(1, 1, 4, 4))
    with pytest.raises(ConfigError, match="must match"):
        TemporalLoss(torch.rand(1, 3, 4, 4), torch.ones(1, 3, 4, 4))
