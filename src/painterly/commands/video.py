"""``painterly video``: stylise a video (or a folder of frames) with any method, stabilised, with its sound."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError, OutputError
from ..image.io import check_output_path
from . import Command
from .selection import choose_method, parse_style_argument, select, selection_options
from .transfer import terminate_as_interrupt

HELP = {"help_option_names": ["-h", "--help"], "max_content_width": 110}
VIDEO_OUTPUT_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".gif")


def video_options(function: Command) -> Command:
    # the flow and temporal modules, not the pipeline: the pipeline reads videos through PyAV, which the other
    # commands (training on a bare GPU machine) must not need
    from ..video.flow import FLOW_PRESETS
    from ..video.flow import VIDEO_FLOW_PRESET as DEFAULT_FLOW_PRESET
    from ..video.temporal import DEFAULT_TEMPORAL

    options = [
        click.option(
            "--temporal",
            type=click.FloatRange(0, 1),
            default=DEFAULT_TEMPORAL,
            show_default=True,
            help="Against flicker: 0 = every frame on its own; up to 1 = follow the previous result where the "
            "optical flow is reliable (one-pass methods: blend weight; gatys: temporal-loss weight).",
        ),
        click.option(
            "--flow",
            "flow_preset",
            type=click.Choice(FLOW_PRESETS),
            default=DEFAULT_FLOW_PRESET,
            show_default=True,
            help="Optical-flow quality (OpenCV DIS preset).",
        ),
        click.option("--start", type=float, default=0.0, show_default=True, help="Start at this second."),
        click.option("--duration", type=float, help="Seconds to stylise (default: to the end)."),
        click.option(
            "--fps",
            type=float,
            help="Resample the video to this constant frame rate (default: keep its timestamps); for a folder of "
            "frames, its frame rate [25].",
        ),
        click.option(
            "--frame-iterations",
            help="gatys: iterations per level for the frames after the first (they start from the previous "
            "result) [4].",
        ),
        click.option(
            "--quality", type=click.IntRange(0, 63), default=18, show_default=True, help="CRF (lower=better)."
        ),
        click.option("--resume", is_flag=True, help="Continue an interrupted run from its work folder."),
        click.option("--keep-frames", is_flag=True, help="Keep the work folder of stylised PNG frames."),
        click.option("--overwrite", is_flag=True, help="Replace an existing output."),
        click.option("-q", "--quiet", is_flag=True, help="No progress bar."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@click.command(context_settings=HELP)
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="mp4/mov/mkv (H.264), webm (VP9 + opus), gif, or a folder (no suffix) of PNG frames.",
)
@selection_options
@video_options
def video(source: Path, output: Path, **params: Any) -> int:
    """Stylise the video SOURCE (mp4/mov/mkv/webm/gif, or a folder of frames) frame by frame, without flicker.

    \b
    Examples:
      painterly video clip.mp4 --preset starry_night -o out.mp4
      painterly video clip.mp4 --style painting.jpg --temporal 0.8 --size 640 -o out.webm
      painterly video clip.mp4 --style painting.jpg --method gatys --size 480 -o out.mp4
      painterly video frames/ --preset udnie --fps 12 -o out.gif
    """
    from ..record import write_run_record
    from ..video.io import open_video, output_kind
    from ..video.pipeline import VideoOptions, result_record, run_identity, stylize_video, work_dir_for, writer_like

    method = choose_method(params)  # flags first: no file is read for a bad combination
    kind = output_kind(output)
    style_paths = [parse_style_argument(text)[0] for text in params.get("styles") or ()]
    inputs = [source, *style_paths, *params.get("masks", ())]
    _check_output(output, kind, inputs, overwrite=params["overwrite"] or params["resume"])
    run_options = VideoOptions(
        temporal=params["temporal"],
        flow_preset=params["flow_preset"],
        resume=params["resume"],
        keep_frames=params["keep_frames"],
    )
    is_folder = source.is_dir()
    reader = open_video(
        source,
        start=params["start"],
        duration=params["duration"],
        long_side=params["size"],
        fps=None if is_folder else params["fps"],
        folder_fps=params["fps"] or 25.0,
        max_pixels=params["max_pixels"],
    )
    with reader:
        info = reader.info
        if params["max_pixels"] and info.width * info.height > params["max_pixels"]:
            raise ConfigError(
                f"--size {params['size']} makes {info.width}x{info.height} frames, over --max-pixels "
                f"{params['max_pixels']}"
            )
        selection = select(params, size=max(info.width, info.height))
        stylizer = method.prepare(selection.styles, selection.options, weights=selection.weights, masks=selection.masks)
        writer = writer_like(reader, output, duration=params["duration"], quality=params["quality"])
        identity = run_identity(
            info,
            method,
            selection.options,
            run_options,
            styles=selection.labels,
            weights=selection.weights,
            inputs=selection.input_paths,
            start=params["start"],
            duration=params["duration"],
        )
        bar = _ProgressBar(quiet=params["quiet"], label=f"{method.name} {info.width}x{info.height}")
        try:
            with terminate_as_interrupt():
                result = stylize_video(
                    reader,
                    writer,
                    stylizer,
                    method,
                    run_options,
                    identity=identity,
                    work_dir=work_dir_for(output),
                    progress=bar,
                )
        finally:
            bar.close()
    _remove_stale_partial(output)
    record = result_record(result, method, selection.options, run_options) | {"quality": params["quality"]}
    write_run_record(record, output.with_name(output.name + ".run.json"))
    resumed = f", {result.resumed} resumed" if result.resumed else ""
    click.echo(
        f"wrote {result.path} ({result.frames} frames{resumed}, {result.seconds:.1f} s, {result.fps:.2f} fps; "
        f"{result.audio_note})"
    )
    return 0


def _check_output(output: Path, kind: str, inputs: list[Path], *, overwrite: bool) -> None:
    """Refuse an output that is an input, exists (without --overwrite), or cannot be written — before any work."""
    if kind != "frames":
        check_output_path(output, inputs=inputs, overwrite=overwrite, suffixes=VIDEO_OUTPUT_SUFFIXES)
        return
    if any(output.resolve() == Path(given).resolve() for given in inputs):
        raise OutputError(f"cannot write {output}: it is an input; choose another output")
    if output.exists() and not output.is_dir():
        raise OutputError(f"cannot write frames into {output}: it is a file")
    if output.is_dir() and any(output.iterdir()):
        raise OutputError(f"cannot write frames into {output}: the folder is not empty; choose a new or empty folder")


def _remove_stale_partial(output: Path) -> None:
    """After a successful (resumed) run, the partial output of the interrupted one has served its purpose."""
    partial = output.with_name(f"{output.stem}.partial{output.suffix}")
    if partial.is_dir():
        shutil.rmtree(partial, ignore_errors=True)
    elif partial.is_file():
        partial.unlink(missing_ok=True)


class _ProgressBar:
    """A tqdm bar with frames per second, ETA and the share of each frame the flow could follow."""

    def __init__(self, *, quiet: bool, label: str) -> None:
        self.quiet, self.label = quiet, label
        self.bar: Any = None

    def __call__(self, progress: Any) -> None:
        if self.quiet:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=progress.total, unit="frame", desc=self.label, dynamic_ncols=True)
        postfix = {"fps": f"{progress.fps:.2f}"}
        if progress.coverage is not None:
            postfix["flow"] = f"{100 * progress.coverage:.0f}%"
        if progress.resumed:
            postfix["resumed"] = str(progress.resumed)
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(progress.frame - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
