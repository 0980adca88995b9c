"""A differentiable emission–absorption renderer for (D, H, W) = (z, y, x) density grids, y pointing up.

Conventions:

- The grid is a box centred on the origin whose largest side has length 1 (voxels are cubes of side
  ``1 / max(D, H, W)``); index 0 along an axis is that axis's low end, so row 0 of the grid is the bottom.
- A :class:`Camera` orbits the centre: at azimuth 0 and elevation 0 it sits on +z and looks along -z, with +y up
  and +x to the right of the image. Azimuth turns it about y (90 puts it on +x, looking along -x); positive
  elevation lifts it above the grid, looking down (90 looks straight down along -y, with -z at the top of the image).
- :func:`rotate_grid` resamples the grid into a cubic "view box" of the same physical size (side 1, centred),
  depth first (dim 0, from the camera away), then image rows from the top, then columns from the left. The box is
  *not* padded: at oblique angles whatever lies outside the sphere inscribed in the box may be clipped, which
  costs nothing for smoke (the corners of a simulation box are usually empty) and keeps every view the same size.
- Compositing treats the density as constant within each voxel of the view box, which makes it the exact
  integral of the emission–absorption equation along each ray: a slab of whole voxels of density d filling a
  fraction f of the depth has opacity ``1 - exp(-k d f)``.

>>> image = render(smoke, Camera(azimuth=30.0, elevation=10.0))                        # doctest: +SKIP
>>> views = render_views(smoke, turntable_cameras(8), RenderSettings(resolution=128))  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from painterly.errors import ConfigError

__all__ = [
    "Camera",
    "RenderSettings",
    "opacity",
    "opacity_views",
    "render",
    "render_views",
    "render_views_and_opacity",
    "rotate_grid",
    "sample_cameras",
    "turntable_cameras",
    "unrotate_grid",
]

_Matrix = tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]
# The view box's axes (columns, rows, depth) against the camera's (right, up, back): rows run down, depth forwards.
_VIEW_FLIP: _Matrix = ((1.0, 0.0, 0.0), (0.0, -1.0, 0.0), (0.0, 0.0, -1.0))


@dataclass(frozen=True)
class Camera:
    """An orthographic camera orbiting the grid's centre; angles in degrees (see the module's conventions)."""

    azimuth: float = 0.0
    """Rotation about the y (up) axis: 0 looks along -z (from +z towards the centre), 90 along -x."""
    elevation: float = 0.0
    """Positive: the camera is above the grid, looking down; 90 looks straight down."""

    def __post_init__(self) -> None:
        for name in ("azimuth", "elevation"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                raise ConfigError(f"camera {name} must be a finite number of degrees, got {value!r}")


@dataclass(frozen=True)
class RenderSettings:
    """How a grid is shaded; the defaults suit densities of order 1."""

    absorption: float = 4.0
    """k: extinction per unit density per unit length, the grid's largest side having length 1."""
    light: tuple[float, float, float] | None = (0.5, 1.0, 0.3)
    """Direction *to* the light in (x, y, z), any length; None: no self-shadowing (unit emission everywhere)."""
    ambient: float = 0.25
    """Fraction of the light that reaches every voxel however deep in shadow it is, in [0, 1]."""
    resolution: int | None = None
    """Side of the output image in pixels (bilinear resize); None: the grid's largest side."""

    def __post_init__(self) -> None:
        if not _is_number(self.absorption) or self.absorption < 0:
            raise ConfigError(f"absorption must be a finite number >= 0, got {self.absorption!r}")
        if not _is_number(self.ambient) or not 0.0 <= self.ambient <= 1.0:
            raise ConfigError(f"ambient must be between 0 and 1, got {self.ambient!r}")
        if self.resolution is not None and (
            not isinstance(self.resolution, int) or isinstance(self.resolution, bool) or self.resolution < 1
        ):
            raise ConfigError(f"resolution must be a whole number of pixels >= 1, got {self.resolution!r}")
        if self.light is not None:
            if len(self.light) != 3 or not all(_is_number(c) for c in self.light):
                raise ConfigError(f"light must be three finite numbers (x, y, z), got {self.light!r}")
            if math.hypot(*self.light) == 0.0:
                raise ConfigError("light direction must not be (0, 0, 0); use light=None for no shadows")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# --------------------------------------------------------------------------------------------- rotations


