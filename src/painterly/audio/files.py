"""Audio style transfer from files to a file: load and check the sounds, run, write the result and its record.

The CLI (``painterly audio``) is a thin caller of :func:`transfer_files`; progress goes through the callback and the
notes (mixed down, resampled) come back in the summary, so only the CLI prints.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import ConfigError
from ..image.io import check_output_path
from .io import AUDIO_OUTPUT_SUFFIXES, DEFAULT_MAX_SECONDS, AudioClip, load_audio, resample, save_audio
from .transfer import SAMPLE_RATE, AudioOptions, AudioProgressCallback, AudioResult, AudioStyleTransfer


@dataclass(frozen=True)
class AudioJob:
    """What to read and write: ``content`` None means texture synthesis from the styles alone."""

    content: Path | None
    styles: tuple[Path, ...]
    output: Path
    offset: float = 0.0
    """Seconds of the content skipped (texture: ignored)."""
    seconds: float | None = None
    """Seconds of the content to take (default: to its end); texture: the output's length (default the first
    style's)."""
    max_seconds: float | None = DEFAULT_MAX_SECONDS
    """Longer inputs are refused (a run costs time in proportion to the length)."""
    overwrite: bool = False
    spectrograms: Path | None = None
    """Also draw content, styles and result into this PNG."""


@dataclass
class AudioSummary:
    output: Path
    sample_rate: int
    seconds: float
    notes: list[str] = field(default_factory=list)
    result: AudioResult | None = None
    """None at strength 0 (the content was copied)."""
    record: dict[str, Any] = field(default_factory=dict)


def check_job(job: AudioJob) -> None:
    """Everything that can be checked before any sound is read: the output and the number of sounds."""
    if not job.styles:
        raise ConfigError("give at least one style sound")
    inputs = [*([job.content] if job.content else []), *job.styles]
    check_output_path(job.output, inputs=inputs, overwrite=job.overwrite, suffixes=AUDIO_OUTPUT_SUFFIXES)
    if job.spectrograms is not None:
        check_output_path(job.spectrograms, inputs=[*inputs, job.output], overwrite=job.overwrite, suffixes=(".png",))


def mono_at_model_rate(clip: AudioClip) -> Tensor:
    """Channels averaged, resampled to :data:`SAMPLE_RATE`."""
    samples = clip.samples if clip.samples.ndim == 1 else clip.samples.mean(dim=0)
    return resample(samples, clip.sample_rate, SAMPLE_RATE)


def describe(clip: AudioClip, role: str) -> list[str]:
    """The notes a user should read about how a sound was taken in."""
    notes = []
    name = f"{role} {clip.path}" if clip.path is not None else role
    if clip.source_channels > 1:
        notes.append(f"{name}: {clip.source_channels} channels mixed down to mono")
    if clip.source_sample_rate != SAMPLE_RATE:
        notes.append(f"{name}: resampled from {clip.source_sample_rate} Hz to {SAMPLE_RATE} Hz for the spectrogram")
    return notes


def transfer_files(
    job: AudioJob,
    options: AudioOptions,
    *,
    progress: AudioProgressCallback | None = None,
) -> AudioSummary:
    """Run ``job``: on Ctrl-C during the optimisation the best spectrogram so far is rendered and written (the summary
    then says ``interrupted``) and :class:`KeyboardInterrupt` is raised again after the write."""
    check_job(job)
    started = time.perf_counter()
    if job.content is None and options.strength == 0:
        raise ConfigError("strength 0 returns the content, and texture synthesis has none")
    native_content = None
    if job.content is not None:
        native_content = load_audio(
            job.content,
            sample_rate=None,
            mix_down=False,
            offset=job.offset,
            seconds=job.seconds,
            max_seconds=job.max_seconds,
            role="content sound",
        )
    if native_content is not None and options.strength == 0:
        # Strength 0: the content itself, untouched — its channels, rate and sample format.
        path = save_audio(
            job.output, native_content.samples, native_content.sample_rate, subtype=native_content.subtype
        )
        summary = AudioSummary(
            path, native_content.sample_rate, native_content.seconds, ["strength 0: the content copied"]
        )
        summary.record = _record(job, options, summary, native_content, [], None, time.perf_counter() - started)
        return summary
    style_clips = [
        load_audio(path, sample_rate=None, mix_down=False, max_seconds=job.max_seconds, role="style sound")
        for path in job.styles
    ]
    notes = describe(native_content, "content") if native_content is not None else []
    for clip in style_clips:
        notes.extend(describe(clip, "style"))
    styles = [mono_at_model_rate(clip) for clip in style_clips]
    if native_content is not None:
        content: Tensor | None = mono_at_model_rate(native_content)
        length = None
        output_rate, output_frames = native_content.sample_rate, native_content.frames
    else:
        content = None
        first = style_clips[0]
        seconds = job.seconds if job.seconds is not None else first.seconds
        if seconds <= 0:
            raise ConfigError(f"texture length must be more than 0 s, got {seconds}")
        if job.max_seconds is not None and seconds > job.max_seconds:
            raise ConfigError(f"a {seconds:.1f} s texture is over the {job.max_seconds:g} s limit (--max-seconds)")
        length = round(seconds * SAMPLE_RATE)
        output_rate, output_frames = first.sample_rate, round(seconds * first.sample_rate)
    transfer = AudioStyleTransfer(styles, options, content=content, length=length)
    interrupted = False
    try:
        result = transfer.run(progress)
    except KeyboardInterrupt:
        if transfer.best is None:
            raise
        interrupted = True
        result = transfer.render_interrupted()
    samples = _to_output_rate(result.samples, output_rate, output_frames)
    path = save_audio(job.output, samples, output_rate)
    if result.peak_limited:
        notes.append("the result is quieter than the content (RMS) so that its peaks stay unclipped")
    summary = AudioSummary(path, output_rate, output_frames / output_rate, notes, result)
    if job.spectrograms is not None:
        _draw(job, transfer, result, content, styles)
    summary.record = _record(job, options, summary, native_content, style_clips, result, time.perf_counter() - started)
    if interrupted:
        raise _Interrupted(summary)
    return summary


