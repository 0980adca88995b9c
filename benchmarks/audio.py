"""Benchmark of audio style transfer (`painterly audio`): time and peak memory for a 10 s clip on this machine's
cores, and what the output keeps of the content and takes of the style, at several strengths, in one run.

    .venv/bin/python benchmarks/audio.py [--workdir out/bench_audio] [--strengths 0.25,0.5,0.75,1]
                                         [--precisions fp32,bf16] [--cases melody,bunny] [--iterations 200]

Cases (10 s each):
- melody: plucked notes with five harmonics (content) and noise bursts every 0.25 s over a wobbling whistle (style),
  both made from formulas at 22 050 Hz;
- bunny: the soundtrack of ../shared/data/video/bunny.mp4 (AAC stereo 44.1 kHz, read through PyAV, mixed down and
  resampled as `painterly audio` does) as the content, the same synthetic style.
Every run is `painterly.audio.files.transfer_files` (the CLI's path) in its own process: wall time (loading,
optimisation, Griffin-Lim, writing) and peak RSS. The written file is read back and measured at 22 050 Hz mono:
Both measures take content and style at one loudness (RMS -20 dBFS, as the method analyses them) and the output at
the level its spectrogram was made at (the file is that times one uniform gain, to the content's loudness):
- LSD: log-spectral distance to the content in dB (levels floored 80 dB below the content's loudest bin);
- Gram: ‖G(out) − G(style)‖ / ‖G(style)‖ with G the Gram matrix of a random network drawn from another seed than
  the one optimised (4096 filters, width 11), so the number is not the loss that was minimised;
- content: ‖φ(out) − φ(content)‖ / ‖φ(content)‖, φ that network's activations (LSD counts every quiet bin a noisy
  style fills as much as a lost note; this counts what the network sees).
Reference rows in the same units: the content itself, the content rebuilt by Griffin-Lim from its own magnitude
(0 iterations: the floor the phase reconstruction sets), and the style itself (cut or repeated to the content's
length).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import SHARED, peak_mb, run_child  # noqa: E402

BUNNY = SHARED / "video" / "bunny.mp4"
SECONDS = 10.0
EVALUATION_SEED = 1234


def make_inputs(workdir: Path) -> dict[str, Path]:
    from painterly.audio.io import save_audio
    from painterly.audio.synthetic import RATE, chirp, melody, noise_bursts

    workdir.mkdir(parents=True, exist_ok=True)
    paths = {"melody": workdir / "melody.wav", "style": workdir / "bursts_whistle.wav"}
    save_audio(paths["melody"], melody(SECONDS), RATE, subtype="FLOAT")
    whistle = chirp(1500, 3000, SECONDS, amplitude=0.15)
    save_audio(paths["style"], noise_bursts(SECONDS) + whistle, RATE, subtype="FLOAT")
    if BUNNY.is_file():
        paths["bunny"] = BUNNY
    return paths


def sound_at_model_rate(path: Path, seconds: float | None = SECONDS) -> torch.Tensor:
    from painterly.audio.files import mono_at_model_rate
    from painterly.audio.io import load_audio

    return mono_at_model_rate(load_audio(path, sample_rate=None, mix_down=False, seconds=seconds))


def measures(
    output: torch.Tensor, content: torch.Tensor, style: torch.Tensor, output_scale: float | None = None
) -> dict[str, float]:
    """LSD, Gram distance and content distance. ``output_scale``: what brings ``output`` to the level it is measured
    at; default: the content's factor (for the results of `painterly audio`, divided by the gain it applied)."""
    from painterly.audio.network import NetworkSettings, RandomSpectralNetwork, gram_matrix
    from painterly.audio.spectrogram import SpectrogramSettings, log_magnitude, log_spectral_distance
    from painterly.audio.transfer import at_reference_level

    settings = SpectrogramSettings()
    network = RandomSpectralNetwork(settings.bins, NetworkSettings(seed=EVALUATION_SEED))
    # Measured as the method analyses them: content and style at one loudness, the output at the level it was made at
    # (the written file is that times a uniform gain, to the content's loudness: volume, not style or content).
    factor = float(at_reference_level(content, "content").norm() / content.norm())
    scale = factor if output_scale is None else output_scale
    output, content, style = output * scale, content * factor, at_reference_level(style, "style")
    n = min(output.numel(), content.numel())
    with torch.no_grad():
        style_gram = gram_matrix(network(log_magnitude(style, settings))[0])
        out_features = network(log_magnitude(output[:n], settings))[0]
        content_features = network(log_magnitude(content[:n], settings))[0]
    out_gram = gram_matrix(out_features)
    return {
        "lsd_db": log_spectral_distance(content[:n], output[:n], settings),
        "gram_distance": float(torch.linalg.matrix_norm(out_gram - style_gram) / torch.linalg.matrix_norm(style_gram)),
        "content_distance": float(
            torch.linalg.matrix_norm(out_features - content_features) / torch.linalg.matrix_norm(content_features)
        ),
    }


def factor_of(content: torch.Tensor) -> float:
    """The scale `painterly audio` analyses the content at (to RMS -20 dBFS)."""
    from painterly.audio.transfer import REFERENCE_LEVEL, rms_level

    return REFERENCE_LEVEL / rms_level(content, "content")