def _matmul(a: _Matrix, b: _Matrix) -> _Matrix:
    def row(i: int) -> tuple[float, float, float]:
        return (
            a[i][0] * b[0][0] + a[i][1] * b[1][0] + a[i][2] * b[2][0],
            a[i][0] * b[0][1] + a[i][1] * b[1][1] + a[i][2] * b[2][1],
            a[i][0] * b[0][2] + a[i][1] * b[1][2] + a[i][2] * b[2][2],
        )

    return (row(0), row(1), row(2))


def _transpose(a: _Matrix) -> _Matrix:
    return ((a[0][0], a[1][0], a[2][0]), (a[0][1], a[1][1], a[2][1]), (a[0][2], a[1][2], a[2][2]))


def _diagonal(x: float, y: float, z: float) -> _Matrix:
    return ((x, 0.0, 0.0), (0.0, y, 0.0), (0.0, 0.0, z))


def _camera_to_world(camera: Camera) -> _Matrix:
    """R = Ry(azimuth) · Rx(-elevation): the camera's (right, up, back) axes as columns in world (x, y, z)."""
    a, e = math.radians(camera.azimuth), math.radians(-camera.elevation)
    ry = ((math.cos(a), 0.0, math.sin(a)), (0.0, 1.0, 0.0), (-math.sin(a), 0.0, math.cos(a)))
    rx = ((1.0, 0.0, 0.0), (0.0, math.cos(e), -math.sin(e)), (0.0, math.sin(e), math.cos(e)))
    return _matmul(ry, rx)


def _light_camera(light: tuple[float, float, float]) -> Camera:
    """The camera that sits in the light's direction, so that its depth axis follows the light's rays."""
    x, y, z = light
    length = math.sqrt(x * x + y * y + z * z)
    elevation = math.degrees(math.asin(max(-1.0, min(1.0, y / length))))
    return Camera(azimuth=math.degrees(math.atan2(x, z)), elevation=elevation)


def _grid_scale(shape: Sequence[int]) -> tuple[float, float, float]:
    """Extents of a (D, H, W) grid along (x, y, z), its largest side having length 1."""
    depth, height, width = shape
    side = max(shape)
    return width / side, height / side, depth / side


def _view_from_world(camera: Camera, shape: Sequence[int]) -> _Matrix:
    """Maps view-box coordinates to the grid's normalised coordinates (``affine_grid``'s theta, x-y-z order)."""
    sx, sy, sz = _grid_scale(shape)
    return _matmul(_diagonal(1 / sx, 1 / sy, 1 / sz), _matmul(_camera_to_world(camera), _VIEW_FLIP))


def _theta(matrices: Sequence[_Matrix], like: Tensor) -> Tensor:
    theta = torch.zeros(len(matrices), 3, 4, dtype=torch.float64)
    theta[:, :, :3] = torch.tensor(matrices, dtype=torch.float64)
    return theta.to(dtype=like.dtype, device=like.device)


def _resample(volumes: Tensor, matrices: Sequence[_Matrix], size: int) -> Tensor:
    """(N or 1, D, H, W) volumes resampled through N matrices into N cubes of side ``size``, zeros outside."""
    count = len(matrices)
    source = volumes.unsqueeze(1).expand(count, 1, *volumes.shape[1:])
    grid = F.affine_grid(_theta(matrices, volumes), [count, 1, size, size, size], align_corners=False)
    return F.grid_sample(source, grid, mode="bilinear", padding_mode="zeros", align_corners=False).squeeze(1)


def _check_grid(density: Tensor) -> None:
    if not isinstance(density, Tensor):
        raise ConfigError(f"density must be a torch tensor, got {type(density).__name__}")
    if density.dim() != 3:
        raise ConfigError(f"density must be a 3-D (D, H, W) grid, got shape {tuple(density.shape)}")
    if min(density.shape) < 1:
        raise ConfigError(f"density grid is empty: shape {tuple(density.shape)}")
    if not density.is_floating_point():
        raise ConfigError(f"density must be a floating-point tensor, got {density.dtype}")


