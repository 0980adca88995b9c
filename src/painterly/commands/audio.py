"""``painterly audio``: style transfer for sound through spectrograms (and texture synthesis from a style alone)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..config import parse_float_list, parse_int_list
from .transfer import terminate_as_interrupt

HELP = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


@click.command(context_settings=HELP)
@click.argument("sounds", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="Output sound (.wav or .flac) at the content's sample rate; a record OUT.run.json is written beside it.",
)
@click.option("--texture", is_flag=True, help="No content: every SOUND is a style; synthesise a texture from them.")
@click.option(
    "--strength",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="0 returns the content untouched; 1 the most style (the style weight moves over four decades).",
)
@click.option("--style-weight", type=click.FloatRange(min=0), help="Set the style weight directly (content: 1).")
@click.option("--style-blend", help="Weights of the style sounds, e.g. 0.7,0.3 [equal].")
@click.option("--iterations", type=click.IntRange(min=0), default=200, show_default=True, help="L-BFGS iterations.")
@click.option(
    "--init",
    type=click.Choice(["content", "noise"]),
    default="content",
    show_default=True,
    help="Start from the content's spectrogram (Grinstein et al.) or from noise (Ulyanov & Lebedev).",
)
@click.option("--filters", type=click.IntRange(min=1), default=4096, show_default=True, help="Random filters in all.")
@click.option(
    "--kernel-widths",
    default="11",
    show_default=True,
    help="Filter widths in frames, e.g. 3,11,31: several split the filters between them.",
)
@click.option(
    "--phase-iterations",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="Griffin-Lim iterations for the phase.",
)
@click.option(
    "--momentum",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.99,
    show_default=True,
    help="Fast Griffin-Lim's momentum (0: the original algorithm).",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seeds filters, noise, phase.")
@click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "bf16"]),
    default="auto",
    show_default=True,
    help="bf16: the convolution in bfloat16 (faster on CPUs with AMX or AVX-512 BF16); auto: bf16 where the CPU "
    "has it.",
)
@click.option("--offset", type=float, default=0.0, show_default=True, help="Skip this many seconds of the content.")
@click.option(
    "--seconds", type=float, help="Seconds of the content to take (--texture: the output's length) [all / the style's]."
)
@click.option(
    "--max-seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=600.0,
    show_default=True,
    help="Refuse longer sounds (time grows with the length: ~20 s per 10 s of sound per 50 iterations on 2 cores).",
)
@click.option("--spectrograms", type=click.Path(path_type=Path), help="Also draw the spectrograms into this PNG.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def audio(sounds: tuple[Path, ...], output: Path, **params: Any) -> int:
    """Give the content sound (the first SOUND) the texture of the style sounds (the others): Gram matrices of a
    random 1-D convolution over the log-magnitude spectrogram (Ulyanov & Lebedev), L-BFGS, then fast Griffin-Lim.
    Sounds are mixed down to mono and resampled to 22 050 Hz; WAV, FLAC, OGG, MP3 and the sound of videos are read.

    \b
    Examples:
      painterly audio voice.wav rain.wav -o voice_rain.wav
      painterly audio voice.wav rain.wav organ.flac --style-blend 0.7,0.3 --strength 0.7 -o out.flac
      painterly audio --texture rain.wav --seconds 20 -o more_rain.wav
      painterly audio song.wav drums.wav --offset 30 --seconds 10 --spectrograms out.png -o out.wav
    """
    from ..audio.files import AudioJob, check_job, interrupted_summary, transfer_files, write_record
    from ..audio.transfer import AudioOptions

    texture = params["texture"]
    if not texture and len(sounds) < 2:
        raise click.UsageError("give a content sound and at least one style sound (or --texture and style sounds)")
    if texture and params["offset"]:
        raise click.UsageError("--offset skips part of the content, and --texture has none")
    options = AudioOptions(
        strength=params["strength"],
        style_weight=params["style_weight"],
        style_blend=parse_float_list(params["style_blend"], "--style-blend") if params["style_blend"] else None,
        iterations=params["iterations"],
        init="noise" if texture else params["init"],
        filters=params["filters"],
        kernel_widths=parse_int_list(params["kernel_widths"], "--kernel-widths"),
        phase_iterations=params["phase_iterations"],
        momentum=params["momentum"],
        seed=params["seed"],
        precision=params["precision"],
    )
    styles = sounds if texture else sounds[1:]
    options.blend_for(len(styles))  # a wrong number of blend weights fails before any file is read
    job = AudioJob(
        content=None if texture else sounds[0],
        styles=tuple(styles),
        output=output,
        offset=params["offset"],
        seconds=params["seconds"],
        max_seconds=params["max_seconds"],
        overwrite=params["overwrite"],
        spectrograms=params["spectrograms"],
    )
    check_job(job)
    bar = _ProgressBar(quiet=params["quiet"])
    try:
        with terminate_as_interrupt():
            summary = transfer_files(job, options, progress=bar)
    except KeyboardInterrupt as error:
        bar.close()
        kept = interrupted_summary(error)
        if kept is not None:
            write_record(kept)
            assert kept.result is not None
            click.echo(
                f"painterly: interrupted: wrote {kept.output} from the best of {kept.result.iterations_run} iterations",
                err=True,
            )
        raise
    bar.close()
    for note in summary.notes:
        click.echo(f"note: {note}", err=True)
    write_record(summary)
    losses = ""
    if summary.result is not None:
        losses = ", " + ", ".join(f"{name} {value:.4g}" for name, value in summary.result.losses.items())
    click.echo(f"wrote {summary.output} ({summary.seconds:.2f} s at {summary.sample_rate} Hz{losses})")
    if job.spectrograms is not None and summary.result is not None:
        click.echo(f"wrote {job.spectrograms}")
    return 0


class _ProgressBar:
    """A tqdm bar per stage: the optimisation with its losses, then Griffin-Lim."""

    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None
        self.stage = ""

    def __call__(self, progress: Any) -> None:
        if self.quiet:
            return
        if progress.stage != self.stage:
            self.close()
            from tqdm import tqdm

            label = "style" if progress.stage == "style" else "phase (Griffin-Lim)"
            self.bar = tqdm(total=progress.iterations, unit="it", desc=label, dynamic_ncols=True)
            self.stage = progress.stage
        if progress.losses:
            self.bar.set_postfix({name: f"{value:.4g}" for name, value in progress.losses.items()}, refresh=False)
        self.bar.update(progress.iteration - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
