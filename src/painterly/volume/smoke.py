"""A small smoke simulation: stable fluids (Stam 1999) on a cell-centred grid, in PyTorch.

It makes the built-in density grid of ``painterly volume --demo``: a sphere of smoke near the bottom of the box
rises by buoyancy and rolls up into a plume. Grids are (D, H, W) = (z, y, x) with y up (dim 1 grows upwards);
velocities are (3, D, H, W) with components (z, y, x) in voxels per unit time. Each step adds smoke, applies
buoyancy (and optional vorticity confinement), advects velocity and density semi-Lagrangian with trilinear
:func:`torch.nn.functional.grid_sample`, and projects the velocity onto a divergence-free field with Jacobi
iterations for the pressure. The walls are closed: no flow through them (free slip), pressure with Neumann
boundaries.

>>> frames = simulate_smoke(SmokeSettings(size=32, steps=30), frames=3)   # doctest: +SKIP
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from painterly.errors import ConfigError

REFERENCE_SIZE = 64  # forces and velocities are given in voxels of a grid of this size, and scale with ``size``
_INFLOW = 0.3  # upward velocity the source sets (at least), in voxels per unit time
_SWIRL = 0.05  # sideways velocity noise the source adds per unit time
_DENSITY_NOISE = 0.3  # the smoke added is 0.7 +- this (times the soft sphere)


@dataclass(frozen=True)
class SmokeSettings:
    """What :func:`simulate_smoke` runs. Lengths are fractions of the box; forces are per unit of time."""

    size: int = 64
    """The grid is (size, size, size), (z, y, x), y up."""
    steps: int = 60
    """Simulation steps."""
    dt: float = 1.0
    """Time step."""
    buoyancy: float = 0.08
    """Upward acceleration per unit density (+y, dim 1), in voxels of a 64-voxel grid per unit time squared."""
    source_radius: float = 0.12
    """Radius of the sphere of smoke near the bottom centre, as a fraction of the size."""
    source_steps: int = 40
    """Smoke is added in the source while step < source_steps."""
    pressure_iterations: int = 40
    """Jacobi iterations of the pressure solve per step (warm-started from the previous step's pressure)."""
    vorticity: float = 0.0
    """Vorticity confinement strength (0: off); about 0.1-0.3 gives curlier smoke."""
    seed: int = 0
    """Seed of the small noise in the source that breaks the symmetry."""


# --------------------------------------------------------------------------------------------- operators


def _pad_odd(field: torch.Tensor, dim: int) -> torch.Tensor:
    """``field`` with one ghost cell on each end of ``dim`` holding minus the boundary value (no-flux walls)."""
    first = field.narrow(dim, 0, 1)
    last = field.narrow(dim, field.shape[dim] - 1, 1)
    return torch.cat((-first, field, -last), dim=dim)


def _central(padded: torch.Tensor, dim: int) -> torch.Tensor:
    """Central difference along ``dim`` of a field padded by one cell on each end of ``dim``."""
    size = padded.shape[dim] - 2
    return (padded.narrow(dim, 2, size) - padded.narrow(dim, 0, size)) * 0.5


def divergence(velocity: torch.Tensor) -> torch.Tensor:
    """Divergence (D, H, W) of a (3, D, H, W) velocity by central differences; the walls let nothing through."""
    if velocity.ndim != 4 or velocity.shape[0] != 3:
        raise ConfigError(f"velocity must be (3, D, H, W), got shape {tuple(velocity.shape)}")
    return sum(
        (_central(_pad_odd(velocity[axis], axis), axis) for axis in range(3)),
        start=torch.zeros_like(velocity[0]),
    )


def _gradient(field: torch.Tensor) -> torch.Tensor:
    """Gradient (3, D, H, W) of a (D, H, W) field by central differences, zero normal derivative at the walls."""
    padded = F.pad(field[None, None], (1, 1, 1, 1, 1, 1), mode="replicate")[0, 0]
    inner = [slice(1, -1)] * 3
    parts = []
    for axis in range(3):
        index = list(inner)
        index[axis] = slice(None)
        parts.append(_central(padded[tuple(index)], axis))
    return torch.stack(parts)


def _zero_normal(velocity: torch.Tensor) -> torch.Tensor:
    """Set the velocity into and out of the walls to 0 in the outermost cells (in place); return it."""
    for axis in range(3):
        component = velocity[axis]
        component.narrow(axis, 0, 1).zero_()
        component.narrow(axis, component.shape[axis] - 1, 1).zero_()
    return velocity


def project(
    velocity: torch.Tensor, iterations: int = 40, pressure: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Make a (3, D, H, W) velocity divergence-free (as far as ``iterations`` go); return it and the pressure.

    Solves ``divergence(gradient(p)) = divergence(velocity)`` with Jacobi sweeps, starting from ``pressure`` when
    given, and subtracts ``gradient(p)``. The Laplacian is the product of the two central differences (a stencil
    of reach 2), so a converged solve leaves no :func:`divergence` at all. Walls mirror the pressure (Neumann)
    and mirror the normal velocity with its sign flipped: nothing flows through them.
    """
    div = divergence(velocity)
    depth, height, width = div.shape
    padded = torch.zeros((depth + 4, height + 4, width + 4), dtype=div.dtype, device=div.device)
    inner = padded[2:-2, 2:-2, 2:-2]
    if pressure is not None:
        inner.copy_(pressure)
    total = torch.empty_like(div)
    for _ in range(iterations):
        # the pressure mirrored about each wall: p[-1] = p[0], p[-2] = p[1]
        for axis in range(3):
            side = padded.shape[axis]
            for ghost, source in ((1, 2), (0, 3), (side - 2, side - 3), (side - 1, side - 4)):
                padded.select(axis, ghost).copy_(padded.select(axis, source))
        torch.add(padded[4:, 2:-2, 2:-2], padded[:-4, 2:-2, 2:-2], out=total)
        total.add_(padded[2:-2, 4:, 2:-2]).add_(padded[2:-2, :-4, 2:-2])
        total.add_(padded[2:-2, 2:-2, 4:]).add_(padded[2:-2, 2:-2, :-4])
        total.sub_(div, alpha=4).mul_(1 / 6)
        inner.copy_(total)
    solved = inner.clone()
    return velocity - _gradient(solved), solved


def _curl(velocity: torch.Tensor) -> torch.Tensor:
    """Curl (3, D, H, W), components (z, y, x), by central differences with replicated borders."""
    padded = F.pad(velocity[None], (1, 1, 1, 1, 1, 1), mode="replicate")[0]

    def derivative(component: int, axis: int) -> torch.Tensor:
        index: list[slice] = [slice(1, -1)] * 3
        index[axis] = slice(None)
        return _central(padded[component][tuple(index)], axis)

    z, y, x = 0, 1, 2
    return torch.stack(
        (
            derivative(y, x) - derivative(x, y),  # (curl)_z = d vy/dx - d vx/dy
            derivative(x, z) - derivative(z, x),  # (curl)_y = d vx/dz - d vz/dx
            derivative(z, y) - derivative(y, z),  # (curl)_x = d vz/dy - d vy/dz
        )
    )


def _confinement(velocity: torch.Tensor, strength: float) -> torch.Tensor:
    """Vorticity confinement force (Fedkiw et al. 2001): ``strength * (N x omega)``, N towards larger |omega|."""
    omega = _curl(velocity)
    wz, wy, wx = omega.unbind(0)
    nz, ny, nx = _gradient(torch.sqrt(wz * wz + wy * wy + wx * wx)).unbind(0)
    length = torch.sqrt(nz * nz + ny * ny + nx * nx).add_(1e-6)
    nz, ny, nx = nz / length, ny / length, nx / length
    # N x omega, written out for our (z, y, x) component order
    force = torch.stack((nx * wy - ny * wx, nz * wx - nx * wz, ny * wz - nz * wy))
    # a 3x3x3 box blur keeps the sign flips of N between neighbouring cells from striping the smoke
    blurred = F.avg_pool3d(force[None], 3, stride=1, padding=1, count_include_pad=False)[0]
    return blurred.mul_(strength)


# --------------------------------------------------------------------------------------------- simulation


def _check_settings(settings: SmokeSettings, frames: int | None) -> None:
    if not isinstance(settings, SmokeSettings):
        raise ConfigError(f"settings must be SmokeSettings, got {type(settings).__name__}")
    whole = {
        "size": (settings.size, 8),
        "steps": (settings.steps, 1),
        "source_steps": (settings.source_steps, 0),
        "pressure_iterations": (settings.pressure_iterations, 0),
        "seed": (settings.seed, 0),
    }
    for key, (value, least) in whole.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ConfigError(f"smoke {key} must be a whole number of at least {least}, got {value!r}")
    reals = {
        "dt": (settings.dt, False),
        "buoyancy": (settings.buoyancy, True),
        "source_radius": (settings.source_radius, False),
        "vorticity": (settings.vorticity, True),
    }
    for key, (number, zero_ok) in reals.items():
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
            raise ConfigError(f"smoke {key} must be a finite number, got {number!r}")
        if number < 0 or (number == 0 and not zero_ok):
            raise ConfigError(f"smoke {key} must be {'at least 0' if zero_ok else 'above 0'}, got {number!r}")
    if not 0 < settings.source_radius <= 0.4:
        raise ConfigError(f"smoke source_radius must be in (0, 0.4], got {settings.source_radius!r}")
    if frames is not None and (
        isinstance(frames, bool) or not isinstance(frames, int) or not 1 <= frames <= settings.steps
    ):
        raise ConfigError(f"frames must be a whole number from 1 to steps ({settings.steps}), got {frames!r}")


def _index_grid(size: int) -> torch.Tensor:
    """(D, H, W, 3) voxel coordinates in grid_sample's (x, y, z) order."""
    axis = torch.arange(size, dtype=torch.float32)
    z, y, x = torch.meshgrid(axis, axis, axis, indexing="ij")
    return torch.stack((x, y, z), dim=-1)


def _advect(fields: torch.Tensor, velocity: torch.Tensor, base: torch.Tensor, dt: float, padding: str) -> torch.Tensor:
    """Semi-Lagrangian advection of (C, D, H, W) ``fields``: sample them where each voxel was ``dt`` ago."""
    size = fields.shape[-1]
    # velocity is (z, y, x); the sampling grid wants (x, y, z), normalised to [-1, 1] over voxel centres
    back = base - dt * velocity.flip(0).permute(1, 2, 3, 0)
    grid = back.mul_(2 / (size - 1)).sub_(1)
    return F.grid_sample(fields[None], grid[None], mode="bilinear", padding_mode=padding, align_corners=True)[0]


def _source(size: int, radius: float) -> torch.Tensor:
    """A soft-edged sphere (D, H, W) in [0, 1], centred in x and z, its bottom just above the floor."""
    axis = torch.arange(size, dtype=torch.float32)
    centre = ((size - 1) / 2, radius * size + 0.03 * size + 0.5, (size - 1) / 2)
    z, y, x = torch.meshgrid(axis - centre[0], axis - centre[1], axis - centre[2], indexing="ij")
    distance = torch.sqrt(z * z + y * y + x * x)
    edge = max(1.0, 0.25 * radius * size)
    return ((radius * size - distance) / edge + 0.5).clamp_(0, 1)


def _noise(size: int, generator: torch.Generator, lattice: int = 9) -> torch.Tensor:
    """Smooth seeded noise (D, H, W) in [-1, 1]: random values on a coarse lattice, trilinearly upsampled."""
    coarse = torch.rand((1, 1, lattice, lattice, lattice), generator=generator) * 2 - 1
    return F.interpolate(coarse, size=(size, size, size), mode="trilinear", align_corners=True)[0, 0]


def simulate_smoke(
    settings: SmokeSettings = SmokeSettings(),
    *,
    frames: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[torch.Tensor]:
    """Run the smoke simulation; return density grids (D, H, W), float32, non-negative, on the CPU.

    ``frames``: that many evenly spaced frames, the last one after the final step (default: only the last).
    ``progress(done, steps)`` is called after each step. Deterministic for a given ``settings.seed``.
    """
    _check_settings(settings, frames)
    size, dt = settings.size, settings.dt
    scale = size / REFERENCE_SIZE
    count = 1 if frames is None else frames
    keep = {k * settings.steps // count for k in range(1, count + 1)}

    generator = torch.Generator().manual_seed(settings.seed)
    base = _index_grid(size)
    profile = _source(size, settings.source_radius)
    density = torch.zeros((size, size, size))
    velocity = torch.zeros((3, size, size, size))
    pressure: torch.Tensor | None = None
    out: list[torch.Tensor] = []
    with torch.no_grad():
        for step in range(settings.steps):
            if step < settings.source_steps:
                # smoke up to the (noisy) source profile, a little inflow upwards, a little swirl sideways
                density = torch.maximum(density, profile * (0.7 + _DENSITY_NOISE * _noise(size, generator)))
                velocity[1] = torch.maximum(velocity[1], _INFLOW * scale * profile)
                velocity[0] += dt * _SWIRL * scale * profile * _noise(size, generator, 5)
                velocity[2] += dt * _SWIRL * scale * profile * _noise(size, generator, 5)
            # both advected by the divergence-free velocity of the last step
            density = _advect(density[None], velocity, base, dt, "zeros")[0].clamp_(min=0)
            velocity = _advect(velocity, velocity, base, dt, "border")
            velocity[1] += dt * settings.buoyancy * scale * density
            if settings.vorticity > 0:
                velocity += dt * settings.vorticity * scale * _confinement(velocity, 1.0)
            velocity, pressure = project(_zero_normal(velocity), settings.pressure_iterations, pressure)
            if step + 1 in keep:
                out.append(density.clone())
            if progress is not None:
                progress(step + 1, settings.steps)
    return out


DEMO_VORTICITY = 0.2


@functools.lru_cache(maxsize=4)
def _demo(size: int) -> torch.Tensor:
    return simulate_smoke(SmokeSettings(size=size, vorticity=DEMO_VORTICITY))[-1]


def demo_density(size: int = 64) -> torch.Tensor:
    """The built-in smoke plume: the last frame of ``simulate_smoke(SmokeSettings(size=size, vorticity=0.2))`` (the
    curls make it look like smoke rather than a mushroom of cotton), cached per size.

    Returns a fresh copy each call, so changing it leaves the cache alone.
    """
    return _demo(size).clone()