def fit_length(sound: torch.Tensor, length: int) -> torch.Tensor:
    repeats = -(-length // sound.numel())
    return sound.repeat(repeats)[:length]


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    import time

    from painterly.audio.files import AudioJob, transfer_files
    from painterly.audio.transfer import AudioOptions

    torch.set_num_threads(spec["threads"])
    output = Path(spec["output"])
    output.unlink(missing_ok=True)
    started = time.perf_counter()
    options = AudioOptions(
        strength=spec["strength"], iterations=spec["iterations"], precision=spec["precision"], seed=0
    )
    summary = transfer_files(
        AudioJob(content=Path(spec["content"]), styles=(Path(spec["style"]),), output=output, seconds=SECONDS),
        options,
    )
    seconds = time.perf_counter() - started
    peak = peak_mb()
    content = sound_at_model_rate(Path(spec["content"]))
    style = sound_at_model_rate(Path(spec["style"]), None)
    result = sound_at_model_rate(output, None)
    row = {
        "seconds": seconds,
        "peak_mb": peak,
        **measures(
            result, content, style, None if summary.result is None else factor_of(content) / summary.result.gain
        ),
        **({"losses": summary.result.losses, "timings": summary.result.timings} if summary.result else {}),
        "iterations_run": summary.result.iterations_run if summary.result else 0,
    }
    return row


def references(content_path: Path, style_path: Path, workdir: Path, name: str) -> list[dict[str, Any]]:
    from painterly.audio.io import save_audio
    from painterly.audio.phase import griffin_lim
    from painterly.audio.spectrogram import SpectrogramSettings, stft
    from painterly.audio.transfer import SAMPLE_RATE

    content = sound_at_model_rate(content_path)
    style = sound_at_model_rate(style_path, None)
    settings = SpectrogramSettings()
    rebuilt = griffin_lim(stft(content, settings).abs(), settings, length=content.numel(), seed=0)
    save_audio(workdir / f"{name}_griffin_lim.wav", rebuilt, SAMPLE_RATE)
    return [
        {"run": "content itself", **measures(content, content, style)},
        {"run": "content via Griffin-Lim", **measures(rebuilt, content, style)},
        {
            "run": "style itself",
            **measures(fit_length(style, content.numel()), content, style, factor_of(style)),
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=ROOT / "out" / "bench_audio")
    parser.add_argument("--strengths", default="0.25,0.5,0.75,1")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--cases", default="melody,bunny")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--report", action="store_true", help="Print the table of the workdir's last run again.")
    args = parser.parse_args()
    if args.report:
        print_table(
            json.loads((args.workdir / "results.json").read_text()),
            args.iterations,
            args.threads,
            args.precisions.split(","),
        )
        return
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    paths = make_inputs(args.workdir)
    cases = [case for case in args.cases.split(",") if case]
    if "bunny" in cases and "bunny" not in paths:
        print(f"skipping bunny: {BUNNY} is absent")
        cases.remove("bunny")
    rows: list[dict[str, Any]] = []
    for case in cases:
        content_path, style_path = paths[case], paths["style"]
        for row in references(content_path, style_path, args.workdir, case):
            rows.append({"case": case, **row})
        for precision in args.precisions.split(","):
            for strength in [float(value) for value in args.strengths.split(",")]:
                spec = {
                    "content": str(content_path),
                    "style": str(style_path),
                    "output": str(args.workdir / f"{case}_{precision}_{strength:g}.wav"),
                    "strength": strength,
                    "iterations": args.iterations,
                    "precision": precision,
                    "threads": args.threads,
                }
                row = run_child(__file__, ["--worker", json.dumps(spec)])
                rows.append({"case": case, "run": f"strength {strength:g} {precision}", **row})
                print(f"{case} {precision} {strength:g}: {row['seconds']:.1f} s", file=sys.stderr, flush=True)
    (args.workdir / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    print_table(rows, args.iterations, args.threads, args.precisions.split(","))


def print_table(rows: list[dict[str, Any]], iterations: int, threads: int, precisions: list[str]) -> None:
    print(
        f"\n{iterations} evaluations, {threads} threads, {SECONDS:g} s clips; LSD and content distance to the content, "
        "Gram distance to the style (evaluation network)"
    )
    print(f"{'case':<8} {'run':<26} {'evals':>6} {'time s':>7} {'peak MB':>8} {'LSD dB':>7} {'Gram':>7} {'content':>8}")
    for row in rows:
        evaluations = f"{row['iterations_run']:6d}" if "iterations_run" in row else f"{'':>6}"
        time_text = f"{row['seconds']:7.1f}" if "seconds" in row else f"{'':>7}"
        memory = f"{row['peak_mb']:8.0f}" if "peak_mb" in row else f"{'':>8}"
        print(
            f"{row['case']:<8} {row['run']:<26} {evaluations} {time_text} {memory} {row['lsd_db']:7.2f} "
            f"{row['gram_distance']:7.3f} {row['content_distance']:8.3f}"
        )
    for precision in precisions:
        timed = [row["seconds"] for row in rows if row["run"].endswith(f" {precision}")]
        if timed:
            print(
                f"{precision}: median {statistics.median(timed):.1f} s, slowest {max(timed):.1f} s per 10 s clip "
                "(goal: at most 120 s)"
            )


if __name__ == "__main__":
    main()
