"""The volume renderer against hand-computed slabs, its view conventions, shadows, gradients and argument checks.

Half-voxel conventions: a grid of n voxels along an axis spans length n / max(D, H, W) with voxel i covering
[i, i + 1) / max side; density is constant within a voxel, so m whole voxels of density d filling a fraction
f = m / n of the depth give exactly ``1 - exp(-k d f)``.
"""

from __future__ import annotations

import math

import pytest
import torch

from painterly.errors import ConfigError
from painterly.volume.render import (
    Camera,
    RenderSettings,
    opacity,
    render,
    render_views,
    rotate_grid,
    sample_cameras,
    turntable_cameras,
    unrotate_grid,
)

UNLIT = RenderSettings(light=None)
K = UNLIT.absorption


def blob(
    side: int, centre: tuple[float, float, float], radius: float, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """A smooth Gaussian blob on a (side,)*3 grid, ``centre`` in voxel indices (z, y, x)."""
    z, y, x = torch.meshgrid(*[torch.arange(side, dtype=dtype)] * 3, indexing="ij")
    distance2 = (z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2
    return torch.exp(-distance2 / (2 * radius**2))


# --------------------------------------------------------------------------------------------- slabs


def test_slab_at_azimuth_0_matches_beer_lambert() -> None:
    density = torch.zeros(10, 10, 10)
    density[-3:] = 0.7  # the 3 slices nearest the camera on +z: f = 0.3
    image = render(density, Camera(), UNLIT)
    assert image.shape == (10, 10)
    torch.testing.assert_close(image, torch.full((10, 10), 1 - math.exp(-K * 0.7 * 0.3)), atol=1e-3, rtol=0)
    # the same slab at the back of the box looks the same: nothing is in front of it
    back = density.flip(0)
    torch.testing.assert_close(render(back, Camera(), UNLIT), image, atol=1e-5, rtol=0)
    torch.testing.assert_close(opacity(density, Camera(), UNLIT), image, atol=1e-5, rtol=0)


def test_two_slabs_in_series() -> None:
    d1, f1, d2, f2 = 0.9, 0.25, 0.4, 0.5
    density = torch.zeros(8, 6, 6)
    density[6:] = d1  # front (near +z): 2 of 8 slices
    density[:4] = d2  # back: 4 of 8
    # a (8, 6, 6) grid is 1 deep and 0.75 across: the image is 8 pixels wide with an empty border of 1
    image = render(density, Camera(), UNLIT)
    front = 1 - math.exp(-K * d1 * f1)
    expected = front + math.exp(-K * d1 * f1) * (1 - math.exp(-K * d2 * f2))
    torch.testing.assert_close(image[1:-1, 1:-1], torch.full((6, 6), expected), atol=1e-3, rtol=0)
    assert image[0].abs().max() < 1e-6 and image[:, -1].abs().max() < 1e-6
    # emission of the back slab is attenuated by the front one: swapping them changes the picture
    swapped = render(density.flip(0), Camera(), UNLIT)[3, 3].item()
    assert swapped == pytest.approx((1 - math.exp(-K * d2 * f2)) + math.exp(-K * d2 * f2) * front, abs=1e-3)


def test_views_along_x_and_y() -> None:
    density = torch.zeros(10, 10, 10)
    density[:, :, 2:5] = 1.0  # an x-slab: 3 of 10 columns
    side_view = render(density, Camera(azimuth=90), UNLIT)
    torch.testing.assert_close(side_view, torch.full((10, 10), 1 - math.exp(-K * 0.3)), atol=1e-3, rtol=0)
    front_view = render(density, Camera(), UNLIT)
    stripe = torch.zeros(10)
    stripe[2:5] = 1 - math.exp(-K)
    torch.testing.assert_close(front_view, stripe.expand(10, 10), atol=1e-3, rtol=0)

    floor = torch.zeros(10, 10, 10)
    floor[:, :2] = 1.0  # a y-slab at the bottom: a stripe at the bottom rows from the front, all over from above
    torch.testing.assert_close(render(floor, Camera(elevation=90), UNLIT), torch.full((10, 10), 1 - math.exp(-K * 0.2)))
    assert render(floor, Camera(), UNLIT)[-2:].min() > 0.98 and render(floor, Camera(), UNLIT)[:-2].max() < 1e-5

    back = torch.zeros(10, 10, 10)
    back[:3] = 1.0  # low z: from above, -z is at the top of the image
    top = render(back, Camera(elevation=90), UNLIT)
    assert top[:3].min() > 0.98 and top[3:].max() < 1e-5
    # azimuth 90 puts the camera on +x, so -z is to the right
    right = render(back, Camera(azimuth=90), UNLIT)
    assert right[:, -3:].min() > 0.98 and right[:, :-3].max() < 1e-5


def test_rotate_grid_identity_and_quarter_turns() -> None:
    torch.manual_seed(0)
    grid = torch.rand(7, 7, 7)
    # the default camera's view order is the grid flipped along z (depth from +z) and y (rows from the top)
    torch.testing.assert_close(rotate_grid(grid, Camera()), grid.flip(0, 1), atol=1e-5, rtol=0)
    turned = grid
    for _ in range(4):
        turned = rotate_grid(turned, Camera(azimuth=90)).flip(0, 1)  # back into grid order, turned by 90°
    torch.testing.assert_close(turned, grid, atol=1e-4, rtol=0)
    once = rotate_grid(grid, Camera(azimuth=90)).flip(0, 1)
    assert not torch.allclose(once, grid)
    smooth = blob(16, (7.5, 8.0, 7.0), 3.0)
    camera = Camera(azimuth=33.0, elevation=-21.0)
    assert rotate_grid(smooth, camera, size=20).shape == (20, 20, 20)
    back = unrotate_grid(rotate_grid(smooth, camera), camera, (16, 16, 16))
    # two trilinear resamplings blur the peak a little (at most |f''| / 8 per axis and pass); the corners clip a tail
    torch.testing.assert_close(back, smooth, atol=0.08, rtol=0)
    assert back.sum().item() == pytest.approx(smooth.sum().item(), rel=0.03)


def test_light_shadows_what_lies_behind_a_blob() -> None:
    lit = RenderSettings(light=(0.0, 1.0, 0.0), ambient=0.2)
    probe = torch.zeros(12, 12, 12)
    probe[5:7, 2:4, 5:7] = 0.5  # low down
    occluder = probe.clone()
    occluder[3:9, 8:11, 3:9] = 3.0  # above it, between it and the light
    rows = slice(8, 10)  # the probe's rows seen from the front (y rows 2-3 from the bottom)
    bright = render(probe, Camera(), lit)[rows, 5:7]
    dark = render(occluder, Camera(), lit)[rows, 5:7]
    unlit = render(probe, Camera(), UNLIT)[rows, 5:7]
    assert bright.min() > 0.05
    assert (dark < 0.5 * bright).all()
    assert (dark >= 0.2 * bright - 1e-4).all()  # ambient light still reaches it
    assert (bright <= unlit + 1e-6).all()
    # a light from below leaves the probe as lit as it is without the occluder
    below = RenderSettings(light=(0.0, -1.0, 0.0), ambient=0.2)
    torch.testing.assert_close(
        render(occluder, Camera(), below)[rows, 5:7], render(probe, Camera(), below)[rows, 5:7], atol=1e-4, rtol=0
    )


@pytest.mark.parametrize("light", [None, (0.5, 1.0, 0.3)])
def test_gradcheck(light: tuple[float, float, float] | None) -> None:
    generator = torch.Generator().manual_seed(1)
    density = (0.2 + torch.rand(5, 5, 5, generator=generator, dtype=torch.float64)).requires_grad_()
    settings = RenderSettings(light=light, resolution=4)
    camera = Camera(azimuth=30.0, elevation=15.0)
    assert torch.autograd.gradcheck(lambda d: render(d, camera, settings), (density,), eps=1e-6, atol=1e-5)
    assert torch.autograd.gradcheck(lambda d: opacity(d, camera, settings), (density,), eps=1e-6, atol=1e-5)


def test_render_views_batches_and_ranges() -> None:
    smoke = blob(16, (8.0, 7.0, 9.0), 3.0) * 2
    cameras = [Camera(), Camera(azimuth=45.0, elevation=20.0), Camera(azimuth=200.0)]
    views = render_views(smoke, cameras, RenderSettings(resolution=24))
    assert views.shape == (3, 1, 24, 24) and views.dtype == torch.float32
    assert views.min() >= 0 and views.max() <= 1 and views.max() > 0.3
    single = render(smoke, cameras[1], RenderSettings(resolution=24))
    torch.testing.assert_close(views[1, 0], single)
    assert render(smoke, Camera(), RenderSettings(resolution=8)).shape == (8, 8)


def test_cameras() -> None:
    table = turntable_cameras(6, elevation=10.0)
    assert [c.azimuth for c in table] == pytest.approx([0, 60, 120, 180, 240, 300])
    assert all(c.elevation == 10.0 for c in table)
    generator = torch.Generator().manual_seed(3)
    for _ in range(20):
        cameras = sample_cameras(8, elevation_range=(-20.0, 5.0), generator=generator)
        azimuths = sorted(c.azimuth for c in cameras)
        assert all(0 <= a < 360 for a in azimuths)
        gaps = [b - a for a, b in zip(azimuths, [*azimuths[1:], azimuths[0] + 360], strict=True)]
        assert max(gaps) < 2 * 360 / 8  # one in each 45° arc
        assert all(-20.0 <= c.elevation <= 5.0 for c in cameras)
    first = sample_cameras(4, generator=torch.Generator().manual_seed(9))
    assert first == sample_cameras(4, generator=torch.Generator().manual_seed(9))
    assert first != sample_cameras(4, generator=torch.Generator().manual_seed(10))


def test_bad_arguments() -> None:
    grid = torch.rand(4, 4, 4)
    with pytest.raises(ConfigError, match="3-D"):
        render(torch.rand(4, 4), Camera())
    with pytest.raises(ConfigError, match="3-D"):
        rotate_grid(torch.rand(1, 4, 4, 4), Camera())
    with pytest.raises(ConfigError, match="floating-point"):
        render(torch.ones(4, 4, 4, dtype=torch.int64), Camera())
    with pytest.raises(ConfigError, match="absorption"):
        RenderSettings(absorption=-1.0)
    with pytest.raises(ConfigError, match="resolution"):
        RenderSettings(resolution=0)
    for ambient in (-0.1, 1.5):
        with pytest.raises(ConfigError, match="ambient"):
            RenderSettings(ambient=ambient)
    with pytest.raises(ConfigError, match="light"):
        RenderSettings(light=(0.0, 0.0, 0.0))
    with pytest.raises(ConfigError, match="azimuth"):
        Camera(azimuth=math.nan)
    with pytest.raises(ConfigError, match="size"):
        rotate_grid(grid, Camera(), size=0)
    with pytest.raises(ConfigError, match="camera"):
        render_views(grid, [])
    with pytest.raises(ConfigError, match="count"):
        turntable_cameras(0)
    with pytest.raises(ConfigError, match="elevation_range"):
        sample_cameras(3, elevation_range=(10.0, -10.0), generator=torch.Generator())


def test_views_and_silhouettes_from_one_resampling_match_the_separate_functions() -> None:
    from painterly.volume.render import opacity_views, render_views_and_opacity

    generator = torch.Generator().manual_seed(3)
    density = torch.rand(10, 12, 9, generator=generator)
    cameras = [Camera(azimuth=15.0, elevation=5.0), Camera(azimuth=250.0, elevation=-12.0)]
    settings = RenderSettings(resolution=16)
    views, silhouettes = render_views_and_opacity(density, cameras, settings)
    assert torch.equal(views, render_views(density, cameras, settings))
    separate = torch.stack([opacity(density, camera, settings) for camera in cameras])[:, None]
    assert torch.allclose(silhouettes, separate, atol=1e-6)
    assert torch.allclose(opacity_views(density, cameras, settings), separate, atol=1e-6)
