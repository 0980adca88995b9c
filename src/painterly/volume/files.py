"""Volume style transfer from files to files: one grid, the built-in plume, or a folder of frames; the turntable.

The CLI (``painterly volume``) is a thin caller: progress goes through the callback, only the CLI prints.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..atomic import write_atomically
from ..errors import ConfigError, OutputError
from .grid import DEFAULT_MAX_VOXELS, GRID_SUFFIXES, list_frames, load_density, save_density
from .render import RenderSettings, render_views, turntable_cameras
from .stylize import VolumeCheckpoint, VolumeOptions, VolumeProgressCallback, VolumeResult, VolumeStyleTransfer, expose

DEFAULT_FRAME_ITERATIONS = 30
"""Steps for the frames of a sequence after the first (they start from the previous frame's velocity)."""
TURNTABLE_SUFFIXES = (".gif", ".mp4", ".webm", ".mkv", ".mov")


@dataclass(frozen=True)
class VolumeJob:
    source: Path | None
    """A .npy/.npz grid, a folder of them (a sequence), or None for the built-in plume."""
    output: Path
    """A .npy/.npz file, or a folder for a sequence."""
    demo_size: int = 64
    frame_iterations: int = DEFAULT_FRAME_ITERATIONS
    max_voxels: int | None = DEFAULT_MAX_VOXELS
    turntable: Path | None = None
    turntable_frames: int = 36
    turntable_elevation: float = 10.0
    overwrite: bool = False
    resume: bool = False


@dataclass
class VolumeSummary:
    outputs: list[Path] = field(default_factory=list)
    results: list[VolumeResult] = field(default_factory=list)
    resumed: int = 0
    seconds: float = 0.0
    mass_change: float = 0.0
    """Largest relative change of a frame's total density (transport conserves it to rounding)."""
    interrupted: bool = False
    checkpoint: Path | None = None
    """After an interrupt: the state ``--resume`` continues from."""


def is_sequence(job: VolumeJob) -> bool:
    return job.source is not None and job.source.is_dir()


def check_job(job: VolumeJob) -> None:
    """The outputs, before any work: suffixes, overwriting, a folder for a sequence."""
    if is_sequence(job):
        if job.output.suffix:
            raise OutputError(f"cannot write a sequence to {job.output}: give a folder (no suffix)")
        if job.output.is_dir() and any(job.output.iterdir()) and not (job.overwrite or job.resume):
            raise OutputError(f"cannot write into {job.output}: the folder is not empty; pass --overwrite or --resume")
    else:
        if job.output.suffix.lower() not in GRID_SUFFIXES:
            raise OutputError(f"cannot write {job.output}: it needs one of the suffixes .npy, .npz")
        if job.source is not None and job.output.resolve() == job.source.resolve():
            raise OutputError(f"cannot write {job.output}: it is the input; choose another output")
        if job.output.exists() and not (job.overwrite or (job.resume and checkpoint_path(job.output).is_file())):
            raise OutputError(f"cannot write {job.output}: the file already exists; pass --overwrite to replace it")
    if job.turntable is not None and job.turntable.suffix.lower() not in TURNTABLE_SUFFIXES:
        raise OutputError(f"cannot write {job.turntable}: it needs one of the suffixes {', '.join(TURNTABLE_SUFFIXES)}")
    if job.turntable is not None and job.turntable.exists() and not job.overwrite:
        raise OutputError(f"cannot write {job.turntable}: the file already exists; pass --overwrite to replace it")
    if job.frame_iterations < 0:
        raise ConfigError(f"frame iterations must be at least 0, got {job.frame_iterations}")


def checkpoint_path(output: Path) -> Path:
    """Where the run that writes ``output`` keeps its latest state until it finishes."""
    return output.with_name(output.name + ".checkpoint.pt")


def fingerprint(density: Tensor, options: VolumeOptions, start: Tensor | None) -> str:
    """What a checkpoint must have been made from to be resumed: the input grid, the options, the starting state."""
    digest = hashlib.sha256(density.detach().contiguous().numpy().tobytes())
    digest.update(json.dumps(asdict(options), sort_keys=True, default=str).encode())
    if start is not None:
        digest.update(start.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()


def save_checkpoint(path: Path, state: VolumeCheckpoint, identity: str) -> None:
    buffer = io.BytesIO()
    torch.save({"fingerprint": identity, **state.as_dict()}, buffer)
    write_atomically(path, lambda handle: handle.write(buffer.getvalue()), durable=False)


def load_checkpoint(path: Path, identity: str) -> VolumeCheckpoint:
    try:
        data = torch.load(path, weights_only=True)
    except Exception as error:  # a damaged file, from whatever cause: one line, and the way out
        raise ConfigError(f"cannot resume from {path}: {error}; delete it to start over") from error
    if not isinstance(data, dict) or data.pop("fingerprint", None) != identity:
        raise ConfigError(
            f"cannot resume from {path}: it was made from another input, other options or another start; "
            "delete it or run without --resume"
        )
    try:
        return VolumeCheckpoint.from_dict(data)
    except TypeError as error:
        raise ConfigError(f"cannot resume from {path}: {error}; delete it to start over") from error


def frames_of(job: VolumeJob) -> list[tuple[str, Path | None]]:
    """(name, path) of every frame: one for a grid or the plume."""
    if job.source is None:
        return [("demo", None)]
    if is_sequence(job):
        return [(path.stem, path) for path in list_frames(job.source)]
    return [(job.source.stem, job.source)]


def stylize_files(
    job: VolumeJob,
    styles: Sequence[Tensor],
    options: VolumeOptions,
    *,
    progress: VolumeProgressCallback | None = None,
    on_frame: Callable[[int, int, str], None] | None = None,
    encoder: Any = None,
) -> VolumeSummary:
    """Stylise every frame of ``job``; on Ctrl-C the frame under way is written as far as it got and
    :class:`KeyboardInterrupt` is raised again (the summary on it says so, see :func:`interrupted_summary`)."""
    from .smoke import demo_density

    check_job(job)
    started = time.perf_counter()
    transfer = VolumeStyleTransfer(styles, options, encoder=encoder)
    summary = VolumeSummary()
    frames = frames_of(job)
    sequence = is_sequence(job)
    work = job.output.with_name(job.output.name + ".work") if sequence else None
    previous: Tensor | None = None
    for index, (name, path) in enumerate(frames):
        output = job.output / f"{name}.npz" if sequence else job.output
        parameters_file = None if work is None else work / f"{name}.params.pt"
        if on_frame is not None:
            on_frame(index, len(frames), name)
        if job.resume and parameters_file is not None and output.is_file() and parameters_file.is_file():
            saved = torch.load(parameters_file, weights_only=True)
            previous = saved["parameters"]
            if options.exposure is None and transfer.exposure is None:
                transfer.exposure = float(saved["exposure"])  # the first frame's, as in the interrupted run
            summary.outputs.append(output)
            summary.resumed += 1
            continue
        density = demo_density(job.demo_size) if path is None else load_density(path, max_voxels=job.max_voxels)
        iterations = None if previous is None else (job.frame_iterations,)
        checkpoint = checkpoint_path(output if work is None else work / f"{name}.npz")
        identity = fingerprint(density, options, previous)
        resume = load_checkpoint(checkpoint, identity) if job.resume and checkpoint.is_file() else None
        summary.resumed += resume is not None
        try:
            result = transfer.run(
                density,
                start=previous,
                iterations=iterations,
                progress=progress,
                resume=resume,
                on_checkpoint=functools.partial(save_checkpoint, checkpoint, identity=identity),
            )
        except KeyboardInterrupt as error:
            if transfer.checkpoint is not None:
                save_checkpoint(checkpoint, transfer.checkpoint, identity)
                summary.checkpoint = checkpoint
            kept = transfer.finish_interrupted(density)
            save_density(output, kept.density)
            summary.outputs.append(output)
            summary.results.append(kept)
            summary.interrupted = True
            summary.seconds = time.perf_counter() - started
            raise _Interrupted(summary) from error
        save_density(output, result.density)
        if parameters_file is not None:
            parameters_file.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"parameters": result.parameters, "exposure": transfer.exposure}, parameters_file)
        checkpoint.unlink(missing_ok=True)
        previous = result.parameters
        summary.outputs.append(output)
        summary.results.append(result)
        before, after = float(density.sum()), float(result.density.sum())
        summary.mass_change = max(summary.mass_change, abs(after - before) / before)
        if job.turntable is not None and index == 0:
            write_turntable(job, density, result.density, options.render_settings(), exposure=transfer.exposure)
    summary.seconds = time.perf_counter() - started
    return summary


