"""Audio input and output: round trips, mixing down, resampling, spans, the PyAV fallback and every bad input."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf
import torch
from PIL import Image

from painterly.audio.io import (
    AUDIO_OUTPUT_SUFFIXES,
    DEFAULT_MAX_SECONDS,
    SILENCE_PEAK,
    TARGET_SAMPLE_RATE,
    AudioClip,
    load_audio,
    resample,
    save_audio,
)
from painterly.errors import ConfigError, InputAudioError, OutputError

BUNNY = Path(__file__).resolve().parents[3] / "shared" / "data" / "video" / "bunny.mp4"
PCM_16_STEP = 1 / 32768

Array = npt.NDArray[np.float32]


def tone(frequency: float, seconds: float, rate: int, amplitude: float = 0.5) -> Array:
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def chirp(seconds: float, rate: int, low: float = 200.0, high: float = 2000.0) -> Array:
    t = np.arange(round(seconds * rate)) / rate
    phase = 2 * np.pi * (low * t + (high - low) * t**2 / (2 * seconds))
    return (0.4 * np.sin(phase)).astype(np.float32)


def noise(seconds: float, rate: int, seed: int = 0) -> Array:
    return np.random.default_rng(seed).uniform(-0.8, 0.8, round(seconds * rate)).astype(np.float32)


def write(path: Path, data: Array, rate: int, subtype: str = "PCM_16") -> Path:
    sf.write(path, data, rate, subtype=subtype)
    return path


def peak_frequency(samples: torch.Tensor | Array, rate: int) -> float:
    x = np.asarray(samples, dtype=np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[spectrum.argmax()])


def encode_aac(path: Path, data: Array, rate: int) -> Path:
    """An AAC stream of ``data`` ((channels, n) in [-1, 1]) in the container ``path``'s suffix names."""
    layout = "mono" if data.shape[0] == 1 else "stereo"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=rate, layout=layout)
        for start in range(0, data.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(data[:, start : start + 1024]), format="fltp", layout=layout
            )
            frame.sample_rate = rate
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def fade(data: Array, rate: int) -> Array:
    """Short fades in and out: an abrupt stop makes FFmpeg's AAC encoder ring."""
    ramp = np.minimum(1.0, np.minimum(np.arange(len(data)), np.arange(len(data))[::-1]) / (0.02 * rate))
    return (data * ramp).astype(np.float32)


def message(role: str, path: Path, rest: str) -> str:
    """A pattern matching the whole one-line error message ``role 'path' rest``."""
    return f"^{re.escape(f'{role} {chr(39)}{path}{chr(39)}{rest}')}$"


# --------------------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("suffix", AUDIO_OUTPUT_SUFFIXES)
def test_round_trip_within_pcm16_quantisation(tmp_path: Path, suffix: str) -> None:
    data = chirp(0.5, 22050)
    out = save_audio(tmp_path / f"chirp{suffix}", torch.from_numpy(data), 22050)
    assert out == tmp_path / f"chirp{suffix}"
    clip = load_audio(out, sample_rate=None)
    assert isinstance(clip, AudioClip)
    assert clip.samples.dtype == torch.float32 and clip.samples.shape == (len(data),)
    assert clip.subtype == "PCM_16" and clip.sample_rate == clip.source_sample_rate == 22050
    assert clip.source_channels == 1 and not clip.mixed_down and not clip.resampled
    assert clip.frames == len(data) and clip.seconds == pytest.approx(0.5)
    assert clip.source_seconds == pytest.approx(0.5) and clip.offset == 0.0 and clip.path == out
    np.testing.assert_allclose(clip.samples.numpy(), data, atol=PCM_16_STEP)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"chirp{suffix}"]  # no temporary left behind


def test_pcm16_round_trip_is_bit_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    ints = rng.integers(-32768, 32768, 30000, dtype=np.int16)
    ints[:2] = [-32768, 32767]
    source = tmp_path / "source.wav"
    sf.write(source, ints, 16000, subtype="PCM_16")
    clip = load_audio(source, sample_rate=None, mix_down=False)
    assert clip.samples.shape == (1, len(ints)) and clip.subtype == "PCM_16"
    copy = save_audio(tmp_path / "copy.wav", clip.samples, clip.sample_rate, subtype=clip.subtype)
    back, rate = sf.read(copy, dtype="int16")
    assert rate == 16000
    np.testing.assert_array_equal(back, ints)
    assert copy.read_bytes() == source.read_bytes()


