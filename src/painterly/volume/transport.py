"""Velocity fields on a staggered (MAC) grid that move density while conserving its mass.

A (D, H, W) = (z, y, x) grid of cells has its velocity on the faces: ``z`` (D+1, H, W), ``y`` (D, H+1, W) and
``x`` (D, H, W+1), in cells per unit time, face i along an axis lying between cells i-1 and i. Faces 0 and n are
the walls of the box. :func:`velocity_from_stream_function` gives divergence-free flows (u = curl ψ) with no flow
through the walls, :func:`velocity_from_potential` compressible ones (u = grad φ); :func:`advect` moves a density
along either in conservative (flux) form, so the total mass stays what it was up to float rounding.

>>> psi = torch.zeros(stream_function_shape(smoke.shape), requires_grad=True)   # doctest: +SKIP
>>> moved = advect(smoke, velocity_from_stream_function(psi))                      # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from painterly.errors import ConfigError

__all__ = [
    "FaceVelocity",
    "advect",
    "stream_function_shape",
    "substep_count",
    "velocity_from_potential",
    "velocity_from_stream_function",
]

DEFAULT_MAX_SUBSTEPS = 1000
CHECKPOINT_SUBSTEPS = 8
"""Sub-steps recomputed together in the backward pass (gradient checkpointing) when there are more than this."""


def _shape_text(shape: tuple[int, ...] | torch.Size) -> str:
    return "x".join(str(side) for side in shape) if len(shape) else "a scalar"


@dataclass(frozen=True)
class FaceVelocity:
    """Velocity components on the faces of a (D, H, W) grid: z (D+1, H, W), y (D, H+1, W), x (D, H, W+1)."""

    z: Tensor
    y: Tensor
    x: Tensor

    def __post_init__(self) -> None:
        for name in ("z", "y", "x"):
            value = getattr(self, name)
            if not isinstance(value, Tensor) or value.dim() != 3:
                raise ConfigError(
                    f"velocity component {name} must be a 3-D tensor, got {getattr(value, 'shape', value)}"
                )
        depth, height, width = self.z.shape[0] - 1, self.z.shape[1], self.z.shape[2]
        expected = {"z": (depth + 1, height, width), "y": (depth, height + 1, width), "x": (depth, height, width + 1)}
        actual = {"z": tuple(self.z.shape), "y": tuple(self.y.shape), "x": tuple(self.x.shape)}
        if min(depth, height, width) < 1 or actual != expected:
            shapes = ", ".join(f"{k} {_shape_text(v)}" for k, v in actual.items())
            raise ConfigError(
                f"face velocity shapes do not fit one grid: got {shapes}; a D x H x W grid needs "
                "z (D+1) x H x W, y D x (H+1) x W and x D x H x (W+1)"
            )

    @property
    def cell_shape(self) -> tuple[int, int, int]:
        """(D, H, W): the shape of the grid of cells."""
        return self.y.shape[0], self.z.shape[1], self.z.shape[2]

    def divergence(self) -> Tensor:
        """(D, H, W): per cell, outflow minus inflow summed over the three axes (grid spacing 1)."""
        return self.z.diff(dim=0) + self.y.diff(dim=1) + self.x.diff(dim=2)

    def max_speed(self) -> Tensor:
        """The largest absolute face velocity (a 0-D tensor), in cells per unit time."""
        return torch.stack([self.z.abs().max(), self.y.abs().max(), self.x.abs().max()]).max()

    def scaled(self, factor: float | Tensor) -> FaceVelocity:
        """Every component times ``factor`` (a number or a 0-D tensor, which gradients flow through)."""
        return FaceVelocity(self.z * factor, self.y * factor, self.x * factor)

    def outflow_rate(self) -> Tensor:
        """(D, H, W): per cell, the total outgoing speed through its interior faces (the walls carry nothing).

        ``dt`` times this is the fraction of a cell's content the donor-cell scheme moves out in one step.
        """
        total = torch.zeros(self.cell_shape, dtype=self.z.dtype, device=self.z.device)
        for dim, component in enumerate((self.z, self.y, self.x)):
            inner = _interior(component, dim)
            total = total + _pad_faces(inner.clamp(min=0), dim, low=True) + _pad_faces((-inner).clamp(min=0), dim)
        return total


def _interior(component: Tensor, dim: int) -> Tensor:
    """The faces between two cells along ``dim`` (the walls left out)."""
    return component.narrow(dim, 1, component.shape[dim] - 2)


def _pad_faces(values: Tensor, dim: int, *, low: bool = False) -> Tensor:
    """Interior-face values spread to the cells on one side: each face's cell below (``low``) or above it."""
    before, after = (0, 1) if low else (1, 0)
    padding = [0, 0] * (2 - dim) + [before, after]
    return F.pad(values, padding)


