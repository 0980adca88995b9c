"""The README's audio figures: spectrograms of content, style and results, all made by painterly's library calls.

    .venv/bin/python docs/make_audio_figures.py [--workdir out/audio_figures] [--iterations 200]

Writes docs/images/audio_melody.jpg (a plucked melody given the texture of noise bursts over a rising whistle, at
strengths 0.25 and 0.75), docs/images/audio_bunny.jpg (the soundtrack of ../shared/data/video/bunny.mp4, Big Buck
Bunny, CC BY 3.0 Blender Foundation, with the same style; skipped when the file is absent) and
docs/images/audio_texture.jpg (20 s synthesised from the style alone), plus the sounds and full-quality PNGs in
the work folder.
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
PLOT_ONLY = False


def model_rate(path: Path, seconds: float | None = None) -> torch.Tensor:
    from painterly.audio.files import mono_at_model_rate
    from painterly.audio.io import load_audio

    return mono_at_model_rate(load_audio(path, sample_rate=None, mix_down=False, seconds=seconds))


def run(content: Path | None, style: Path, output: Path, iterations: int, **options: float) -> torch.Tensor:
    """``painterly audio``'s library path; with --plot-only the sound an earlier run of this script wrote."""
    from painterly.audio.files import AudioJob, transfer_files
    from painterly.audio.transfer import AudioOptions

    if PLOT_ONLY and output.is_file():
        return model_rate(output)
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
    parser.add_argument("--plot-only", action="store_true", help="Draw the sounds an earlier run left in the workdir.")
    args = parser.parse_args()
    global PLOT_ONLY
    PLOT_ONLY = args.plot_only
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
    publish(plot_spectrograms(panels, work / "audio_melody.png", sample_rate=SAMPLE_RATE, max_frequency=TOP_FREQUENCY))
    if BUNNY.is_file():
        result = run(BUNNY, style, work / "bunny_0.5.wav", args.iterations, strength=0.5)
        panels = [
            ("content: Big Buck Bunny's soundtrack (first 10 s)", model_rate(BUNNY, SECONDS)),
            ("style: noise bursts over a rising whistle", model_rate(style)),
            ("painterly audio, --strength 0.5", result),
        ]
        picture = plot_spectrograms(
            panels, work / "audio_bunny.png", sample_rate=SAMPLE_RATE, max_frequency=TOP_FREQUENCY
        )
        publish(picture)
    texture = run(None, style, work / "texture.wav", args.iterations)
    panels = [("style (10 s)", model_rate(style)), ("painterly audio --texture --seconds 20", texture)]
    publish(plot_spectrograms(panels, work / "audio_texture.png", sample_rate=SAMPLE_RATE, max_frequency=TOP_FREQUENCY))
    print(f"wrote {IMAGES}/audio_*.jpg and the sounds and PNGs in {work}")


def publish(picture: Path) -> Path:
    """A JPEG copy of a PNG figure for the README (a tenth of the size)."""
    from PIL import Image

    target = IMAGES / f"{picture.stem}.jpg"
    Image.open(picture).convert("RGB").save(target, quality=88, optimize=True)
    return target


if __name__ == "__main__":
    main()