@pytest.mark.parametrize(
    ("suffix", "subtype", "written"),
    [
        (".flac", "PCM_24", "PCM_24"),
        (".flac", "FLOAT", "PCM_16"),
        (".wav", "FLOAT", "FLOAT"),
        (".wav", "BOGUS", "PCM_16"),
    ],
)
def test_save_keeps_a_subtype_the_format_accepts(tmp_path: Path, suffix: str, subtype: str, written: str) -> None:
    out = save_audio(tmp_path / f"x{suffix}", torch.from_numpy(tone(440, 0.1, 8000)), 8000, subtype=subtype)
    assert sf.info(str(out)).subtype == written


def test_save_clips_instead_of_wrapping_around(tmp_path: Path) -> None:
    loud = torch.tensor([1.5, -1.5, 0.25, 3.0])
    back, _ = sf.read(save_audio(tmp_path / "loud.wav", loud, 8000), dtype="int16")
    np.testing.assert_array_equal(back, [32767, -32768, 8192, 32767])


def test_save_writes_channels(tmp_path: Path) -> None:
    stereo = torch.from_numpy(np.stack([tone(440, 0.1, 8000), tone(660, 0.1, 8000)]))
    back, _ = sf.read(save_audio(tmp_path / "stereo.flac", stereo, 8000), dtype="float32")
    assert back.shape == (800, 2)
    np.testing.assert_allclose(back.T, stereo.numpy(), atol=PCM_16_STEP)


# --------------------------------------------------------------------------------------------- channels


def test_stereo_is_mixed_down_to_the_mean_of_its_channels(tmp_path: Path) -> None:
    stereo = np.stack([tone(440, 0.5, 22050), noise(0.5, 22050)], axis=1)
    path = write(tmp_path / "stereo.wav", stereo, 22050, subtype="FLOAT")
    clip = load_audio(path)
    assert clip.samples.shape == (11025,) and clip.mixed_down and clip.source_channels == 2
    np.testing.assert_allclose(clip.samples.numpy(), stereo.mean(axis=1), atol=1e-6)


def test_mix_down_false_keeps_the_channels(tmp_path: Path) -> None:
    stereo = np.stack([tone(440, 0.5, 22050), noise(0.5, 22050)], axis=1)
    path = write(tmp_path / "stereo.wav", stereo, 22050, subtype="FLOAT")
    clip = load_audio(path, mix_down=False)
    assert clip.samples.shape == (2, 11025) and not clip.mixed_down and clip.source_channels == 2
    np.testing.assert_array_equal(clip.samples.numpy(), stereo.T)


# --------------------------------------------------------------------------------------------- resampling


@pytest.mark.parametrize("rate", [44100, 48000])
def test_resampling_keeps_the_frequency_and_gives_the_right_length(tmp_path: Path, rate: int) -> None:
    path = write(tmp_path / f"a{rate}.wav", tone(440, 1.0, rate), rate)
    clip = load_audio(path)
    assert clip.sample_rate == TARGET_SAMPLE_RATE and clip.source_sample_rate == rate and clip.resampled
    assert abs(clip.frames - 22050) <= 2
    assert peak_frequency(clip.samples, clip.sample_rate) == pytest.approx(440, abs=1.5)
    assert float(clip.samples.abs().max()) <= 1.0
    assert float(clip.samples.abs().max()) == pytest.approx(0.5, abs=0.02)


def test_resample_reduces_the_ratio_and_works_along_the_last_axis() -> None:
    stereo = torch.from_numpy(np.stack([tone(440, 1.0, 48000), tone(1000, 1.0, 48000)]))
    out = resample(stereo, 48000, 22050)
    assert out.dtype == torch.float32 and out.shape == (2, math.ceil(48000 * 147 / 320))
    assert peak_frequency(out[0], 22050) == pytest.approx(440, abs=1.5)
    assert peak_frequency(out[1], 22050) == pytest.approx(1000, abs=1.5)
    assert torch.equal(resample(stereo, 48000, 48000), stereo)
    assert resample(torch.zeros(0), 44100, 22050).shape == (0,)
    with pytest.raises(ConfigError, match="source_rate must be a positive integer"):
        resample(stereo, 0, 22050)


def test_sample_rate_none_keeps_the_source_rate(tmp_path: Path) -> None:
    clip = load_audio(write(tmp_path / "a.wav", tone(440, 0.2, 16000), 16000), sample_rate=None)
    assert clip.sample_rate == 16000 and not clip.resampled and clip.frames == 3200


# --------------------------------------------------------------------------------------------- spans