def _check_size(size: int | None, density: Tensor) -> int:
    if size is None:
        return max(density.shape)
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ConfigError(f"size must be a whole number of voxels >= 1, got {size!r}")
    return size


def rotate_grid(density: Tensor, camera: Camera, *, size: int | None = None) -> Tensor:
    """The grid resampled (trilinear) into ``camera``'s view box: (S, S, S) = (depth, rows, columns).

    Depth 0 is the slice nearest the camera, row 0 the top of the image. The view box has the physical size of the
    grid's largest side (S voxels across, default ``max(D, H, W)``); it is not enlarged for oblique views, so the
    corners of the grid beyond the box's inscribed sphere can be clipped. Outside the grid the density is 0. At the
    default camera a cube comes back flipped along z and y (``density.flip(0, 1)``): that is the view order.
    """
    _check_grid(density)
    side = _check_size(size, density)
    return _resample(density.unsqueeze(0), [_view_from_world(camera, density.shape)], side)[0]


def unrotate_grid(view: Tensor, camera: Camera, shape: tuple[int, int, int]) -> Tensor:
    """The inverse of :func:`rotate_grid`: a view-box volume (S, S, S) resampled back onto a (D, H, W) grid."""
    if not isinstance(view, Tensor) or view.dim() != 3 or len(set(view.shape)) != 1:
        raise ConfigError(f"view must be a cubic (S, S, S) tensor, got {getattr(view, 'shape', view)!r}")
    if len(shape) != 3 or min(shape) < 1:
        raise ConfigError(f"shape must be three sides >= 1, got {shape!r}")
    sx, sy, sz = _grid_scale(shape)
    matrix = _matmul(_VIEW_FLIP, _matmul(_transpose(_camera_to_world(camera)), _diagonal(sx, sy, sz)))
    grid = F.affine_grid(_theta([matrix], view), [1, 1, *shape], align_corners=False)
    source = view.reshape(1, 1, *view.shape)
    return F.grid_sample(source, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0, 0]


# --------------------------------------------------------------------------------------------- rendering


def _exclusive_cumsum(volumes: Tensor) -> Tensor:
    """Sum over the slices in front of each slice along dim 1 (depth), the slice itself excluded."""
    inclusive = volumes.cumsum(dim=1)
    return F.pad(inclusive[:, :-1], (0, 0, 0, 0, 1, 0))


def _to_image(images: Tensor, resolution: int | None) -> Tensor:
    """(N, S, S) → (N, 1, R, R), resized bilinearly when a resolution is set, clamped to [0, 1] against rounding."""
    images = images.unsqueeze(1)
    if resolution is not None and resolution != images.shape[-1]:
        shrinking = resolution < images.shape[-1]
        images = F.interpolate(
            images, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=shrinking
        )
    return images.clamp(0.0, 1.0)


def _check_cameras(cameras: Sequence[Camera]) -> list[Camera]:
    cameras = list(cameras)
    if not cameras:
        raise ConfigError("give at least one camera")
    for camera in cameras:
        if not isinstance(camera, Camera):
            raise ConfigError(f"cameras must be Camera instances, got {type(camera).__name__}")
    return cameras


def render_views(density: Tensor, cameras: Sequence[Camera], settings: RenderSettings = RenderSettings()) -> Tensor:
    """Render the grid from each camera: (N, 1, R, R) images in [0, 1] on a black background.

    Each pixel is ``sum_i T_i alpha_i L_i`` along its ray, with ``alpha_i = 1 - exp(-k d_i ds)``, the
    transmittance ``T_i`` through the voxels in front of voxel i, and the light ``L_i`` reaching it: 1 without a
    light, else ``ambient + (1 - ambient) exp(-k ds (density between the voxel and the light))``. The shadows are
    computed once in the light's view box and resampled straight into each camera's view box (one trilinear
    resampling). Negative densities count as empty. All views are rendered in one batched ``grid_sample``.
    """
    return render_views_and_opacity(density, cameras, settings)[0]