def _with_walls(inner: Tensor, dim: int) -> Tensor:
    """Interior-face values with a zero wall face added at both ends along ``dim``."""
    return F.pad(inner, [0, 0] * (2 - dim) + [1, 1])


def _check_shape(shape: tuple[int, ...] | torch.Size, what: str) -> tuple[int, int, int]:
    if len(shape) != 3 or any(not isinstance(side, int) or side < 1 for side in shape):
        raise ConfigError(f"{what} must be a 3-D (D, H, W) grid with every side >= 1, got shape {tuple(shape)}")
    return shape[0], shape[1], shape[2]


def stream_function_shape(shape: tuple[int, int, int]) -> tuple[int, ...]:
    """The shape of ψ for a (D, H, W) grid: (3, D+1, H+1, W+1).

    ψ holds the three edge components stacked in (z, y, x) order on a common (D+1, H+1, W+1) frame: ψ[0] is used on
    ``[:D]`` (z-edges), ψ[1] on ``[:, :H]`` (y-edges) and ψ[2] on ``[:, :, :W]`` (x-edges); the rest is ignored.
    """
    depth, height, width = _check_shape(tuple(shape), "shape")
    return (3, depth + 1, height + 1, width + 1)


def _boundary_mask(psi: Tensor) -> Tensor:
    """(3, D+1, H+1, W+1): 0 where a component of ψ lies in a wall, else 1.

    A component along an axis sits at cell centres along that axis, so only the other two axes' end corners count.
    """

    def inner(count: int) -> Tensor:
        mask = torch.ones(count, dtype=psi.dtype, device=psi.device)
        mask[0] = mask[-1] = 0
        return mask

    ones = [torch.ones(count, dtype=psi.dtype, device=psi.device) for count in psi.shape[1:]]
    mz, my, mx = (inner(count) for count in psi.shape[1:])
    along_z = ones[0][:, None, None] * my[None, :, None] * mx
    along_y = mz[:, None, None] * ones[1][None, :, None] * mx
    along_x = mz[:, None, None] * my[None, :, None] * ones[2]
    return torch.stack([along_z, along_y, along_x])


def velocity_from_stream_function(psi: Tensor) -> FaceVelocity:
    """u = curl ψ on the staggered grid: divergence-free to rounding, no flow through the walls.

    ``psi`` has :func:`stream_function_shape`; its components lying in the walls are zeroed (so gradients there are
    0), which makes the normal velocity on every wall exactly 0.
    """
    if not isinstance(psi, Tensor) or psi.dim() != 4 or psi.shape[0] != 3 or min(psi.shape[1:]) < 2:
        raise ConfigError(
            f"psi must have shape (3, D+1, H+1, W+1) (see stream_function_shape), got {getattr(psi, 'shape', psi)}"
        )
    if not psi.is_floating_point():
        raise ConfigError(f"psi must be a floating-point tensor, got {psi.dtype}")
    psi = psi * _boundary_mask(psi)
    depth, height, width = psi.shape[1] - 1, psi.shape[2] - 1, psi.shape[3] - 1
    psi_z = psi[0, :depth]  # (D, H+1, W+1): edges along z
    psi_y = psi[1, :, :height]  # (D+1, H, W+1)
    psi_x = psi[2, :, :, :width]  # (D+1, H+1, W)
    return FaceVelocity(
        z=psi_y.diff(dim=2) - psi_x.diff(dim=1),  # dψy/dx - dψx/dy
        y=psi_x.diff(dim=0) - psi_z.diff(dim=2),  # dψx/dz - dψz/dx
        x=psi_z.diff(dim=1) - psi_y.diff(dim=0),  # dψz/dy - dψy/dz
    )


def velocity_from_potential(phi: Tensor) -> FaceVelocity:
    """u = grad φ (φ at cell centres, (D, H, W)): compressible, its divergence the discrete Laplacian of φ with
    zero-flux walls; the normal velocity on the walls is 0."""
    if not isinstance(phi, Tensor):
        raise ConfigError(f"phi must be a torch tensor, got {type(phi).__name__}")
    _check_shape(tuple(phi.shape), "phi")
    if not phi.is_floating_point():
        raise ConfigError(f"phi must be a floating-point tensor, got {phi.dtype}")
    return FaceVelocity(
        z=_with_walls(phi.diff(dim=0), 0), y=_with_walls(phi.diff(dim=1), 1), x=_with_walls(phi.diff(dim=2), 2)
    )


