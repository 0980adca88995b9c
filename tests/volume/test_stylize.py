"""Volume style transfer on tiny grids with a tiny random VGG (the real layer names, a fraction of the cost)."""

from __future__ import annotations

import pytest
import torch

from painterly.config import DEFAULT_STYLE_LAYERS
from painterly.errors import ConfigError
from painterly.volume.render import Camera
from painterly.volume.stylize import (
    VolumeCheckpoint,
    VolumeOptions,
    VolumeProgress,
    VolumeStyleTransfer,
    expose,
    level_shapes,
    refine_parameters,
    smoke_region,
)
from painterly.volume.transport import velocity_from_stream_function
from tests.conftest import gradient_image, make_tiny_encoder

SMALL = {"render_size": 32, "style_size": 32, "views": 2, "precision": "fp32", "learning_rate": 0.2}


def blob(side: int = 16) -> torch.Tensor:
    z, y, x = torch.meshgrid(*[torch.linspace(-1, 1, side)] * 3, indexing="ij")
    return (torch.exp(-((x / 0.5) ** 2 + (y / 0.7) ** 2 + (z / 0.5) ** 2) * 2) * 2.0).float()


def transfer(**changes: object) -> VolumeStyleTransfer:
    options = VolumeOptions(**(SMALL | changes))  # type: ignore[arg-type]
    stripes = gradient_image(48, 48, seed=1)
    stripes[:, :, ::6] = 0.0  # dark lines: a style with structure
    return VolumeStyleTransfer([stripes], options, encoder=make_tiny_encoder(list(DEFAULT_STYLE_LAYERS)))


@pytest.mark.parametrize("mode", ["incompressible", "compressible", "density"])
def test_every_mode_lowers_the_style_loss(mode: str) -> None:
    seen: list[VolumeProgress] = []
    density = blob()
    result = transfer(mode=mode, iterations=(25,)).run(density, progress=seen.append)
    assert len(seen) == 25 and seen[-1].total_step == 25 and seen[0].grid == (16, 16, 16)
    first = sum(p.losses["style"] for p in seen[:5]) / 5
    last = sum(p.losses["style"] for p in seen[-5:]) / 5
    assert last < 0.9 * first
    assert result.density.shape == density.shape and (result.density >= 0).all()
    if mode != "density":  # transport conserves the mass
        assert result.density.sum().item() == pytest.approx(density.sum().item(), rel=1e-4)


def test_whole_view_statistics_lower_the_style_loss_too() -> None:
    seen: list[VolumeProgress] = []
    transfer(style_region="view", iterations=(25,)).run(blob(), progress=seen.append)
    assert sum(p.losses["style"] for p in seen[-5:]) < 0.9 * sum(p.losses["style"] for p in seen[:5])


def test_the_smoke_region_covers_the_silhouette_grown_a_little() -> None:
    outlines = torch.zeros(2, 1, 32, 32)
    outlines[0, 0, 16, 16] = 0.5  # one opaque pixel
    outlines[0, 0, 4, 4] = 0.01  # a faint one counts a fifth
    region = smoke_region(outlines)
    assert region.shape == outlines.shape and region.min() >= 0 and region.max() <= 1
    assert region[0, 0, 16, 16] == 1.0 and region[0, 0, 16, 18] > 0.5 and region[0, 0, 16, 19] > 0
    assert region[0, 0, 16, 21] == 0 and region[0, 0, 28, 28] == 0 and region[1].max() == 0
    assert 0 < region[0, 0, 4, 4] <= 0.2 + 1e-6


def test_the_smoke_statistics_ignore_the_background() -> None:
    """Only the smoke's region counts: the style loss of a blob stays the same when far-away pixels of the view
    change, and it differs from the whole view's."""
    smoke, view = transfer(), transfer(style_region="view")
    cameras = [Camera(0.0, 0.0)]
    assert smoke.losses(blob(), blob(), cameras)["style"] != view.losses(blob(), blob(), cameras)["style"]
    images = torch.rand(1, 1, 32, 32)
    region = torch.zeros(1, 1, 32, 32)
    region[..., 8:24, 8:24] = 1.0
    changed = images.clone()
    changed[..., :2, :] = 1.0 - changed[..., :2, :]
    gram = lambda image: smoke.masked_grams(image, region)  # noqa: E731
    unchanged = [torch.allclose(a, b, atol=1e-6) for a, b in zip(gram(images), gram(changed), strict=True)]
    assert unchanged[0]  # relu1_1 sees three pixels around each: rows 0-1 are far from the region


def test_the_automatic_exposure_brings_the_smoke_to_the_styles_brightness() -> None:
    from painterly.volume.render import render_views_and_opacity, turntable_cameras

    volume = transfer()
    faint = blob() * 0.05
    exposure = volume.exposure_for(faint)
    assert volume.exposure_for(blob()) == exposure  # fixed by the first grid: a sequence keeps it
    views, outlines = render_views_and_opacity(faint, turntable_cameras(6, 0.0), volume.render_settings)
    region = smoke_region(outlines)
    exposed = float((expose(views, exposure) * region).sum() / region.sum())
    assert exposed == pytest.approx(volume.style_brightness, rel=1e-4)
    assert transfer(exposure=1.5).exposure_for(faint) == 1.5


