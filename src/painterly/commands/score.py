"""``painterly score``: how close a result is to its content and style (images), or how much it flickers (videos)."""

from __future__ import annotations

import json
from itertools import zip_longest
from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError
from ..image.io import DEFAULT_MAX_PIXELS, read_image

HELP = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


def is_video(path: Path) -> bool:
    from ..video.io import VIDEO_SUFFIXES

    return path.is_dir() or path.suffix.lower() in VIDEO_SUFFIXES


@click.command(context_settings=HELP)
@click.argument("outputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--content", required=True, type=click.Path(path_type=Path), help="The photo (or video) stylised.")
@click.option("--style", "styles", multiple=True, type=click.Path(path_type=Path), help="Style image(s) (images).")
@click.option("--device", default="auto", show_default=True, help="Where the scoring networks run.")
@click.option(
    "--max-pixels", default=DEFAULT_MAX_PIXELS, show_default=True, type=int, help="Refuse larger input images."
)
def score(outputs: tuple[Path, ...], content: Path, styles: tuple[Path, ...], device: str, max_pixels: int) -> int:
    """Score each OUTPUT against --content: one JSON line per output.

    \b
    Images: content loss and style loss (the optimisation's defaults, fp32 VGG16; style only with --style),
    LPIPS and SSIM to the content.
    Videos (painterly score OUT.mp4 --content IN.mp4): the warping error E_warp of Lai et al. 2018, the mean over
    adjacent frame pairs of the masked squared difference between output frame t and output frame t+1 warped back
    by the optical flow of the input frames (lower = less flicker).
    """
    if is_video(content):
        if styles:
            raise ConfigError("--style applies to images; a video is scored by its warping error")
        for output in outputs:
            click.echo(json.dumps(score_video(output, content, max_pixels=max_pixels)))
        return 0
    from ..scoring import ImageScorer

    scorer = ImageScorer(device=device)
    photo = read_image(content, max_pixels=max_pixels).rgb
    style_images = [read_image(path, max_pixels=max_pixels).rgb for path in styles]
    for output in outputs:
        image = read_image(output, max_pixels=max_pixels).rgb
        values = scorer.score(image, photo, style_images).to_dict()
        click.echo(json.dumps({"output": str(output), "content": str(content), **values}))
    return 0


def score_video(output: Path, content: Path, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> dict[str, Any]:
    """E_warp of ``output`` with the flow of ``content``'s frames (brought to the output's size)."""
    from ..image.io import resize_to
    from ..video.io import open_video
    from ..video.warping_error import WarpingErrorMeter

    meter = WarpingErrorMeter()
    with open_video(output, max_pixels=max_pixels) as stylised:
        size = (stylised.info.height, stylised.info.width)
        long_side = max(size)
        with open_video(content, long_side=long_side, max_pixels=max_pixels) as source:
            count = 0
            for made, original in zip_longest(stylised, source):
                if made is None or original is None:
                    raise ConfigError(
                        f"{output} and {content} differ in length (after {count} frames): score an output against "
                        "the frames it was made from"
                    )
                frame = original.image
                if tuple(frame.shape[-2:]) != size:
                    frame = resize_to(frame, size)
                meter.update(frame, made.image)
                count += 1
    if count < 2:
        raise ConfigError(f"{output}: the warping error needs at least two frames, got {count}")
    result = meter.result()
    return {
        "output": str(output),
        "content": str(content),
        "frames": count,
        "warping_error": result.mean,
        "masked_share": result.masked_share,
    }
