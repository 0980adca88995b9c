"""The README's volume figure: the built-in smoke plume and its stylisation, seen from six sides.

    .venv/bin/python docs/make_volume_figure.py [--style starry_night] [--strength 0.5] [--from-grid GRID.npz|.pt]

Stylises `painterly.volume.smoke.demo_density(64)` with the default options (or takes a stylised grid an earlier run
wrote, e.g. out/bench_volume/plume64_styled.pt from benchmarks/volume.py) and writes docs/images/volume_turntable.jpg:
the input (top) and the result (bottom) at azimuths 0, 60, ..., 300 degrees, elevation 10 degrees, plus the style's
luminance, both rows at the exposure the optimisation saw; and out/volume_figure/turntable.gif, a full turn of both.
Everything is rendered by painterly.volume.render.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def main() -> None:
    from PIL import Image

    from painterly.image.color import luminance_as_rgb
    from painterly.image.io import load_image, resize_long_side
    from painterly.volume.files import VolumeJob, write_turntable
    from painterly.volume.grid import load_density
    from painterly.volume.render import RenderSettings, render_views, turntable_cameras
    from painterly.volume.smoke import demo_density
    from painterly.volume.stylize import VolumeOptions, VolumeStyleTransfer, expose

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--style", default="starry_night")
    parser.add_argument("--strength", type=float, default=0.5)
    parser.add_argument("--from-grid", type=Path)
    args = parser.parse_args()
    work = ROOT / "out" / "volume_figure"
    work.mkdir(parents=True, exist_ok=True)
    style = load_image(SHARED / "styles" / f"{args.style}.jpg", max_pixels=None)
    density = demo_density(64)
    options = VolumeOptions(strength=args.strength)
    transfer = VolumeStyleTransfer([style], options)
    if args.from_grid is None:
        styled = transfer.run(density).density
    elif args.from_grid.suffix == ".pt":
        styled = torch.load(args.from_grid, weights_only=True)
    else:
        styled = load_density(args.from_grid)
    settings = RenderSettings(resolution=192)
    cameras = turntable_cameras(6, 10.0)
    exposure = transfer.exposure_for(density)  # what the optimisation saw: both rows at that gain
    with torch.no_grad():
        rows = [expose(render_views(grid, cameras, settings)[:, 0], exposure) for grid in (density, styled)]
    strip = torch.cat([torch.cat(list(row), dim=1) for row in rows], dim=0)
    swatch = luminance_as_rgb(resize_long_side(style, 2 * 192))[0, 0]
    swatch = swatch[: 2 * 192, :]
    height = strip.shape[0]
    canvas = torch.ones(height, strip.shape[1] + swatch.shape[1] + 8)
    canvas[:, : strip.shape[1]] = strip
    canvas[: swatch.shape[0], strip.shape[1] + 8 :] = swatch
    picture = (canvas.clamp(0, 1) * 255).round().byte().numpy()
    target = ROOT / "docs" / "images" / "volume_turntable.jpg"
    Image.fromarray(picture).convert("RGB").save(target, quality=90, optimize=True)
    Image.fromarray(picture).save(work / "volume_turntable.png")
    turntable = work / "turntable.gif"
    turntable.unlink(missing_ok=True)
    job = VolumeJob(source=None, output=work / "x.npz", turntable=turntable)
    write_turntable(job, density, styled, settings, exposure=exposure)
    print(f"wrote {target}, {work / 'volume_turntable.png'} and {turntable}")


if __name__ == "__main__":
    main()
