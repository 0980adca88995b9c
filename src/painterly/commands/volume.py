"""``painterly volume``: stylise 3D density grids (smoke) with a painting, by moving the density (Kim et al. 2019)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..config import parse_float_list
from ..errors import ConfigError
from .transfer import terminate_as_interrupt

HELP = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


def _numbers(text: str | None, name: str, kind: type) -> tuple[Any, ...] | None:
    if text is None:
        return None
    try:
        return tuple(kind(item) for item in text.split(",") if item.strip())
    except ValueError as error:
        raise ConfigError(f"{name} must be numbers separated by commas, got '{text}'") from error


@click.command(context_settings=HELP)
@click.argument("density", required=False, type=click.Path(path_type=Path))
@click.option("--style", "styles", multiple=True, required=True, type=click.Path(path_type=Path), help="Style image.")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="The stylised grid (.npy/.npz), or a folder for a sequence; a record OUT.run.json beside it.",
)
@click.option("--demo", is_flag=True, help="Stylise the built-in smoke plume (no DENSITY needed).")
@click.option("--demo-size", type=click.IntRange(16, 256), default=64, show_default=True, help="Plume grid side.")
@click.option("--turntable", type=click.Path(path_type=Path), help="Also write a turntable (gif/mp4): input | result.")
@click.option("--turntable-frames", type=click.IntRange(2, 720), default=36, show_default=True)
@click.option("--strength", type=click.FloatRange(0, 1), default=0.5, show_default=True, help="Style against shape.")
@click.option("--style-weight", type=click.FloatRange(min=0), help="Set the style weight directly (content: 1).")
@click.option("--style-blend", help="Weights of the style images, e.g. 0.7,0.3 [equal].")
@click.option(
    "--mode",
    type=click.Choice(["incompressible", "compressible", "density"]),
    default="incompressible",
    show_default=True,
    help="Move the smoke by a divergence-free velocity, a compressible one, or change densities directly.",
)
@click.option("--iterations", default="80,60", show_default=True, help="Steps per level, coarse to fine.")
@click.option("--frame-iterations", type=click.IntRange(min=0), default=30, show_default=True, help="Sequences.")
@click.option("--views", type=click.IntRange(min=1), default=3, show_default=True, help="Cameras per step.")
@click.option(
    "--style-region",
    type=click.Choice(["smoke", "view"]),
    default="smoke",
    show_default=True,
    help="Take each view's style statistics inside the smoke's silhouette, or over the whole view.",
)
@click.option("--render-size", type=click.IntRange(min=32), default=128, show_default=True)
@click.option("--style-size", type=click.IntRange(min=32), default=256, show_default=True)
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=0.05, show_default=True)
@click.option(
    "--exposure",
    type=click.FloatRange(min=0, min_open=True),
    help="Gain on the views VGG16 sees [auto: the smoke as bright as the style on average].",
)
@click.option("--absorption", type=click.FloatRange(min=0), default=4.0, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default="auto", show_default=True)
@click.option(
    "--max-voxels",
    type=click.IntRange(min=64),
    help="Refuse larger grids [what the free memory holds: about 6.5 KB per voxel, measured at 128³].",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue an interrupted run from its checkpoint (OUT.checkpoint.pt, written every 10 steps and on "
    "Ctrl-C); a sequence also skips the frames it finished.",
)
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def volume(density: Path | None, styles: tuple[Path, ...], output: Path, **params: Any) -> int:
    """Stylise the density grid DENSITY (.npy/.npz, (z, y, x), y up) or a folder of them with a painting: a velocity
    field moves the smoke until its renders from all around take the painting's texture (Kim et al. 2019).

    \b
    Examples:
      painterly volume --demo --style starry_night.jpg -o out/plume.npz --turntable out/plume.gif
      painterly volume smoke.npy --style painting.jpg --strength 0.7 -o smoke_styled.npy
      painterly volume frames/ --style painting.jpg -o styled_frames/      # a sequence, without flicker
    """
    from ..image.io import load_image
    from ..volume.files import VolumeJob, check_job, interrupted_summary, stylize_files
    from ..volume.stylize import VolumeOptions

    if (density is None) == (not params["demo"]):
        raise click.UsageError("give a DENSITY grid or folder, or --demo for the built-in plume (not both)")
    options = VolumeOptions(
        strength=params["strength"],
        style_weight=params["style_weight"],
        style_blend=parse_float_list(params["style_blend"], "--style-blend") if params["style_blend"] else None,
        mode=params["mode"],
        iterations=_numbers(params["iterations"], "--iterations", int) or (),
        views=params["views"],
        style_region=params["style_region"],
        render_size=params["render_size"],
        style_size=params["style_size"],
        learning_rate=params["learning_rate"],
        exposure=params["exposure"],
        absorption=params["absorption"],
        seed=params["seed"],
        precision=params["precision"],
    )
    job = VolumeJob(
        source=density,
        output=output,
        demo_size=params["demo_size"],
        frame_iterations=params["frame_iterations"],
        max_voxels=params["max_voxels"] or voxels_that_fit(),
        turntable=params["turntable"],
        turntable_frames=params["turntable_frames"],
        overwrite=params["overwrite"],
        resume=params["resume"],
    )

    check_job(job)
    images = [load_image(path) for path in styles]
    bar = _ProgressBar(quiet=params["quiet"])
    try:
        with terminate_as_interrupt():
            summary = stylize_files(job, images, options, progress=bar, on_frame=bar.frame)
    except KeyboardInterrupt as error:
        bar.close()
        kept = interrupted_summary(error)
        if kept is not None:
            _write_record(job, options, kept, styles)
            again = f"; --resume continues from {kept.checkpoint}" if kept.checkpoint else ""
            click.echo(f"painterly: interrupted: wrote {kept.outputs[-1]} as far as it got{again}", err=True)
        raise
    bar.close()
    _write_record(job, options, summary, styles)
    last = summary.results[-1].losses if summary.results else {}
    losses = ", ".join(f"{name} {value:.4g}" for name, value in last.items())
    resumed = f", {summary.resumed} resumed" if summary.resumed else ""
    click.echo(
        f"wrote {output} ({len(summary.outputs)} frame(s){resumed}, {summary.seconds:.0f} s, mass change "
        f"{100 * summary.mass_change:.4f} %; {losses})"
    )
    if job.turntable is not None:
        click.echo(f"wrote {job.turntable}")
    return 0


def _write_record(job: Any, options: Any, summary: Any, styles: tuple[Path, ...]) -> None:
    from ..record import write_run_record
    from ..volume.files import run_record

    path = job.output.with_name(job.output.name + ".run.json")
    write_run_record(run_record(job, options, summary, [str(style) for style in styles]), path)


BYTES_PER_VOXEL = 6500
"""Peak memory per voxel of a run at the default options (13.0 GB at 128³ in benchmarks/volume.py)."""


def voxels_that_fit() -> int:
    """The largest grid the free memory holds at :data:`BYTES_PER_VOXEL`, at least 32³."""
    from ..tiling import available_memory

    return max(32**3, available_memory() // BYTES_PER_VOXEL)


class _ProgressBar:
    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None
        self.label = ""

    def frame(self, index: int, frames: int, name: str) -> None:
        self.close()
        self.label = f"frame {index + 1}/{frames} {name}" if frames > 1 else name

    def __call__(self, progress: Any) -> None:
        if self.quiet:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=progress.total_steps, unit="step", desc=self.label, dynamic_ncols=True)
        grid = "x".join(str(side) for side in progress.grid)
        self.bar.set_postfix({"grid": grid, **{k: f"{v:.3g}" for k, v in progress.losses.items()}}, refresh=False)
        self.bar.update(progress.total_step - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