def test_offset_and_seconds_select_the_span(tmp_path: Path) -> None:
    data = noise(2.0, 8000)
    path = write(tmp_path / "noise.wav", data, 8000, subtype="FLOAT")
    clip = load_audio(path, sample_rate=None, offset=0.25, seconds=0.5)
    np.testing.assert_array_equal(clip.samples.numpy(), data[2000:6000])
    assert clip.offset == 0.25 and clip.source_seconds == 2.0 and clip.seconds == 0.5
    rest = load_audio(path, sample_rate=None, offset=1.5)
    np.testing.assert_array_equal(rest.samples.numpy(), data[12000:])
    beyond = load_audio(path, sample_rate=None, offset=1.75, seconds=5.0)  # a span past the end stops there
    np.testing.assert_array_equal(beyond.samples.numpy(), data[14000:])


def test_max_seconds_applies_to_the_selected_span(tmp_path: Path) -> None:
    path = write(tmp_path / "noise.wav", noise(2.0, 8000), 8000)
    assert load_audio(path, sample_rate=None, offset=1.0, max_seconds=1.0).frames == 8000
    assert load_audio(path, sample_rate=None, seconds=0.5, max_seconds=1.0).frames == 4000
    assert load_audio(path, sample_rate=None, max_seconds=None).frames == 16000


# --------------------------------------------------------------------------------------------- PyAV fallback


def test_m4a_is_decoded_by_pyav(tmp_path: Path) -> None:
    path = encode_aac(tmp_path / "tone.m4a", fade(tone(440, 1.0, 44100), 44100)[None], 44100)
    with pytest.raises(sf.LibsndfileError):
        sf.info(str(path))  # soundfile cannot open it: the fallback does
    clip = load_audio(path)
    assert clip.subtype is None and clip.source_sample_rate == 44100 and clip.sample_rate == 22050
    assert clip.source_channels == 1 and clip.samples.shape == (clip.frames,)
    assert clip.seconds == pytest.approx(1.0, abs=0.05) and clip.source_seconds == pytest.approx(1.0, abs=0.05)
    assert peak_frequency(clip.samples, clip.sample_rate) == pytest.approx(440, abs=2)
    # the encoder's padding past the stated end is dropped, so a 1 s sound fits a 1 s limit
    assert load_audio(path, sample_rate=None, max_seconds=1.0).frames == 44100


def test_mp4_soundtrack_keeps_channels_and_honours_the_span(tmp_path: Path) -> None:
    stereo = np.stack([fade(tone(440, 1.0, 48000), 48000), fade(tone(880, 1.0, 48000), 48000)])
    path = encode_aac(tmp_path / "tone.mp4", stereo, 48000)
    clip = load_audio(path, sample_rate=None, mix_down=False, offset=0.25, seconds=0.5)
    assert clip.samples.shape == (2, 24000) and clip.source_channels == 2 and clip.sample_rate == 48000
    assert clip.offset == 0.25
    assert peak_frequency(clip.samples[0], 48000) == pytest.approx(440, abs=3)
    assert peak_frequency(clip.samples[1], 48000) == pytest.approx(880, abs=3)
    with pytest.raises(InputAudioError, match=r"is 1\.0 s long, over the 0\.5 s limit"):
        load_audio(path, max_seconds=0.5)
    with pytest.raises(InputAudioError, match=r"offset 3\.0 s is past the end of the sound \(1\.0 s long\)$"):
        load_audio(path, offset=3.0)


def test_video_without_sound_has_no_audio_stream(tmp_path: Path) -> None:
    path = tmp_path / "silent_film.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for _ in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    with pytest.raises(InputAudioError, match=message("content sound", path, " has no audio stream")):
        load_audio(path, role="content sound")


@pytest.mark.shared_data
def test_bunny_soundtrack_is_mixed_down_to_22050_mono() -> None:
    if not BUNNY.is_file():
        pytest.skip(f"shared video {BUNNY} is absent")
    clip = load_audio(BUNNY, role="content sound")
    assert clip.source_sample_rate == 44100 and clip.source_channels == 2 and clip.mixed_down
    assert clip.sample_rate == 22050 and clip.samples.ndim == 1 and clip.subtype is None
    assert clip.seconds == pytest.approx(10.0, abs=0.05) and clip.source_seconds == pytest.approx(10.0, abs=0.05)
    assert float(clip.samples.abs().max()) > SILENCE_PEAK


# --------------------------------------------------------------------------------------------- bad inputs

ROLE = "content sound"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    with pytest.raises(InputAudioError, match=message(ROLE, path, " does not exist")) as info:
        load_audio(path, role=ROLE)
    assert info.value.exit_code == 3


def test_a_folder(tmp_path: Path) -> None:
    with pytest.raises(InputAudioError, match=message(ROLE, tmp_path, " is a folder, not an audio file")):
        load_audio(tmp_path, role=ROLE)


