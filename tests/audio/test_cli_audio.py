"""``painterly audio`` end to end through main([...]) on short synthetic sounds, with few filters and iterations."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from painterly.audio.synthetic import melody, noise_bursts, tone
from painterly.cli import main
from tests.conftest import interrupt_once_under_way

FAST = ["--filters", "32", "--iterations", "3", "--phase-iterations", "2", "-q"]


def write(path: Path, samples: np.ndarray, rate: int, subtype: str = "PCM_16") -> Path:
    soundfile.write(path, samples, rate, subtype=subtype)
    return path


@pytest.fixture
def content(tmp_path: Path) -> Path:
    """Stereo 44.1 kHz, an odd number of samples: mixed down and resampled on the way in, restored on the way out."""
    left = melody(0.75, rate=44100).numpy()
    stereo = np.stack([left, 0.5 * left], axis=1)[:-7]
    return write(tmp_path / "content.wav", stereo, 44100)


@pytest.fixture
def style(tmp_path: Path) -> Path:
    return write(tmp_path / "style.flac", noise_bursts(0.6).numpy(), 22050)


def test_transfer_keeps_length_and_rate_and_writes_record_and_pictures(
    content: Path, style: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output, picture = tmp_path / "out" / "result.wav", tmp_path / "result.png"
    assert main(["audio", str(content), str(style), "-o", str(output), "--spectrograms", str(picture), *FAST]) == 0
    captured = capsys.readouterr()
    assert f"wrote {output} (0.75 s at 44100 Hz, total" in captured.out and f"wrote {picture}" in captured.out
    assert "2 channels mixed down to mono" in captured.err and "resampled from 44100 Hz" in captured.err
    info = soundfile.info(output)
    assert (info.samplerate, info.frames, info.channels) == (44100, soundfile.info(content).frames, 1)
    record = json.loads((tmp_path / "out" / "result.wav.run.json").read_text())
    assert record["method"] == "audio" and record["iterations_run"] == 3 and not record["interrupted"]
    assert record["options"]["filters"] == 32 and record["sources"]["content"]["channels"] == 2
    assert [entry["role"] for entry in record["inputs"]] == ["content", "style"]
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [name for name in os.listdir(tmp_path / "out") if "partial" in name]


def test_strength_zero_returns_the_content_untouched(content: Path, style: Path, tmp_path: Path) -> None:
    output = tmp_path / "same.wav"
    assert main(["audio", str(content), str(style), "-o", str(output), "--strength", "0", "-q"]) == 0
    original, rate = soundfile.read(content, dtype="int16")
    copied, copied_rate = soundfile.read(output, dtype="int16")
    assert copied_rate == rate and np.array_equal(copied, original)


def test_texture_from_styles_alone(style: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = write(tmp_path / "tone.wav", tone(600, 0.6, rate=16000).numpy(), 16000)
    output = tmp_path / "texture.flac"
    arguments = ["audio", "--texture", str(style), str(other), "--style-blend", "0.7,0.3", "--seconds", "1.5"]
    assert main([*arguments, "-o", str(output), *FAST]) == 0
    info = soundfile.info(output)
    assert (info.samplerate, info.frames, info.format) == (22050, round(1.5 * 22050), "FLAC")
    record = json.loads((tmp_path / "texture.flac.run.json").read_text())
    assert record["texture"] and record["options"]["init"] == "noise" and record["options"]["style_blend"] == [0.7, 0.3]
    assert "resampled from 16000 Hz" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["{content}"], 2, "give a content sound and at least one style sound"),
        (["{missing}", "{style}"], 3, "content sound '.*missing.wav' does not exist"),
        (["{content}", "{text}"], 3, "style sound '.*notes.txt' is not an audio file"),
        (["{content}", "{silent}"], 3, "is silent"),
        (["{content}", "{style}", "--style-blend", "1,2"], 2, "2 style blend weights for 1 style sounds"),
        (["{content}", "{style}", "--style-blend", "a,b"], 2, "--style-blend must be numbers"),
        (["{content}", "{style}", "--kernel-widths", "3,x"], 2, "--kernel-widths must be whole numbers"),
        (["{content}", "{style}", "--max-seconds", "0.5"], 3, "over the 0.5 s limit"),
        (["{content}", "{style}", "--offset", "5"], 3, "past the end"),
        (["--texture", "{style}", "--strength", "0"], 2, "strength 0 returns the content"),
        (["--texture", "{style}", "--offset", "1"], 2, "--texture has none"),
        (["--texture", "{style}", "--seconds", "900"], 2, "over the 600 s limit"),
        (["{content}", "{style}", "--filters", "2", "--kernel-widths", "3,5,7"], 2, "cannot be split"),
    ],
)
def test_bad_input_is_one_line_and_an_exit_code(
    content: Path,
    style: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    code: int,
    message: str,
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a sound\n")
    silent = write(tmp_path / "silent.wav", np.zeros(22050, dtype=np.float32), 22050)
    names = {"content": content, "style": style, "missing": tmp_path / "missing.wav", "text": text, "silent": silent}
    output = tmp_path / "out.wav"
    filled = [argument.format(**names) for argument in arguments]
    assert main(["audio", *FAST, *filled, "-o", str(output)]) == code
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1 and error.startswith("painterly: error: ")
    assert __import__("re").search(message, error), error
    assert not output.exists()


def test_bad_outputs(content: Path, style: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audio", str(content), str(style), "-o", str(tmp_path / "out.mp3"), *FAST]) == 4
    assert "needs one of the suffixes .wav, .flac" in capsys.readouterr().err
    existing = write(tmp_path / "existing.wav", tone(300, 0.2).numpy(), 22050)
    before = existing.read_bytes()
    assert main(["audio", str(content), str(style), "-o", str(existing), *FAST]) == 4
    assert "already exists; pass --overwrite" in capsys.readouterr().err and existing.read_bytes() == before
    assert main(["audio", str(content), str(style), "-o", str(content), "--overwrite", *FAST]) == 4
    assert "it is the input" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["audio", str(content), str(style), "-o", str(blocker / "out.wav"), *FAST]) == 4
    assert "is not a directory" in capsys.readouterr().err


def test_an_interrupted_run_keeps_its_best_result(
    content: Path, style: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from painterly.audio.transfer import AudioStyleTransfer

    evaluate = AudioStyleTransfer.losses
    calls = []

    def ctrl_c_at_the_fifth(self: AudioStyleTransfer, features: torch.Tensor) -> dict[str, torch.Tensor]:
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return evaluate(self, features)

    monkeypatch.setattr(AudioStyleTransfer, "losses", ctrl_c_at_the_fifth)
    output = tmp_path / "stopped.wav"
    assert main(["audio", str(content), str(style), "-o", str(output), *FAST, "--iterations", "50"]) == 130
    error = capsys.readouterr().err
    assert f"painterly: interrupted: wrote {output} from the best of 4 iterations" in error
    record = json.loads((tmp_path / "stopped.wav.run.json").read_text())
    assert record["interrupted"] and record["iterations_run"] == 4
    assert soundfile.info(output).frames == soundfile.info(content).frames


def test_sigterm_stops_a_run_and_keeps_its_best_result(tmp_path: Path, style: Path) -> None:
    content = write(tmp_path / "long_content.wav", melody(6.0).numpy(), 22050)
    output = tmp_path / "long.wav"
    command = [sys.executable, "-m", "painterly", "audio", str(content), str(style), "-o", str(output)]
    code, rest = interrupt_once_under_way([*command, "--iterations", "100000", "--filters", "256"], sig=signal.SIGTERM)
    assert code == 130, rest
    assert "interrupted: wrote" in rest
    record = json.loads((tmp_path / "long.wav.run.json").read_text())
    assert record["interrupted"] and record["iterations_run"] >= 1
    assert soundfile.info(output).frames == soundfile.info(content).frames