class _Interrupted(KeyboardInterrupt):
    """Ctrl-C after the best result so far was written; carries its summary."""

    def __init__(self, summary: AudioSummary) -> None:
        super().__init__("interrupted")
        self.summary = summary


def interrupted_summary(error: KeyboardInterrupt) -> AudioSummary | None:
    """The summary of what an interrupted :func:`transfer_files` wrote, if it wrote anything."""
    return error.summary if isinstance(error, _Interrupted) else None


def _to_output_rate(samples: Tensor, rate: int, frames: int) -> Tensor:
    """From :data:`SAMPLE_RATE` to ``rate``, exactly ``frames`` long (resampling rounds the length up)."""
    resampled = resample(samples, SAMPLE_RATE, rate) if rate != SAMPLE_RATE else samples
    if resampled.numel() >= frames:
        return resampled[:frames]
    return torch.nn.functional.pad(resampled, (0, frames - resampled.numel()))


def _draw(
    job: AudioJob, transfer: AudioStyleTransfer, result: AudioResult, content: Tensor | None, styles: list[Tensor]
) -> None:
    from .pictures import plot_spectrograms

    assert job.spectrograms is not None
    panels = []
    if content is not None and job.content is not None:
        panels.append((f"content: {job.content.name}", content))
    panels.extend((f"style: {path.name}", style) for path, style in zip(job.styles, styles, strict=True))
    panels.append((f"result: {job.output.name}", result.samples))
    plot_spectrograms(panels, job.spectrograms, sample_rate=SAMPLE_RATE, settings=transfer.spectrogram)


def _record(
    job: AudioJob,
    options: AudioOptions,
    summary: AudioSummary,
    content: AudioClip | None,
    styles: Sequence[AudioClip],
    result: AudioResult | None,
    seconds: float,
) -> dict[str, Any]:
    from dataclasses import asdict

    from ..record import build_run_record

    def source(clip: AudioClip) -> dict[str, Any]:
        return {"sample_rate": clip.source_sample_rate, "channels": clip.source_channels, "seconds": clip.seconds}

    inputs: list[tuple[str, str | None]] = [("content", str(job.content))] if job.content else []
    inputs += [("style", str(path)) for path in job.styles]
    details: dict[str, Any] = {
        "output": str(summary.output),
        "sample_rate": summary.sample_rate,
        "seconds": summary.seconds,
        "offset": job.offset if job.content else None,
        "texture": job.content is None,
        "notes": summary.notes,
        "sources": {
            **({"content": source(content)} if content is not None else {}),
            "styles": [source(clip) for clip in styles],
        },
        "style_weight": options.effective_style_weight,
        "seconds_taken": seconds,
    }
    if result is not None:
        details |= {
            "losses": result.losses,
            "iterations_run": result.iterations_run,
            "timings": result.timings,
            "gain": result.gain,
            "peak_limited": result.peak_limited,
        }
    return build_run_record(
        method="audio",
        options=asdict(replace(options)),
        inputs=inputs,
        weights={},
        result=details,
        interrupted=result.interrupted if result is not None else False,
    )


def record_path(output: Path) -> Path:
    """``out/song.wav`` → ``out/song.wav.run.json`` (the suffix kept: song.wav and song.flac may sit side by side)."""
    return output.with_name(output.name + ".run.json")


def write_record(summary: AudioSummary) -> Path:
    from ..record import write_run_record

    return write_run_record(summary.record, record_path(summary.output))