def test_default_role(tmp_path: Path) -> None:
    with pytest.raises(InputAudioError, match=message("audio", tmp_path / "y.wav", " does not exist")):
        load_audio(tmp_path / "y.wav")


@pytest.mark.parametrize("kind", ["text", "png", "random"])
def test_not_audio(tmp_path: Path, kind: str) -> None:
    if kind == "text":
        path = tmp_path / "notes.txt"
        path.write_text("these are not samples\n" * 50)
    elif kind == "png":
        path = tmp_path / "picture.png"
        Image.new("RGB", (16, 16), (200, 30, 30)).save(path)
    else:
        path = tmp_path / "random.wav"
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(
        InputAudioError, match=message(ROLE, path, " is not an audio file soundfile or FFmpeg can read")
    ):
        load_audio(path, role=ROLE)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    path.touch()
    with pytest.raises(InputAudioError, match=message(ROLE, path, " is empty (0 bytes)")):
        load_audio(path, role=ROLE)


def test_wav_without_samples(tmp_path: Path) -> None:
    path = write(tmp_path / "x.wav", np.zeros(0, np.float32), 22050)
    with pytest.raises(InputAudioError, match=message(ROLE, path, " has no samples")):
        load_audio(path, role=ROLE)


def test_silent_file(tmp_path: Path) -> None:
    path = write(tmp_path / "x.wav", np.zeros(22050, np.float32), 22050)
    expected = " is silent (peak below -90 dBFS): nothing to stylise"
    with pytest.raises(InputAudioError, match=message(ROLE, path, expected)):
        load_audio(path, role=ROLE)


def test_silent_span_and_cancelling_channels(tmp_path: Path) -> None:
    data = np.concatenate([tone(440, 1.0, 8000), np.zeros(8000, np.float32)])
    path = write(tmp_path / "half.wav", data, 8000)
    assert load_audio(path, offset=0.5, seconds=1.0).frames > 0  # part sound, part silence is fine
    with pytest.raises(InputAudioError, match=r"is silent \(peak below -90 dBFS\) from 1\.25 s to 1\.75 s: nothing"):
        load_audio(path, offset=1.25, seconds=0.5)
    opposite = np.stack([tone(440, 0.5, 8000), -tone(440, 0.5, 8000)], axis=1)
    path = write(tmp_path / "opposite.wav", opposite, 8000, subtype="FLOAT")
    with pytest.raises(InputAudioError, match=r"silent \(peak below -90 dBFS\) once mixed down to mono"):
        load_audio(path)
    assert load_audio(path, mix_down=False).samples.shape == (2, 11025)


def test_quiet_but_not_silent_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path / "quiet.wav", tone(440, 0.2, 8000, amplitude=1e-3), 8000, subtype="FLOAT")
    assert float(load_audio(path).samples.abs().max()) == pytest.approx(1e-3, rel=0.05)


def test_non_finite_samples(tmp_path: Path) -> None:
    data = tone(440, 0.5, 8000)
    data[100] = np.nan
    path = write(tmp_path / "x.wav", data, 8000, subtype="FLOAT")
    expected = " has non-finite samples (NaN or infinity): the file is corrupt"
    with pytest.raises(InputAudioError, match=message(ROLE, path, expected)):
        load_audio(path, role=ROLE)


def test_offset_past_the_end(tmp_path: Path) -> None:
    path = write(tmp_path / "x.wav", noise(10.0, 1000), 1000)
    with pytest.raises(
        InputAudioError, match=message(ROLE, path, ": offset 12.0 s is past the end of the sound (10.0 s long)")
    ):
        load_audio(path, role=ROLE, offset=12.0)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"offset": -1.0}, "offset must not be negative"),
        ({"offset": math.nan}, "offset must be a finite number"),
        ({"seconds": 0.0}, "seconds must be greater than 0"),
        ({"seconds": -2.0}, "seconds must be greater than 0"),
        ({"max_seconds": 0.0}, "max_seconds must be greater than 0"),
        ({"sample_rate": 0}, "sample_rate must be a positive integer"),
    ],
)
def test_bad_options_are_config_errors(tmp_path: Path, options: dict[str, float], expected: str) -> None:
    path = write(tmp_path / "x.wav", noise(0.5, 8000), 8000)
    with pytest.raises(ConfigError, match=expected) as info:
        load_audio(path, **options)  # type: ignore[arg-type]
    assert info.value.exit_code == 2


