"""``painterly stylize``, ``painterly presets`` and ``painterly sheet``: instant styles from trained networks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..devices import DEVICE_NAMES, PRECISION_NAMES
from ..image.io import DEFAULT_MAX_PIXELS, check_output_path, read_image, save_image
from . import Command
from .selection import choose_method, network_option, parse_style_argument, select, selection_options

HELP = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


def sheet_options(function: Command) -> Command:
    """The options of ``painterly sheet`` (those of the preset method)."""
    options = [
        click.option(
            "--model",
            type=click.Path(path_type=Path),
            help="A model file from `painterly train feedforward` instead of the shipped presets.",
        ),
        network_option(),
        click.option(
            "--strength", type=click.FloatRange(0, 1), help="0 returns the photo, 1 (default) the full style."
        ),
        click.option(
            "--color",
            type=click.Choice(["none", "luminance"]),
            help="luminance: keep the photo's colours, take only light and texture from the style [none].",
        ),
        click.option("--style-scale", type=float, help="Above 1: larger brush strokes; below 1: finer [1]."),
        click.option("--size", type=click.IntRange(min=16), help="Output long side (default: the photo's own)."),
        click.option("--tile-size", type=int, help="Process in tiles of this size (default: only when very large)."),
        click.option("--device", type=click.Choice(DEVICE_NAMES), help="Compute device [auto]."),
        click.option(
            "--precision", type=click.Choice(PRECISION_NAMES), help="auto = bf16 where the CPU has it [auto]."
        ),
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
@selection_options
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
def stylize(photo: Path, output: Path, overwrite: bool, **params: Any) -> int:
    """Stylise PHOTO: with a preset (--preset, one network pass), any painting (--style, one pass), or any
    registered method (--method gatys optimises, best quality).

    \b
    Examples:
      painterly stylize photo.jpg --preset starry_night -o out.png
      painterly stylize photo.jpg --preset starry_night:0.7,the_scream:0.3 --strength 0.8 -o out.png
      painterly stylize photo.jpg --style painting.jpg --alpha 0.8 -o out.png
      painterly stylize photo.jpg --style a.jpg:0.6 --style b.jpg:0.4 --color luminance -o out.png
      painterly stylize photo.jpg --style painting.jpg --method gatys --size 512 -o out.png
    """
    from ..api import output_alpha

    method = choose_method(params)  # the style flags are checked before any file is read
    style_paths = [parse_style_argument(text)[0] for text in params.get("styles") or ()]
    output = check_output_path(output, inputs=[photo, *style_paths, *params.get("masks", ())], overwrite=overwrite)
    selection = select(params)
    content = read_image(photo, max_pixels=params["max_pixels"])
    stylizer = method.prepare(selection.styles, selection.options, weights=selection.weights, masks=selection.masks)
    result = stylizer(content.rgb)
    save_image(result, output, alpha=output_alpha(content, result))
    click.echo(f"wrote {output}")
    return 0


@click.command(context_settings=HELP)
@click.option("--model", type=click.Path(path_type=Path), help="List the styles of this model file instead.")
@network_option(
    "List (or --card: describe) this shipped network: quality (default): the stronger network for stills; "
    "fast: ~10 % faster, the studio's webcam mode."
)
@click.option("--card", is_flag=True, help="Print the model card (data, training, licences).")
@click.option("--decoder", is_flag=True, help="Print the model card of the AdaIN decoder (`stylize --style`) instead.")
def presets(model: Path | None, network: str | None, card: bool, decoder: bool) -> int:
    """The styles available to `painterly stylize --preset`."""
    from ..presets import list_presets, model_card_text, preset_info

    if decoder:
        from ..decoder_model import decoder_card_text

        click.echo(decoder_card_text())
        return 0

    network = network or "quality"
    listed = list_presets(model, network=network)  # first: a missing model gets the helpful message
    if card:
        click.echo(model_card_text(model, network=network))
        return 0
    info = preset_info(model, network=network)
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
@sheet_options
def sheet(photo: Path, output: Path, tile_long_side: int, columns: int | None, **params: Any) -> int:
    """Render PHOTO in every preset on one labelled sheet."""
    from ..methods.registry import get_method
    from ..presets import list_presets
    from ..sheet import compose_sheet
    from .selection import method_options

    method = get_method("preset")
    options = method_options(method, params)
    names = [preset.name for preset in list_presets(options.model, network=options.network)]
    output = check_output_path(output, inputs=[photo], overwrite=params["overwrite"])
    content = read_image(photo, max_pixels=params["max_pixels"])
    picture = compose_sheet(
        content.rgb,
        names,
        lambda image, name: method.prepare([name], options)(image),
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
