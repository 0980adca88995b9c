"""Staggered velocity fields and conservative advection: divergence, walls, mass, positivity, motion, gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from painterly.errors import ConfigError
from painterly.volume.transport import (
    FaceVelocity,
    advect,
    stream_function_shape,
    substep_count,
    velocity_from_potential,
    velocity_from_stream_function,
)


def random_psi(shape: tuple[int, int, int], seed: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(stream_function_shape(shape), generator=generator, dtype=torch.float64).to(dtype)


def vortex_psi(shape: tuple[int, int, int], strength: float) -> torch.Tensor:
    """ψ_z = strength sin(π y / H) sin(π x / W) on the z-edges: one cell of flow turning from +x towards +y (seen
    from +z), close to a solid-body rotation near the centre and zero on the walls."""
    _, height, width = shape
    psi = torch.zeros(stream_function_shape(shape))
    y = torch.sin(math.pi * torch.arange(height + 1) / height)
    x = torch.sin(math.pi * torch.arange(width + 1) / width)
    psi[0] = strength * y[:, None] * x[None, :]
    return psi


def centre_of_mass(density: torch.Tensor) -> torch.Tensor:
    """(z, y, x) in cell indices."""
    axes = [torch.arange(n, dtype=density.dtype) for n in density.shape]
    total = density.sum()
    return torch.stack(
        [
            (density.sum(dim=(1, 2)) * axes[0]).sum() / total,
            (density.sum(dim=(0, 2)) * axes[1]).sum() / total,
            (density.sum(dim=(0, 1)) * axes[2]).sum() / total,
        ]
    )


def test_stream_function_shape() -> None:
    assert stream_function_shape((4, 5, 6)) == (3, 5, 6, 7)
    velocity = velocity_from_stream_function(torch.zeros(3, 5, 6, 7))
    assert velocity.cell_shape == (4, 5, 6)
    assert velocity.z.shape == (5, 5, 6) and velocity.y.shape == (4, 6, 6) and velocity.x.shape == (4, 5, 7)


@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_curl_is_divergence_free_with_closed_walls(dtype: torch.dtype, tolerance: float) -> None:
    velocity = velocity_from_stream_function(random_psi((7, 8, 9), seed=0, dtype=dtype))
    assert velocity.z.dtype == dtype
    speed = velocity.max_speed()
    assert speed > 1
    assert velocity.divergence().abs().max() <= tolerance * speed
    for wall in (velocity.z[0], velocity.z[-1], velocity.y[:, 0], velocity.y[:, -1], velocity.x[..., 0]):
        assert wall.abs().max() == 0
    assert velocity.x[..., -1].abs().max() == 0
    # the faces next to the walls do move: only the normal component is pinned
    assert velocity.z[:, 0].abs().max() > 0.1 and velocity.x[1:-1, 1:-1, 1:-1].abs().max() > 0.1


def test_potential_divergence_is_the_laplacian() -> None:
    generator = torch.Generator().manual_seed(2)
    phi = torch.randn(5, 6, 7, generator=generator, dtype=torch.float64)
    velocity = velocity_from_potential(phi)
    for wall in (velocity.z[0], velocity.z[-1], velocity.y[:, 0], velocity.y[:, -1], velocity.x[..., 0]):
        assert wall.abs().max() == 0
    values = phi.numpy()
    reference = np.zeros_like(values)
    for index in np.ndindex(values.shape):
        for axis in range(3):
            for offset in (-1, 1):
                neighbour = list(index)
                neighbour[axis] += offset
                if 0 <= neighbour[axis] < values.shape[axis]:  # no flux through the walls
                    reference[index] += values[tuple(neighbour)] - values[index]
    divergence = velocity.divergence()
    np.testing.assert_allclose(divergence.numpy(), reference, atol=1e-12)
    assert divergence.abs().max() > 1


def test_advection_conserves_mass_and_stays_non_negative() -> None:
    shape = (16, 16, 16)
    velocity = velocity_from_stream_function(0.5 * random_psi(shape, seed=4))
    density = torch.rand(shape, generator=torch.Generator().manual_seed(5)) ** 2
    mass = density.double().sum()
    moved = density
    for _ in range(20):
        moved = advect(moved, velocity, dt=0.5)
    assert moved.dtype == torch.float32
    assert abs(moved.double().sum() - mass) <= 1e-5 * mass
    assert moved.min() >= 0
    assert (moved - density).abs().mean() > 0.05  # it did move


def test_compressible_flow_keeps_mass_and_sign() -> None:
    shape = (10, 10, 10)
    velocity = velocity_from_potential(3 * torch.randn(shape, generator=torch.Generator().manual_seed(6)))
    density = torch.rand(shape, generator=torch.Generator().manual_seed(7))
    moved = advect(density, velocity, dt=1.0, max_courant=1.0)
    assert moved.min() >= 0
    assert moved.double().sum().item() == pytest.approx(density.double().sum().item(), rel=1e-5)


def test_vortex_turns_a_blob() -> None:
    shape = (8, 16, 16)
    _, y, x = torch.meshgrid(*[torch.arange(n, dtype=torch.float32) for n in shape], indexing="ij")
    density = torch.exp(-((y - 7.5) ** 2 + (x - 11.0) ** 2) / 4.0)  # a column right of the centre (x = 7.5)
    velocity = velocity_from_stream_function(vortex_psi(shape, strength=4.0))
    start = centre_of_mass(density)
    moved = density
    for _ in range(5):
        moved = advect(moved, velocity, dt=0.5)
    end = centre_of_mass(moved)
    assert end[1] - start[1] > 1.0  # anticlockwise seen from +z: from +x towards +y
    assert abs(end[0] - start[0]) < 1e-4  # nothing moves along z
    assert end[2] < start[2]  # curving round the centre
    reverse = advect(density, velocity.scaled(-1.0), dt=0.5)
    assert centre_of_mass(reverse)[1] < start[1]


def test_gradcheck_density_and_stream_function() -> None:
    shape = (4, 4, 4)
    generator = torch.Generator().manual_seed(8)
    density = torch.rand(shape, generator=generator, dtype=torch.float64).requires_grad_()
    psi = (0.15 * torch.randn(stream_function_shape(shape), generator=generator, dtype=torch.float64)).requires_grad_()
    assert substep_count(velocity_from_stream_function(psi), dt=1.0) > 1

    def run(d: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        return advect(d, velocity_from_stream_function(p), dt=1.0)

    assert torch.autograd.gradcheck(run, (density, psi), eps=1e-6, atol=1e-6)
    phi = (0.2 * torch.randn(shape, generator=generator, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda p: advect(density, velocity_from_potential(p)), (phi,), eps=1e-6, atol=1e-6)


def test_substeps_grow_with_speed() -> None:
    velocity = velocity_from_stream_function(random_psi((6, 6, 6), seed=9))
    counts = [substep_count(velocity.scaled(factor)) for factor in (0.01, 0.1, 1.0, 10.0)]
    assert counts[0] == 1 and counts == sorted(counts) and counts[-1] > 5 * counts[1]
    rate = velocity.outflow_rate().max().item()
    assert substep_count(velocity, dt=2.0, max_courant=0.5) == math.ceil(2.0 * rate / 0.5)
    assert substep_count(velocity, dt=2.0) > substep_count(velocity, dt=1.0)
    with pytest.raises(ConfigError, match="too fast"):
        advect(torch.rand(6, 6, 6), velocity.scaled(1e6))
    zero = velocity.scaled(0.0)
    density = torch.rand(6, 6, 6)
    torch.testing.assert_close(advect(density, zero), density)
    torch.testing.assert_close(advect(density, velocity, dt=0.0), density)


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="psi"):
        velocity_from_stream_function(torch.zeros(3, 5, 6))
    with pytest.raises(ConfigError, match="psi"):
        velocity_from_stream_function(torch.zeros(2, 5, 6, 7))
    with pytest.raises(ConfigError, match="phi"):
        velocity_from_potential(torch.zeros(4, 4))
    with pytest.raises(ConfigError, match="shape"):
        stream_function_shape((4, 0, 4))
    with pytest.raises(ConfigError, match="face velocity shapes"):
        FaceVelocity(torch.zeros(5, 4, 4), torch.zeros(4, 5, 4), torch.zeros(4, 4, 4))
    velocity = velocity_from_potential(torch.zeros(4, 4, 4))
    with pytest.raises(ConfigError, match="density is 4x4x5"):
        advect(torch.zeros(4, 4, 5), velocity)
    with pytest.raises(ConfigError, match="dt"):
        advect(torch.zeros(4, 4, 4), velocity, dt=-1.0)
    with pytest.raises(ConfigError, match="max_courant"):
        advect(torch.zeros(4, 4, 4), velocity, max_courant=1.5)
    with pytest.raises(ConfigError, match="not finite"):
        advect(torch.zeros(4, 4, 4), velocity.scaled(math.nan))


def test_checkpointed_substeps_give_the_same_density_and_gradients(monkeypatch: pytest.MonkeyPatch) -> None:
    import painterly.volume.transport as transport

    generator = torch.Generator().manual_seed(0)
    density = torch.rand(6, 6, 6, generator=generator, dtype=torch.float64, requires_grad=True)
    psi = (torch.randn(stream_function_shape((6, 6, 6)), generator=generator, dtype=torch.float64) * 2).requires_grad_()
    assert substep_count(velocity_from_stream_function(psi)) > transport.CHECKPOINT_SUBSTEPS  # checkpointed
    chunked = advect(density, velocity_from_stream_function(psi))
    chunked_grads = torch.autograd.grad(chunked.square().sum(), (density, psi))
    monkeypatch.setattr(transport, "CHECKPOINT_SUBSTEPS", 10**9)
    plain = advect(density, velocity_from_stream_function(psi))
    plain_grads = torch.autograd.grad(plain.square().sum(), (density, psi))
    assert torch.allclose(chunked, plain)
    assert all(torch.allclose(a, b) for a, b in zip(chunked_grads, plain_grads, strict=True))
