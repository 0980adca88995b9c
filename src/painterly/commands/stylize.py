"""``painterly stylize``, ``painterly presets`` and ``painterly sheet``: instant styles from trained networks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..devices import DEVICE_NAMES, PRECISION_NAMES
from ..errors import ConfigError
from ..image.io import DEFAULT_MAX_PIXELS, check_output_path, read_image, save_image

HELP = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


def _stylizer(model: Path | None, device: str, precision: str) -> Any:
    from ..methods.stylizer import NetworkStylizer
    from ..presets import load_presets

    network, names = load_presets(model)
    return NetworkStylizer(network, names, device=device, precision=precision)


def _options(params: dict[str, Any]) -> Any:
    from ..methods.stylizer import StylizeOptions

    return StylizeOptions(
        strength=params["strength"],
        color=params["color"],
        style_scale=params["style_scale"],
        size=params["size"],
        tile_size=params["tile_size"],
    )


def inference_options(function: Any) -> Any:
    options = [
        click.option(
            "--model",
            type=click.Path(path_type=Path),
            help="A model file from `painterly train feedforward` instead of the shipped presets.",
        ),
        click.option(
            "--strength",
            default=1.0,
            show_default=True,
            type=click.FloatRange(0, 1),
            help="0 returns the photo, 1 the full style.",
        ),
        click.option(
            "--color",
            default="none",
            show_default=True,
            type=click.Choice(["none", "luminance"]),
            help="luminance: keep the photo's colours, take only light and texture from the style.",
        ),
        click.option(
            "--style-scale",
            default=1.0,
            show_default=True,
            type=float,
            help="Above 1: larger brush strokes; below 1: finer.",
        ),
        click.option("--size", type=click.IntRange(min=16), help="Output long side (default: the photo's own)."),
        click.option("--tile-size", type=int, help="Process in tiles of this size (default: only when very large)."),
        click.option("--device", default="auto", show_default=True, type=click.Choice(DEVICE_NAMES)),
        click.option("--precision", default="auto", show_default=True, type=click.Choice(PRECISION_NAMES)),
        click.option(
            "--max-pixels", default=DEFAULT_MAX_PIXELS, show_default=True, type=int, help="Refuse larger input images."
        ),
        click.option("--overwrite", is_flag=True, help="Replace an existing output file."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@click.command(context_settings=HELP)
@click.argument("photo", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Output image.")
@click.option("--preset", "preset", help="A preset, or a blend: NAME or NAME:W,NAME:W (see `painterly presets`).")
@inference_options
def stylize(photo: Path, output: Path, preset: str | None, **params: Any) -> int:
    """Stylise PHOTO in one network pass with a preset (or a blend of presets).

    \b
    Examples:
      painterly stylize photo.jpg --preset starry_night -o out.png
      painterly stylize photo.jpg --preset starry_night:0.7,the_scream:0.3 --strength 0.8 -o out.png
    """
    from ..api import output_alpha
    from ..presets import parse_blend

    if preset is None:
        raise ConfigError("choose a style with --preset NAME (list them with `painterly presets`)")
    blend = parse_blend(preset)
    options = _options(params)
    output = check_output_path(output, inputs=[photo], overwrite=params["overwrite"])
    content = read_image(photo, max_pixels=params["max_pixels"])
    stylizer = _stylizer(params["model"], params["device"], params["precision"])
    result = stylizer.stylize(content.rgb, blend, options)
    save_image(result, output, alpha=output_alpha(content, result))
    click.echo(f"wrote {output}")
    return 0


@click.command(context_settings=HELP)
@click.option("--model", type=click.Path(path_type=Path), help="List the styles of this model file instead.")
@click.option("--card", is_flag=True, help="Print the model card (data, training, licences).")
def presets(model: Path | None, card: bool) -> int:
    """The styles available to `painterly stylize --preset`."""
    from ..presets import list_presets, model_card_text, preset_info

    listed = list_presets(model)  # first: a missing model gets the helpful message
    if card:
        click.echo(model_card_text(model))
        return 0
    info = preset_info(model)
    for preset in listed:
        click.echo(preset.name)
    steps, seconds = info.get("steps"), info.get("seconds")
    if steps is not None and seconds is not None:
        click.echo(
            f"({steps} training steps, {float(seconds) / 60:.0f} min; `painterly presets --card` for more)", err=True
        )
    return 0


@click.command(context_settings=HELP)
@click.argument("photo", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Sheet image to write.")
@click.option(
    "--tile",
    "tile_long_side",
    default=384,
    show_default=True,
    type=click.IntRange(min=32),
    help="Long side of each picture on the sheet.",
)
@click.option("--columns", type=click.IntRange(min=1), help="Pictures per row (default: about square).")
@inference_options
def sheet(photo: Path, output: Path, tile_long_side: int, columns: int | None, **params: Any) -> int:
    """Render PHOTO in every preset on one labelled sheet."""
    from ..sheet import compose_sheet

    options = _options(params)
    output = check_output_path(output, inputs=[photo], overwrite=params["overwrite"])
    content = read_image(photo, max_pixels=params["max_pixels"])
    stylizer = _stylizer(params["model"], params["device"], params["precision"])
    picture = compose_sheet(
        content.rgb,
        stylizer.style_names,
        lambda image, name: stylizer.stylize(image, {name: 1.0}, options),
        tile_long_side=tile_long_side,
        columns=columns,
    )
    try:
        picture.save(output)
    except OSError as error:
        from ..errors import OutputError

        raise OutputError(f"cannot write {output}: {error.strerror}") from error
    click.echo(f"wrote {output}")
    return 0
