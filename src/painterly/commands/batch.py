"""``painterly batch IN OUT_DIR``: stylise a whole folder tree (or a list of images) with a one-pass method, on Ray
Data when it is installed, resumable, bad files listed and skipped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..batch.worker import BatchSettings
from ..config import parse_float_list
from ..devices import PRECISION_NAMES
from ..errors import InputImageError
from ..image.io import DEFAULT_MAX_PIXELS

HELP = {"help_option_names": ["-h", "--help"], "max_content_width": 110}
FAILED_EXIT = 8
"""Some images failed (listed in OUT_DIR/failures.jsonl); the others were written. (2-7 are the typed errors.)"""


@click.command(context_settings=HELP)
@click.argument("source", metavar="IN", type=click.Path(path_type=Path))
@click.argument("output_dir", metavar="OUT_DIR", type=click.Path(path_type=Path))
@click.option("--preset", help="A preset (or a blend a:0.7,b:0.3) of the preset networks: one pass each.")
@click.option("--style", "styles", multiple=True, type=click.Path(path_type=Path), help="A style image (repeatable).")
@click.option(
    "--styles-dir", type=click.Path(path_type=Path), help="Every image in this folder is a style (with --random-style)."
)
@click.option(
    "--random-style",
    is_flag=True,
    help="One of the styles per image, chosen from --seed and the image's path (Stylized-ImageNet's recipe).",
)
@click.option("--style-blend", help="Weights of the --style images, e.g. 0.7,0.3 [equal].")
@click.option(
    "--method",
    type=click.Choice(["adain", "wct", "photo", "preset"]),
    help="The one-pass method [preset with --preset, else adain].",
)
@click.option("--strength", type=click.FloatRange(0, 1), help="0: the photo, 1: the full style [the method's].")
@click.option("--size", type=click.IntRange(min=16), help="Output long side [the input's].")
@click.option(
    "--format", "suffix", type=click.Choice(["same", "png", "jpg", "webp"]), default="same", show_default=True
)
@click.option(
    "--engine",
    type=click.Choice(["auto", "ray", "local"]),
    default="auto",
    show_default=True,
    help="ray: Ray Data actors; local: this process; auto: Ray when installed.",
)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Ray actors.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="Threads per worker.")
@click.option(
    "--address",
    help="A Ray cluster's address (default: a local Ray started for this job); IN, OUT_DIR and the styles must be "
    "on storage every node sees.",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=4, show_default=True, help="Images per Ray task.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--precision", type=click.Choice(PRECISION_NAMES), help="auto = bf16 where the CPU has it [auto].")
@click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_PIXELS,
    show_default=True,
    help="Larger images fail (listed, skipped).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def batch(source: Path, output_dir: Path, **params: Any) -> int:
    """Stylise every image under IN (a folder, walked recursively, or a text file listing images) into OUT_DIR,
    mirroring the tree. Runs again skip what is done (OUT_DIR/manifest.jsonl: checksums and settings); images that
    cannot be read or stylised are listed in OUT_DIR/failures.jsonl and skipped (exit code 8 when there are any).

    \b
    Examples:
      painterly batch photos/ styled/ --style starry_night.jpg --workers 2
      painterly batch photos/ sin/ --styles-dir paintings/ --random-style --strength 1   # Stylized-ImageNet
      painterly batch photos/ out/ --preset the_scream --engine local
      painterly batch list.txt out/ --style a.jpg --address ray://head:10001 --workers 16
    """
    from ..batch.plan import FAILURES_NAME, plan_items
    from ..batch.run import ray_available, run_batch
    from ..training.data import image_files

    settings = _settings(params, image_files)
    suffix = None if params["suffix"] == "same" else "." + params["suffix"]
    items = plan_items(source, output_dir, suffix=suffix)
    if params["engine"] == "auto" and not ray_available():
        click.echo(
            "painterly: Ray is not installed (pip install 'painterly[scale]'): running in this process", err=True
        )
    bar = None
    if not params["quiet"]:
        from tqdm import tqdm

        bar = tqdm(total=len(items), unit="img", dynamic_ncols=True, desc="batch")

    def on_result(row: dict[str, Any], summary: Any) -> None:
        if bar is not None:
            bar.n = summary.skipped + summary.done + len(summary.failed)
            bar.set_postfix(failed=len(summary.failed), refresh=False)
            bar.refresh()

    try:
        summary = run_batch(
            items,
            settings,
            output_dir,
            engine=params["engine"],
            workers=params["workers"],
            address=params["address"],
            batch_size=params["batch_size"],
            on_result=on_result,
        )
    finally:
        if bar is not None:
            bar.close()
    rate = summary.done / summary.seconds if summary.seconds > 0 else 0.0
    click.echo(
        f"stylised {summary.done} of {summary.total} images into {output_dir} ({summary.skipped} done earlier, "
        f"{len(summary.failed)} failed; {summary.engine}, {summary.seconds:.1f} s, {rate:.2f} images/s)"
    )
    if summary.failed:
        for failure in summary.failed[:5]:
            click.echo(f"  failed: {failure['input']}: {failure['error']}", err=True)
        more = len(summary.failed) - 5
        click.echo(f"  {'and ' + str(more) + ' more; ' if more > 0 else ''}see {output_dir / FAILURES_NAME}", err=True)
        return FAILED_EXIT
    return 0


def _settings(params: dict[str, Any], image_files: Any) -> BatchSettings:
    from ..methods.registry import get_method

    styles: list[str] = [str(path) for path in params["styles"]]
    if params["styles_dir"] is not None:
        styles += [str(path) for path in image_files(params["styles_dir"])]
    for path in styles:
        if not Path(path).is_file():
            raise InputImageError(f"{path}: no such style image")
    if params["preset"] and styles:
        raise click.UsageError("give --preset or style images (--style, --styles-dir), not both")
    method = params["method"] or ("preset" if params["preset"] else "adain")
    blend: tuple[float, ...] | None = None
    if method == "preset":
        if not params["preset"]:
            raise click.UsageError("--method preset needs --preset NAME")
        from ..api import preset_blend

        chosen = preset_blend(params["preset"])
        names, blend = tuple(chosen), tuple(chosen.values())
        if len(names) == 1 or params["random_style"]:
            blend = None
    else:
        if not styles:
            raise click.UsageError("give style images (--style or --styles-dir), or --preset")
        names = tuple(styles)
        if params["style_blend"]:
            blend = parse_float_list(params["style_blend"], "--style-blend")
    options: dict[str, Any] = {}
    strength_field = get_method(method).strength_field
    if params["strength"] is not None:
        options[strength_field] = params["strength"]
    if params["size"] is not None:
        options["size"] = params["size"]
    if params["precision"] is not None:
        options["precision"] = params["precision"]
    return BatchSettings(
        method=method,
        styles=names,
        style_blend=blend,
        random_style=params["random_style"],
        options=options,
        seed=params["seed"],
        threads=params["threads"],
        max_pixels=params["max_pixels"],
    )