def render_views_and_opacity(
    density: Tensor, cameras: Sequence[Camera], settings: RenderSettings = RenderSettings()
) -> tuple[Tensor, Tensor]:
    """:func:`render_views` and each view's silhouette (:func:`opacity`), (N, 1, R, R) each, from one resampling."""
    _check_grid(density)
    cameras = _check_cameras(cameras)
    side = max(density.shape)
    step = settings.absorption / side  # k * ds, the box being 1 long and ``side`` voxels deep
    density = density.clamp(min=0.0)
    views = _resample(density.unsqueeze(0), [_view_from_world(camera, density.shape) for camera in cameras], side)
    in_front = _exclusive_cumsum(views) * step
    # T_i alpha_i, with expm1 so that faint voxels (k d ds ~ 1e-4) keep their precision in float32.
    weights = torch.exp(-in_front) * -torch.expm1(-views * step)
    if settings.light is not None:
        sun = _light_camera(settings.light)
        lit_view = _resample(density.unsqueeze(0), [_view_from_world(sun, density.shape)], side)
        # Resample the *shadow* (1 - transmittance to the light), not the light: zeros padding then leaves the grid
        # corners that the light's box clips unshadowed rather than black.
        shadow = 1.0 - torch.exp(-_exclusive_cumsum(lit_view) * step)
        sun_from_world = _matmul(_VIEW_FLIP, _transpose(_camera_to_world(sun)))
        to_sun = [_matmul(sun_from_world, _matmul(_camera_to_world(camera), _VIEW_FLIP)) for camera in cameras]
        shadow_in_views = _resample(shadow, to_sun, side)
        weights = weights * (1.0 - (1.0 - settings.ambient) * shadow_in_views)
    silhouettes = -torch.expm1(-views.sum(dim=1) * step)
    return _to_image(weights.sum(dim=1), settings.resolution), _to_image(silhouettes, settings.resolution)


def render(density: Tensor, camera: Camera, settings: RenderSettings = RenderSettings()) -> Tensor:
    """Render the grid from one camera: an (R, R) image in [0, 1] (see :func:`render_views`)."""
    return render_views(density, [camera], settings)[0, 0]


def opacity(density: Tensor, camera: Camera, settings: RenderSettings = RenderSettings()) -> Tensor:
    """The silhouette, (R, R) in [0, 1]: ``1 - exp(-k ds sum d)`` along each ray (the light plays no part)."""
    return opacity_views(density, [camera], settings)[0, 0]


def opacity_views(density: Tensor, cameras: Sequence[Camera], settings: RenderSettings = RenderSettings()) -> Tensor:
    """:func:`opacity` from each camera, (N, 1, R, R), in one batched resampling."""
    _check_grid(density)
    cameras = _check_cameras(cameras)
    side = max(density.shape)
    views = _resample(
        density.clamp(min=0.0).unsqueeze(0), [_view_from_world(camera, density.shape) for camera in cameras], side
    )
    return _to_image(-torch.expm1(-views.sum(dim=1) * (settings.absorption / side)), settings.resolution)


# --------------------------------------------------------------------------------------------- cameras


def _check_count(count: int) -> None:
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ConfigError(f"camera count must be a whole number >= 1, got {count!r}")


def turntable_cameras(count: int, elevation: float = 0.0) -> list[Camera]:
    """``count`` cameras at evenly spaced azimuths 0, 360/count, ... around the grid, all at ``elevation``."""
    _check_count(count)
    return [Camera(azimuth=360.0 * i / count, elevation=elevation) for i in range(count)]


def sample_cameras(
    count: int, *, elevation_range: tuple[float, float] = (-15.0, 15.0), generator: torch.Generator
) -> list[Camera]:
    """``count`` random cameras: one azimuth in each of ``count`` equal arcs of the circle (the arcs turned by a
    random offset), elevations uniform in ``elevation_range``. Azimuths are in [0, 360)."""
    _check_count(count)
    low, high = elevation_range
    if not (_is_number(low) and _is_number(high)) or not -90.0 <= low <= high <= 90.0:
        raise ConfigError(f"elevation_range must be (low, high) with -90 <= low <= high <= 90, got {elevation_range!r}")
    draws = torch.rand(2 * count + 1, generator=generator, dtype=torch.float64).tolist()
    offset, jitter, heights = draws[0], draws[1 : count + 1], draws[count + 1 :]
    arc = 360.0 / count
    return [
        Camera(azimuth=(offset * 360.0 + (i + jitter[i]) * arc) % 360.0, elevation=low + (high - low) * heights[i])
        for i in range(count)
    ]