class _Interrupted(KeyboardInterrupt):
    def __init__(self, summary: VolumeSummary) -> None:
        super().__init__("interrupted")
        self.summary = summary


def interrupted_summary(error: KeyboardInterrupt) -> VolumeSummary | None:
    return error.summary if isinstance(error, _Interrupted) else None


def write_turntable(
    job: VolumeJob, original: Tensor, stylised: Tensor, settings: RenderSettings, *, exposure: float | None = None
) -> Path:
    """The input and the stylised grid side by side, turning once around the vertical axis, both shown at
    ``exposure`` (as the optimisation saw them; None: the renders as they are)."""
    from ..video.writer import VideoWriter

    assert job.turntable is not None
    cameras = turntable_cameras(job.turntable_frames, job.turntable_elevation)
    with torch.no_grad():
        left, right = render_views(original, cameras, settings), render_views(stylised, cameras, settings)
        if exposure is not None:
            left, right = expose(left, exposure), expose(right, exposure)
    side = left.shape[-1]
    with VideoWriter(
        job.turntable, width=2 * side, height=side, fps=12.0, time_base=Fraction(1, 12), quality=18
    ) as writer:
        for index in range(len(cameras)):
            frame = torch.cat([left[index], right[index]], dim=-1).expand(3, -1, -1)[None]
            writer.write(frame.contiguous(), index)
    return job.turntable


def run_record(job: VolumeJob, options: VolumeOptions, summary: VolumeSummary, styles: Sequence[str]) -> dict[str, Any]:
    from ..record import build_run_record

    inputs: list[tuple[str, str | None]] = [("density", str(job.source) if job.source else "built-in plume")]
    inputs += [("style", path) for path in styles]
    last = summary.results[-1] if summary.results else None
    return build_run_record(
        method="volume",
        options=asdict(options),
        inputs=inputs,
        weights={},
        result={
            "outputs": [str(path) for path in summary.outputs],
            "frames": len(summary.outputs),
            "resumed": summary.resumed,
            "seconds": summary.seconds,
            "mass_change": summary.mass_change,
            "losses": last.losses if last else {},
            "turntable": str(job.turntable) if job.turntable else None,
        },
        interrupted=summary.interrupted,
    )