def test_too_long(tmp_path: Path) -> None:
    path = write(tmp_path / "x.wav", np.full(900 * 100, 0.1, np.float32), 100)
    expected = " is 900.0 s long, over the 600 s limit: take a part with --seconds/--offset or raise --max-seconds"
    assert DEFAULT_MAX_SECONDS == 600
    with pytest.raises(InputAudioError, match=message(ROLE, path, expected)):
        load_audio(path, role=ROLE)
    with pytest.raises(InputAudioError, match=r"is 850\.0 s long after the 50\.0 s offset, over the 600 s limit"):
        load_audio(path, role=ROLE, offset=50.0)
    assert load_audio(path, sample_rate=None, offset=100.0, seconds=600.0).seconds == 600.0


def test_truncated_wav(tmp_path: Path) -> None:
    whole = write(tmp_path / "whole.wav", noise(1.0, 8000), 8000)
    path = tmp_path / "x.wav"
    path.write_bytes(whole.read_bytes()[:9000])
    with pytest.raises(InputAudioError, match=r"^content sound '.*x\.wav' is truncated: the file ends before"):
        load_audio(path, role=ROLE)


def test_truncated_wav_header(tmp_path: Path) -> None:
    whole = write(tmp_path / "whole.wav", noise(1.0, 8000), 8000)
    path = tmp_path / "x.wav"
    path.write_bytes(whole.read_bytes()[:30])
    with pytest.raises(
        InputAudioError, match=r"^content sound '.*x\.wav' is not an audio file .* truncated or corrupt"
    ):
        load_audio(path, role=ROLE)


def test_truncated_flac(tmp_path: Path) -> None:
    whole = write(tmp_path / "whole.flac", noise(1.0, 8000), 8000)
    path = tmp_path / "x.flac"
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(InputAudioError, match=r"^content sound '.*x\.flac' is truncated or corrupt \("):
        load_audio(path, role=ROLE)


def test_errors_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("line one\nline two\n" * 40)
    with pytest.raises(InputAudioError) as info:
        load_audio(path)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------------------------- saving failures


def test_save_rejects_other_suffixes(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"cannot write .*x\.mp3: it needs one of the suffixes \.wav, \.flac") as info:
        save_audio(tmp_path / "x.mp3", torch.zeros(10), 8000)
    assert info.value.exit_code == 4
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_save_rejects_non_finite_samples(tmp_path: Path, bad: float) -> None:
    samples = torch.from_numpy(tone(440, 0.1, 8000))
    samples[10] = bad
    with pytest.raises(OutputError, match=r"x\.wav: the samples contain NaN or infinite values$"):
        save_audio(tmp_path / "x.wav", samples, 8000)
    assert list(tmp_path.iterdir()) == []


def test_save_rejects_bad_shapes(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"must be \(n,\) or \(channels, n\), got \(1, 2, 3\)"):
        save_audio(tmp_path / "x.wav", torch.zeros(1, 2, 3), 8000)
    with pytest.raises(OutputError, match="must be a float tensor"):
        save_audio(tmp_path / "x.wav", torch.zeros(10, dtype=torch.int16), 8000)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can write into any folder")
def test_save_into_an_unwritable_folder(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(OutputError, match=r"^cannot write .*locked/x\.wav: Permission denied$"):
            save_audio(folder / "x.wav", torch.from_numpy(tone(440, 0.1, 8000)), 8000)
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


def test_save_below_a_file_fails_cleanly(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    with pytest.raises(OutputError, match=r"^cannot write .*blocker/x\.wav: cannot create folder"):
        save_audio(blocker / "x.wav", torch.from_numpy(tone(440, 0.1, 8000)), 8000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


def test_a_failed_write_leaves_no_partial_and_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "x.flac"
    out.write_bytes(b"previous result")

    partials: list[str] = []

    def broken_write(file: BinaryIO, *args: object, **kwargs: object) -> None:
        file.write(b"half a file")
        partials.extend(p.name for p in tmp_path.iterdir() if p.name != "x.flac")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sf, "write", broken_write)
    with pytest.raises(OutputError, match=r"^cannot write .*x\.flac: No space left on device$"):
        save_audio(out, torch.from_numpy(tone(440, 0.1, 8000)), 8000)
    assert len(partials) == 1 and re.fullmatch(rf"\.x\.flac\.{os.getpid()}-\d+\.partial\.flac", partials[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.flac"]
    assert out.read_bytes() == b"previous result"


def test_save_to_a_folder_name(tmp_path: Path) -> None:
    folder = tmp_path / "out.wav"
    folder.mkdir()
    with pytest.raises(OutputError, match="it is a directory"):
        save_audio(folder, torch.zeros(10), 8000)
