"""The smoke simulation: frames, determinism, a rising plume that stays in the box, the projection, the demo cache."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from painterly.errors import ConfigError
from painterly.volume import smoke
from painterly.volume.smoke import SmokeSettings, demo_density, divergence, project, simulate_smoke

SMALL = SmokeSettings(size=24, steps=16, source_steps=10)


def centre_height(density: torch.Tensor) -> float:
    """Centre of mass along y (dim 1, up) in voxels."""
    profile = density.sum(dim=(0, 2))
    return float((profile * torch.arange(len(profile))).sum() / profile.sum())


def smooth_field(size: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand((1, 3, 6, 6, 6), generator=generator) - 0.5
    return F.interpolate(coarse, size=(size, size, size), mode="trilinear", align_corners=True)[0]


def mean_abs_divergence(velocity: torch.Tensor) -> float:
    return float(divergence(velocity).abs().mean())


# --------------------------------------------------------------------------------------------- simulation


def test_frames_shapes_and_values() -> None:
    calls: list[tuple[int, int]] = []
    frames = simulate_smoke(SMALL, frames=4, progress=lambda done, total: calls.append((done, total)))
    assert len(frames) == 4
    for frame in frames:
        assert frame.shape == (24, 24, 24)
        assert frame.dtype == torch.float32
        assert bool(torch.isfinite(frame).all())
        assert float(frame.min()) >= 0
        assert float(frame.max()) > 0.3
    assert calls == [(step, 16) for step in range(1, 17)]
    assert len({id(frame) for frame in frames}) == 4


def test_default_is_the_last_frame_and_frames_are_evenly_spaced() -> None:
    last = simulate_smoke(SMALL)
    assert len(last) == 1
    spaced = simulate_smoke(SMALL, frames=4)  # after steps 4, 8, 12, 16
    assert torch.equal(spaced[-1], last[0])
    shorter = simulate_smoke(SmokeSettings(size=24, steps=8, source_steps=10))
    assert torch.equal(spaced[1], shorter[0])


def test_deterministic_for_a_seed() -> None:
    first = simulate_smoke(SMALL, frames=2)
    again = simulate_smoke(SMALL, frames=2)
    other = simulate_smoke(SmokeSettings(size=24, steps=16, source_steps=10, seed=1), frames=2)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[-1], other[-1])


def test_plume_rises_and_stays_in_the_box() -> None:
    # the default run on a small grid: forces scale with the size, so it looks like the 64^3 demo
    frames = simulate_smoke(SmokeSettings(size=24), frames=4)
    heights = [centre_height(frame) for frame in frames]
    assert heights == sorted(heights)
    assert heights[-1] > heights[0] + 0.2 * 24
    last = frames[-1]
    assert float(last[:, -3:].sum() / last.sum()) < 0.02  # the top eighth of the box holds next to nothing
    filled = float((last > 0.05 * last.max()).float().mean())
    assert 0.01 < filled < 0.3  # a plume, not a blob that fills the box
    # it rises near the middle: little smoke next to the side walls
    sides = torch.ones(24, 24, dtype=torch.bool)
    sides[4:-4, 4:-4] = False
    assert float(last.sum(dim=1)[sides].sum() / last.sum()) < 0.05


def test_vorticity_confinement_changes_the_smoke() -> None:
    plain = simulate_smoke(SMALL)[0]
    curly = simulate_smoke(SmokeSettings(size=24, steps=16, source_steps=10, vorticity=0.2))[0]
    assert bool(torch.isfinite(curly).all()) and float(curly.min()) >= 0
    assert float((curly - plain).abs().max()) > 1e-3


@pytest.mark.parametrize(
    ("settings", "frames", "message"),
    [
        (SmokeSettings(size=4), None, "smoke size must be a whole number of at least 8"),
        (SmokeSettings(steps=0), None, "smoke steps must be a whole number of at least 1"),
        (SmokeSettings(pressure_iterations=-1), None, "smoke pressure_iterations must be"),
        (SmokeSettings(dt=0.0), None, "smoke dt must be above 0"),
        (SmokeSettings(buoyancy=float("nan")), None, "smoke buoyancy must be a finite number"),
        (SmokeSettings(vorticity=-0.1), None, "smoke vorticity must be at least 0"),
        (SmokeSettings(source_radius=0.6), None, r"smoke source_radius must be in \(0, 0\.4\]"),
        (SmokeSettings(size=16, steps=5), 6, r"frames must be a whole number from 1 to steps \(5\), got 6"),
        (SmokeSettings(size=16, steps=5), 0, "frames must be a whole number from 1 to steps"),
    ],
)
def test_bad_settings(settings: SmokeSettings, frames: int | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        simulate_smoke(settings, frames=frames)


# --------------------------------------------------------------------------------------------- projection


def test_divergence_of_known_fields() -> None:
    size = 10
    ramp = torch.arange(size, dtype=torch.float32)
    for axis in range(3):
        velocity = torch.zeros(3, size, size, size)
        shape = [1, 1, 1]
        shape[axis] = size
        velocity[axis] = ramp.reshape(shape).expand(size, size, size)  # component along its own axis: div 1
        div = divergence(velocity)
        assert torch.allclose(div[1:-1, 1:-1, 1:-1], torch.ones(size - 2, size - 2, size - 2))
        # the tangential components do not count; inside the box, nor does a uniform flow
        sideways = torch.zeros(3, size, size, size)
        sideways[(axis + 1) % 3] = velocity[axis]
        assert float(divergence(sideways)[1:-1, 1:-1, 1:-1].abs().max()) == 0
    # a uniform flow along x: nothing comes in through the wall at x = 0 and nothing leaves at the other end
    flow = torch.zeros(3, size, size, size)
    flow[2] = 1.0
    div = divergence(flow)
    assert float(div[:, :, 1:-1].abs().max()) == 0
    assert torch.all(div[:, :, 0] == 1) and torch.all(div[:, :, -1] == -1)
    with pytest.raises(ConfigError, match=r"velocity must be \(3, D, H, W\)"):
        divergence(torch.zeros(2, 4, 4, 4))


@pytest.mark.parametrize("seed", [0, 1])
def test_projection_removes_the_divergence(seed: int) -> None:
    velocity = smooth_field(24, seed)
    before = mean_abs_divergence(velocity)
    after_40, pressure = project(velocity, 40)
    assert pressure.shape == (24, 24, 24)
    assert mean_abs_divergence(after_40) < before / 15
    after_400, _ = project(velocity, 400)
    assert mean_abs_divergence(after_400) < before / 300
    # warm start: 40 more sweeps from the pressure of the first 40 do better than the first 40
    warm, _ = project(velocity, 40, pressure)
    assert mean_abs_divergence(warm) < mean_abs_divergence(after_40) / 1.5


def test_projection_of_a_buoyancy_kick() -> None:
    # what one step of the simulation hands the projection: an upward push where the smoke is
    size = 24
    axis = torch.arange(size, dtype=torch.float32)
    z, y, x = torch.meshgrid(axis - 11.5, axis - 6, axis - 11.5, indexing="ij")
    velocity = torch.zeros(3, size, size, size)
    velocity[1] = torch.exp(-(z * z + y * y + x * x) / 8)
    before = mean_abs_divergence(velocity)
    # from a zero pressure, 40 sweeps remove most of it; the simulation warm-starts from the last step's pressure
    projected, _ = project(velocity, 40)
    assert mean_abs_divergence(projected) < before / 3
    converged, _ = project(velocity, 400)
    assert mean_abs_divergence(converged) < before / 100
    # the fluid makes way: the smoke still rises, the fluid beside it goes down
    assert float(projected[1, 12, 6, 12]) > 0.3
    assert float(projected[1, :, 6, :].min()) < 0


def test_projection_leaves_a_divergence_free_field_alone() -> None:
    # the curl of a potential vanishing on the walls has no divergence and no flow through them
    size = 16
    axis = torch.linspace(0, torch.pi, size)
    z, y, x = torch.meshgrid(axis, axis, axis, indexing="ij")
    psi = torch.sin(z) * torch.sin(y) * torch.sin(x)
    velocity = smoke._curl(torch.stack((psi, psi * 0.5, psi * 0.25)))
    projected, _ = project(velocity, 40)
    assert float((projected - velocity).abs().max()) < 0.1 * float(velocity.abs().max())


# --------------------------------------------------------------------------------------------- demo


def test_demo_density_is_cached_and_a_copy() -> None:
    smoke._demo.cache_clear()
    first = demo_density(16)
    second = demo_density(16)
    assert smoke._demo.cache_info().hits == 1
    assert torch.equal(first, second)
    assert first is not second
    assert first.data_ptr() != second.data_ptr()
    first.mul_(0).add_(7)
    third = demo_density(16)
    assert torch.equal(third, second)
    assert torch.equal(third, simulate_smoke(SmokeSettings(size=16, vorticity=smoke.DEMO_VORTICITY))[-1])
    assert float(third.max()) > 0.3