def test_exposure_is_film_like() -> None:
    views = torch.linspace(0, 5, 101)
    exposed = expose(views, 2.0)
    assert exposed[0] == 0 and (exposed < 1).all() and (exposed.diff() > 0).all()
    assert torch.allclose(exposed, 1 - torch.exp(-2.0 * views))


def test_the_incompressible_velocity_is_divergence_free() -> None:
    result = transfer(iterations=(5,)).run(blob())
    velocity = velocity_from_stream_function(result.parameters)
    assert velocity.divergence().abs().max() <= 1e-5 * max(float(velocity.max_speed()), 1e-6)


def test_coarse_to_fine_levels_and_refinement() -> None:
    assert level_shapes((64, 64, 64), 3) == [(16, 16, 16), (32, 32, 32), (64, 64, 64)]
    assert level_shapes((24, 24, 24), 3) == [(24, 24, 24)]  # 12 is too coarse
    seen: list[VolumeProgress] = []
    result = transfer(iterations=(3, 2)).run(blob(32), progress=seen.append)
    assert [p.grid for p in seen] == [(16, 16, 16)] * 3 + [(32, 32, 32)] * 2
    assert result.parameters.shape == (3, 33, 33, 33)
    # a refined stream function moves the smoke as far (in box units) as the coarse one did
    coarse = torch.zeros(3, 17, 17, 17)
    coarse[2, 4:13, 4:13, 4:13] = torch.linspace(0, 1, 9)[:, None, None]
    fine = refine_parameters("incompressible", coarse, (32, 32, 32))
    speed = lambda p: float(velocity_from_stream_function(p).max_speed())  # noqa: E731
    assert speed(fine) / 32 == pytest.approx(speed(coarse) / 16, rel=0.15)


def test_a_sequence_frame_starts_from_the_previous_parameters() -> None:
    first = transfer(iterations=(4,)).run(blob())
    seen: list[VolumeProgress] = []
    second = transfer(iterations=(6, 4)).run(blob(), start=first.parameters, iterations=(6, 2), progress=seen.append)
    assert len(seen) == 2  # only the finest level
    assert second.parameters.shape == first.parameters.shape


def test_an_interrupted_run_keeps_the_latest_density() -> None:
    volume = transfer(iterations=(20,))

    def stop(progress: VolumeProgress) -> None:
        if progress.step == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        volume.run(blob(), progress=stop)
    kept = volume.finish_interrupted(blob())
    assert kept.interrupted and len(kept.history) == 4 and not torch.equal(kept.density, blob())


def test_a_run_resumed_from_its_checkpoint_ends_as_an_uninterrupted_one() -> None:
    whole = transfer(iterations=(6, 5)).run(blob(32))
    volume = transfer(iterations=(6, 5))
    saved: list[VolumeCheckpoint] = []

    def stop(progress: VolumeProgress) -> None:
        if progress.total_step == 8:  # level 2, step 2
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        volume.run(blob(32), progress=stop, on_checkpoint=saved.append, checkpoint_every=4)
    assert [(state.level, state.step) for state in saved] == [(0, 4), (0, 6)]  # every 4 steps and each level's end
    latest = volume.checkpoint
    assert latest is not None and (latest.level, latest.step) == (1, 2) and len(latest.history) == 8
    seen: list[VolumeProgress] = []
    resumed = transfer(iterations=(6, 5)).run(blob(32), resume=latest, progress=seen.append)
    assert [p.total_step for p in seen] == [9, 10, 11]
    assert torch.equal(resumed.parameters, whole.parameters) and torch.equal(resumed.density, whole.density)
    assert resumed.history == whole.history
    # from a level's end, the next level starts afresh
    again = transfer(iterations=(6, 5)).run(blob(32), resume=saved[1])
    assert torch.equal(again.parameters, whole.parameters)
    with pytest.raises(ConfigError, match="does not fit"):
        transfer(iterations=(6,)).run(blob(32), resume=latest)


def test_view_losses_per_camera() -> None:
    volume = transfer()
    losses = volume.view_losses(blob(), blob(), [Camera(0.0, 0.0), Camera(90.0, 30.0)])
    assert len(losses) == 2 and all(value > 0 for value in losses)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"strength": 2.0}, "strength"),
        ({"mode": "fluid"}, "mode must be one of"),
        ({"iterations": ()}, "iterations"),
        ({"views": 0}, "views"),
        ({"style_region": "sky"}, "style region"),
        ({"exposure": 0.0}, "exposure"),
        ({"render_size": 8}, "at least 32"),
        ({"learning_rate": 0.0}, "learning rate"),
        ({"elevation_range": (20.0, -20.0)}, "elevation range"),
        ({"absorption": -1.0}, "absorption"),
    ],
)
def test_bad_options(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        VolumeOptions(**changes)  # type: ignore[arg-type]
