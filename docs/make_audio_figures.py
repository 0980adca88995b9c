"""The README's audio figures: spectrograms of content, style and results, all made by painterly's library calls.

    .venv/bin/python docs/make_audio_figures.py [--workdir out/audio_figures] [--iterations 200]

Writes docs/images/audio_melody.png (a plucked melody given the texture of noise bursts over a rising whistle, at
strengths 0.25 and 0.75), docs/images/audio_bunny.png (the soundtrack of ../shared/data/video/bunny.mp4, Big Buck
Bunny, CC BY 3.0 Blender Foundation, with the same style; skipped when the file is absent) and
docs/images/audio_texture.png (20 s synthesised from the style alone), plus the sounds in the work folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
BUNNY = ROOT.parent / "shared" / "data" / "video" / "bunny.mp4"
IMAGES = ROOT / "docs" / "images"
SECONDS = 10.0
TOP_FREQUENCY = 8000.0


def model_rate(path: Path, seconds: float | None = None) -> torch.Tensor:
    from painterly.audio.files import mono_at_model_rate
    from painterly.audio.io import load_audio

    return mono_at_model_rate(load_audio(path, sample_rate=None, mix_down=False, seconds=seconds))


def run(content: Path | None, style: Path, output: Path, iterations: int, **options: float) -> torch.Tensor:
    from painterly.audio.files import AudioJob, transfer_files
    from painterly.audio.transfer import AudioOptions

    output.unlink(missing_ok=True)
    job = AudioJob(content=content, styles=(style,), output=output, seconds=SECONDS if content else 20.0)
    init = "content" if content else "noise"
    transfer_files(job, AudioOptions(iterations=iterations, init=init, **options))  # type: ignore[arg-type]
    return model_rate(output)


def main() -> None:
    from painterly.audio.io import save_audio
    from painterly.audio.pictures import plot_spectrograms
    from painterly.audio.synthetic import RATE, chirp, melody, noise_bursts
    from painterly.audio.transfer import SAMPLE_RATE

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=ROOT / "out" / "audio_figures")
    parser.add_argument("--iterations", type=int, default=200)
    args = parser.parse_args()
    work: Path = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    content, style = work / "melody.wav", work / "bursts_whistle.wav"
    save_audio(content, melody(SECONDS), RATE, subtype="FLOAT")
    save_audio(style, noise_bursts(SECONDS) + chirp(1500, 3000, SECONDS, amplitude=0.15), RATE, subtype="FLOAT")
    panels = [
        ("content: plucked melody", model_rate(content)),
        ("style: noise bursts over a rising whistle", model_rate(style)),
    ]
    for strength in (0.25, 0.75):
        result = run(content, style, work / f"melody_{strength:g}.wav", args.iterations, strength=strength)
        panels.append((f"painterly audio, --strength {strength:g}", result))
    plot_spectrograms(panels, IMAGES / "audio_melody.png", sample_rate=SAMPLE_RATE, max_frequency=TOP_FREQUENCY)
    if BUNNY.is_file():
        result = run(BUNNY, style, work / "bunny_0.5.wav", args.iterations, strength=0.5)
        panels = [
            ("content: Big Buck Bunny's soundtrack (first 10 s)", model_rate(BUNNY, SECONDS)),
            ("style: noise bursts over a rising whistle", model_rate(style)),
            ("painterly audio, --strength 0.5", result),
        ]
        plot_spectrograms(panels, IMAGES / "audio_bunny.png", sample_rate=SAMPLE_RATE, max_frequency=TOP_FREQUENCY)
    texture = run(None, style, work / "texture.wav", args.iterations)
    panels = [("style (10 s)", model_rate(style)), ("painterly audio --texture --seconds 20", texture)]
    plot_spectrograms(panels, IMAGES / "audio_texture.png", sample_rate=SAMPLE_RATE, max_frequency=TOP_FREQUENCY)
    print(f"wrote {IMAGES}/audio_*.png and the sounds in {work}")


if __name__ == "__main__":
    main()