def substep_count(
    velocity: FaceVelocity, *, dt: float = 1.0, max_courant: float = 0.3, max_substeps: int = DEFAULT_MAX_SUBSTEPS
) -> int:
    """How many sub-steps :func:`advect` takes: ``ceil(dt * max outflow rate / max_courant)``, at least 1.

    The Courant number here is a cell's total outgoing speed times the sub-step: the fraction of its content that
    leaves in one sub-step. Raises :class:`ConfigError` for a velocity that is not finite or too fast.
    """
    _check_step(dt, max_courant, max_substeps)
    with torch.no_grad():
        rate = float(velocity.outflow_rate().max())
    if not math.isfinite(rate):
        raise ConfigError("velocity is not finite")
    count = max(1, math.ceil(dt * rate / max_courant))
    if count > max_substeps:
        raise ConfigError(
            f"velocity too fast: advecting by dt={dt} needs {count} sub-steps (more than {max_substeps}); "
            f"the largest outflow rate is {rate:.3g} cells per unit time"
        )
    return count


def _check_step(dt: float, max_courant: float, max_substeps: int) -> None:
    if not isinstance(dt, int | float) or not math.isfinite(dt) or dt < 0:
        raise ConfigError(f"dt must be a finite number >= 0, got {dt!r}")
    if not isinstance(max_courant, int | float) or not 0 < max_courant <= 1:
        raise ConfigError(f"max_courant must be in (0, 1] (above 1 the density can go negative), got {max_courant!r}")
    if not isinstance(max_substeps, int) or max_substeps < 1:
        raise ConfigError(f"max_substeps must be a whole number >= 1, got {max_substeps!r}")


def advect(
    density: Tensor,
    velocity: FaceVelocity,
    *,
    dt: float = 1.0,
    max_courant: float = 0.3,
    max_substeps: int = DEFAULT_MAX_SUBSTEPS,
) -> Tensor:
    """Move ``density`` (D, H, W) along ``velocity`` for time ``dt`` with first-order upwind (donor-cell) fluxes.

    Each sub-step moves ``u * (density of the upwind cell) * dt_sub`` through every interior face; the walls carry
    nothing (whatever their velocity), so the fluxes telescope and the total mass is conserved to float rounding.
    The number of sub-steps is :func:`substep_count` (from the detached velocity); since every cell then sends out
    at most ``max_courant <= 1`` of its content per sub-step, a non-negative density stays non-negative for any
    velocity, divergence-free or not, and no clamping is done. Differentiable in the density and the velocity.
    """
    if not isinstance(density, Tensor):
        raise ConfigError(f"density must be a torch tensor, got {type(density).__name__}")
    _check_shape(tuple(density.shape), "density")
    if tuple(density.shape) != velocity.cell_shape:
        raise ConfigError(
            f"density is {_shape_text(density.shape)} but the velocity is for a {_shape_text(velocity.cell_shape)} grid"
        )
    steps = substep_count(velocity, dt=dt, max_courant=max_courant, max_substeps=max_substeps)
    if dt == 0:
        return density
    step = dt / steps
    # Per face: the speed times the sub-step, split by sign, so a flux is forward * low cell + backward * high cell.
    splits: list[tuple[int, Tensor, Tensor]] = []
    for dim, component in enumerate((velocity.z, velocity.y, velocity.x)):
        inner = _interior(component, dim) * step
        splits.append((dim, inner.clamp(min=0), inner.clamp(max=0)))
    if not torch.is_grad_enabled() or steps <= CHECKPOINT_SUBSTEPS:
        return _substeps(density, splits, steps)
    # Autograd would keep every sub-step's fluxes (a few grids each): at 128³ and tens of sub-steps that is many GB.
    # Recompute them in the backward pass instead, a chunk of sub-steps at a time.
    from torch.utils.checkpoint import checkpoint

    done = 0
    while done < steps:
        count = min(CHECKPOINT_SUBSTEPS, steps - done)
        density = checkpoint(_substeps, density, splits, count, use_reentrant=False)
        done += count
    return density


def _substeps(density: Tensor, splits: list[tuple[int, Tensor, Tensor]], steps: int) -> Tensor:
    for _ in range(steps):
        change = torch.zeros_like(density)
        for dim, forward, backward in splits:
            n = density.shape[dim]
            flux = forward * density.narrow(dim, 0, n - 1) + backward * density.narrow(dim, 1, n - 1)
            # out of the cell below each face, into the cell above it
            change = change - _pad_faces(flux, dim, low=True) + _pad_faces(flux, dim)
        density = density + change
    return density
