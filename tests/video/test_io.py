"""Video reading and writing on small synthetic clips made with PyAV (and the shared bunny clip if present)."""

from __future__ import annotations

import gc
import weakref
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from painterly.errors import ConfigError, InputVideoError, OutputError
from painterly.image.io import save_image
from painterly.video.io import (
    VIDEO_SUFFIXES,
    AudioInfo,
    VideoFrame,
    VideoInfo,
    VideoWriter,
    open_video,
    output_kind,
)
from tests.conftest import SHARED_DATA
from tests.video.conftest import audio_packets, audio_times, frame_index, frame_samples, make_clip, stream_codecs


def read_all(path: Path, **options: object) -> tuple[VideoInfo, list[VideoFrame]]:
    with open_video(path, **options) as video:  # type: ignore[arg-type]
        return video.info, list(video)


def copy_video(source: Path, target: Path, **writer_options: object) -> VideoWriter:
    """Read ``source`` and write every frame to ``target`` with the source's timestamps and sound."""
    with open_video(source) as video:
        info = video.info
        writer = VideoWriter(
            target,
            width=info.width,
            height=info.height,
            fps=info.fps,
            time_base=info.time_base,
            audio_from=source,
            **writer_options,  # type: ignore[arg-type]
        )
        with writer:
            for frame in video:
                writer.write(frame.image, frame.pts)
    return writer


def hidden_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# ---------------------------------------------------------------------------------------------- reading


def test_round_trip_mp4(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=16)
    info, frames = read_all(clip)
    assert (info.width, info.height, info.source_width, info.source_height) == (64, 48, 64, 48)
    assert info.fps == pytest.approx(25.0)
    assert info.frame_count == 16 and info.duration == pytest.approx(0.64)
    assert info.rotation == 0 and info.audio is None and not info.is_folder
    assert len(frames) == 16
    assert [f.index for f in frames] == list(range(16))
    assert [frame_index(f.image) for f in frames] == list(range(16))
    first = frames[0]
    assert first.pts == 0 and first.time == 0.0
    assert first.image.shape == (1, 3, 48, 64) and first.image.dtype == torch.float32
    assert float(first.image.min()) >= 0.0 and float(first.image.max()) <= 1.0
    expected = torch.from_numpy(frame_samples(3, 64, 48)).permute(2, 0, 1)[None].float() / 255
    assert float((frames[3].image - expected).abs().mean()) < 0.02
    assert [f.time for f in frames] == pytest.approx([i / 25 for i in range(16)])

    out = tmp_path / "out.mp4"
    writer = copy_video(clip, out)
    assert writer.audio_note == "no audio" and writer.padded_size == (64, 48)
    info2, frames2 = read_all(out)
    assert (info2.width, info2.height) == (64, 48) and len(frames2) == 16
    assert [frame_index(f.image) for f in frames2] == list(range(16))
    for a, b in zip(frames, frames2, strict=True):
        assert float((a.image - b.image).abs().mean()) < 0.02
    assert stream_codecs(out) == [("video", "h264")]
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv420p"
    assert hidden_files(tmp_path) == []


def test_variable_frame_rate_timestamps_survive_a_round_trip(tmp_path: Path) -> None:
    pts = [0, 40, 100, 120, 200, 330, 340, 400]
    clip = make_clip(tmp_path / "vfr.mp4", pts=pts, time_base=Fraction(1, 1000))
    info, frames = read_all(clip)
    times = [Fraction(f.pts) * info.time_base for f in frames]
    assert times == [Fraction(p, 1000) for p in pts]
    assert [f.time for f in frames] == pytest.approx([p / 1000 for p in pts])

    out = tmp_path / "out.mp4"
    copy_video(clip, out)
    info2, frames2 = read_all(out)
    assert [Fraction(f.pts) * info2.time_base for f in frames2] == times
    assert [frame_index(f.image) for f in frames2] == list(range(len(pts)))


@pytest.mark.parametrize(("rotation", "expected"), [(90, 90), (-90, 270), (180, 180)])
def test_rotation_metadata_is_applied(tmp_path: Path, rotation: int, expected: int) -> None:
    clip = make_clip(tmp_path / "rot.mp4", frames=3, width=64, height=48, rotation=rotation)
    info, frames = read_all(clip)
    assert info.rotation == expected
    upright = np.rot90(frame_samples(0, 64, 48), expected // 90)  # counter-clockwise, like the display matrix
    height, width = upright.shape[:2]
    assert (info.width, info.height) == (width, height)
    assert (info.source_width, info.source_height) == (width, height)
    image = frames[0].image
    assert image.shape == (1, 3, height, width)
    reference = torch.from_numpy(upright.copy()).permute(2, 0, 1)[None].float() / 255
    assert float((image - reference).abs().mean()) < 0.02


def test_long_side_resizes_keeping_the_aspect_ratio(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=4)
    info, frames = read_all(clip, long_side=32)
    assert (info.width, info.height, info.source_width, info.source_height) == (32, 24, 64, 48)
    assert all(f.image.shape == (1, 3, 24, 32) for f in frames)
    assert frame_index(frames[2].image) == 2


def test_start_and_duration_select_a_range(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=20)  # 25 fps: frame i at i * 0.04 s
    with open_video(clip, start=0.2, duration=0.2) as video:
        frames = list(video)
        assert video.start_time == pytest.approx(0.2)
        assert video.info.duration == pytest.approx(0.2)
        assert video.info.frame_count == 5
    assert [frame_index(f.image) for f in frames] == [5, 6, 7, 8, 9]
    assert frames[0].pts == 0 and frames[0].time == 0.0
    assert frames[-1].time == pytest.approx(0.16)

    with open_video(clip, start=0.21) as video:  # between two frames: the next one starts, at pts 0
        frames = list(video)
        assert video.start_time == pytest.approx(0.24)
    assert [frame_index(f.image) for f in frames] == list(range(6, 20))
    assert frames[0].pts == 0


def test_fps_resamples_to_a_constant_rate(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=20)  # 25 fps, 0.8 s
    info, frames = read_all(clip, fps=10)
    assert info.fps == 10.0 and info.time_base == Fraction(1, 10) and info.frame_count == 8
    assert [f.pts for f in frames] == list(range(8))
    # tick k at k/10 s takes the latest frame at or before it: frame floor(k * 2.5)
    assert [frame_index(f.image) for f in frames] == [0, 2, 5, 7, 10, 12, 15, 17]

    info, frames = read_all(clip, fps=50, duration=0.2)
    assert info.time_base == Fraction(1, 50)
    assert [frame_index(f.image) for f in frames] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert frames[0].image is not frames[1].image  # repeats are copies


def test_iterating_twice_decodes_again(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=6)
    with open_video(clip, start=0.04) as video:
        first = [frame_index(f.image) for f in video]
        second = [frame_index(f.image) for f in video]
    assert first == second == [1, 2, 3, 4, 5]


def test_the_reader_keeps_no_frames(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "long.mp4", frames=150, width=32, height=32)
    refs: list[weakref.ref[torch.Tensor]] = []
    count = 0
    with open_video(clip) as video:
        for frame in video:
            refs.append(weakref.ref(frame.image))
            count += 1
            del frame
        gc.collect()
        alive = sum(ref() is not None for ref in refs)
    assert count == 150
    assert alive <= 1
    assert not any(isinstance(value, list) and len(value) > 10 for value in vars(video).values())


def test_folder_of_frames_in_and_out(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=5, width=40, height=30)
    out = tmp_path / "frames"
    assert output_kind(out) == "frames"
    writer = copy_video(clip, out)
    assert writer.audio_note == "no audio"
    assert sorted(p.name for p in out.iterdir()) == [f"frame_{i:06d}.png" for i in range(1, 6)]
    assert hidden_files(tmp_path) == []

    info, frames = read_all(out, folder_fps=10)
    assert info.is_folder and info.fps == 10.0 and info.time_base == Fraction(1, 10)
    assert (info.width, info.height, info.frame_count) == (40, 30, 5)
    assert info.duration == pytest.approx(0.5) and info.audio is None
    assert [f.pts for f in frames] == list(range(5))
    assert [frame_index(f.image) for f in frames] == list(range(5))

    info, frames = read_all(out, folder_fps=10, start=0.2, fps=20)
    assert [f.pts for f in frames] == list(range(6))
    assert [frame_index(f.image) for f in frames] == [2, 2, 3, 3, 4, 4]


def test_folder_frames_sort_by_number(tmp_path: Path) -> None:
    folder = tmp_path / "seq"
    folder.mkdir()
    for number, index in ((1, 0), (2, 1), (10, 2)):
        Image.fromarray(frame_samples(index, 20, 16)).save(folder / f"f{number}.png")
    (folder / "notes.txt").write_text("not a frame")
    _, frames = read_all(folder)
    assert [frame_index(f.image) for f in frames] == [0, 1, 2]


def test_folder_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputVideoError, match="holds no frames") as error:
        open_video(empty)
    assert str(empty) in str(error.value)

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    save_image(torch.rand(1, 3, 16, 20), mixed / "a1.png")
    save_image(torch.rand(1, 3, 18, 20), mixed / "a2.png")
    with pytest.raises(InputVideoError, match="same size") as error, open_video(mixed) as video:
        list(video)
    assert "a2.png" in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
def test_odd_sizes_are_padded(tmp_path: Path, suffix: str) -> None:
    clip = make_clip(tmp_path / "odd.mp4", frames=4, width=63, height=47, pix_fmt="yuv444p")
    info, frames = read_all(clip)
    assert (info.width, info.height) == (63, 47)
    out = tmp_path / f"out{suffix}"
    writer = copy_video(clip, out)
    assert writer.padded_size == (64, 48)
    _, frames2 = read_all(out)
    assert len(frames2) == 4
    image = frames2[1].image
    assert image.shape == (1, 3, 48, 64)
    assert float((image[..., :47, :63] - frames[1].image).abs().mean()) < 0.03
    assert float((image[..., :, 63] - image[..., :, 62]).abs().max()) < 0.1  # repeated last column
    assert float((image[..., 47, :] - image[..., 46, :]).abs().max()) < 0.1  # repeated last row


# ------------------------------------------------------------------------------------------------ audio


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_audio_packets_are_copied_unchanged(tmp_path: Path, suffix: str) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=15, audio=True)
    info, _ = read_all(clip)
    assert info.audio == AudioInfo("aac", 44_100, 2)
    out = tmp_path / f"out{suffix}"
    writer = copy_video(clip, out)
    assert writer.audio_note == "audio copied (aac)"
    source, copied = audio_packets(clip), audio_packets(out)
    assert len(copied) == len(source) > 10
    assert [data for data, _, _ in copied] == [data for data, _, _ in source]
    assert audio_times(out) == pytest.approx(audio_times(clip), abs=0.0011)  # mkv keeps milliseconds
    assert stream_codecs(out) == [("video", "h264"), ("audio", "aac")]


def test_audio_of_a_range_is_copied_and_shifted(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=20, audio=True)
    out = tmp_path / "out.mp4"
    with open_video(clip, start=0.2, duration=0.4) as video:
        info = video.info
        with VideoWriter(
            out,
            width=info.width,
            height=info.height,
            fps=info.fps,
            time_base=info.time_base,
            audio_from=clip,
            audio_start=video.start_time,
            audio_duration=0.4,
        ) as writer:
            for frame in video:
                writer.write(frame.image, frame.pts)
    source = audio_packets(clip)
    copied = audio_packets(out)
    source_bytes = [data for data, _, _ in source]
    first = source_bytes.index(copied[0][0])
    assert [data for data, _, _ in copied] == source_bytes[first : first + len(copied)]
    start = source[first][1] * source[first][2]  # type: ignore[operator]
    assert float(start) == pytest.approx(0.2, abs=1024 / 44_100)
    assert 0.4 - 1024 / 44_100 <= len(copied) * 1024 / 44_100 <= 0.4 + 1024 / 44_100
    assert copied[0][1] is not None and copied[0][2] is not None
    assert float(copied[0][1] * copied[0][2]) == pytest.approx(0.0, abs=1024 / 44_100)
    _, frames = read_all(out)
    assert [frame_index(f.image) for f in frames] == list(range(5, 15))


def test_mp4_transcodes_audio_it_cannot_hold(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mov", frames=10, audio=True, audio_codec="pcm_s16le")
    out = tmp_path / "out.mp4"
    writer = copy_video(clip, out)
    assert writer.audio_note == "audio transcoded to aac: mp4 cannot hold pcm_s16le"
    assert stream_codecs(out) == [("video", "h264"), ("audio", "aac")]
    assert audio_times(out)[-1] == pytest.approx(0.4, abs=0.05)
    mkv = tmp_path / "out.mkv"
    assert copy_video(clip, mkv).audio_note == "audio copied (pcm_s16le)"


def test_webm_transcodes_audio_to_opus(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=10, audio=True)
    out = tmp_path / "out.webm"
    assert output_kind(out) == "webm"
    writer = copy_video(clip, out)
    assert writer.audio_note == "audio transcoded to opus: webm cannot hold aac"
    assert stream_codecs(out) == [("video", "vp9"), ("audio", "opus")]
    assert len(audio_packets(out)) > 10
    info, frames = read_all(out)
    assert len(frames) == 10 and (info.width, info.height) == (64, 48)
    assert [frame_index(f.image) for f in frames] == list(range(10))


def test_gif_has_no_sound(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=6, width=33, height=21, pix_fmt="yuv444p", audio=True)
    out = tmp_path / "out.gif"
    assert output_kind(out) == "gif"
    writer = copy_video(clip, out)
    assert writer.audio_note == "gif has no sound: audio dropped"
    assert writer.padded_size == (33, 21)
    assert stream_codecs(out) == [("video", "gif")]
    info, frames = read_all(out)
    assert (info.width, info.height) == (33, 21) and info.audio is None
    assert [frame_index(f.image) for f in frames] == list(range(6))
    assert [f.time for f in frames] == pytest.approx([i * 0.04 for i in range(6)])


def test_folder_output_drops_sound(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=3, audio=True)
    writer = copy_video(clip, tmp_path / "frames")
    assert writer.audio_note == "a folder of frames has no sound: audio dropped"


# ------------------------------------------------------------------------------------ writer lifecycle


def test_nothing_under_the_output_name_until_close_and_abort_cleans_up(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    with (
        pytest.raises(RuntimeError, match="boom"),
        VideoWriter(out, width=64, height=48, fps=25, time_base=Fraction(1, 25)) as writer,
    ):
        for index in range(3):
            writer.write(torch.rand(1, 3, 48, 64), index)
        assert not out.exists()
        assert hidden_files(tmp_path) == [".out.part.mp4"]
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []

    frames = tmp_path / "frames"
    writer = VideoWriter(frames, width=16, height=16, fps=25, time_base=Fraction(1, 25))
    writer.write(torch.rand(1, 3, 16, 16), 0)
    assert not frames.exists()
    writer.abort()
    writer.abort()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OutputError, match="closed"):
        writer.write(torch.rand(1, 3, 16, 16), 1)


def test_close_partial_gives_a_playable_file(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=20, audio=True)
    out = tmp_path / "out.mp4"
    with open_video(clip) as video:
        info = video.info
        writer = VideoWriter(out, width=64, height=48, fps=info.fps, time_base=info.time_base, audio_from=clip)
        with writer:
            for frame in video:
                writer.write(frame.image, frame.pts)
                if frame.index == 6:
                    partial = writer.close_partial()
                    break
    assert partial == tmp_path / "out.partial.mp4"
    assert not out.exists() and hidden_files(tmp_path) == []
    info2, frames = read_all(partial)
    assert [frame_index(f.image) for f in frames] == list(range(7))
    assert info2.audio is not None
    copied = audio_packets(partial)
    last = copied[-1][1] * copied[-1][2]  # type: ignore[operator]
    assert 0.2 <= float(last) <= 0.32  # sound up to the last frame written (7 frames = 0.28 s)


def test_close_partial_of_frames(tmp_path: Path) -> None:
    out = tmp_path / "frames"
    writer = VideoWriter(out, width=16, height=12, fps=10, time_base=Fraction(1, 10))
    writer.write(torch.rand(1, 3, 12, 16), 0)
    writer.write(torch.rand(1, 3, 12, 16), 1)
    partial = writer.close_partial()
    assert partial == tmp_path / "frames.partial"
    assert sorted(p.name for p in partial.iterdir()) == ["frame_000001.png", "frame_000002.png"]
    assert not out.exists()


def test_closing_without_frames_fails(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    writer = VideoWriter(out, width=64, height=48, fps=25, time_base=Fraction(1, 25))
    with pytest.raises(OutputError, match="no frames were written") as error:
        writer.close()
    assert str(out) in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_writer_checks_its_arguments(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unsupported output container"):
        VideoWriter(tmp_path / "out.avi", width=8, height=8, fps=25, time_base=Fraction(1, 25))
    with pytest.raises(ConfigError, match="width"):
        VideoWriter(tmp_path / "out.mp4", width=0, height=8, fps=25, time_base=Fraction(1, 25))
    with pytest.raises(ConfigError, match="fps"):
        VideoWriter(tmp_path / "out.mp4", width=8, height=8, fps=0, time_base=Fraction(1, 25))
    writer = VideoWriter(tmp_path / "out.mp4", width=16, height=16, fps=25, time_base=Fraction(1, 25))
    with pytest.raises(ConfigError, match="shape"):
        writer.write(torch.rand(1, 3, 8, 8), 0)
    writer.write(torch.rand(1, 3, 16, 16), 5)
    with pytest.raises(ConfigError, match="increase"):
        writer.write(torch.rand(1, 3, 16, 16), 5)
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    target = blocker / "out.mp4"
    with pytest.raises(OutputError) as error:
        VideoWriter(target, width=16, height=16, fps=25, time_base=Fraction(1, 25))
    message = str(error.value)
    assert str(target) in message and "\n" not in message


def test_output_kind() -> None:
    assert [output_kind(f"x{s}") for s in (".mp4", ".MOV", ".mkv", ".webm", ".gif", "")] == [
        "mp4",
        "mp4",
        "mp4",
        "webm",
        "gif",
        "frames",
    ]
    with pytest.raises(ConfigError, match="unsupported output container"):
        output_kind("x.flv")
    assert set(VIDEO_SUFFIXES) == {".mp4", ".mov", ".mkv", ".webm", ".gif", ".avi", ".m4v"}


# ------------------------------------------------------------------------------------------- bad inputs


def expect_input_error(path: Path, match: str, **options: object) -> str:
    with pytest.raises(InputVideoError, match=match) as error, open_video(path, **options) as video:  # type: ignore[arg-type]
        list(video)
    message = str(error.value)
    assert str(path) in message and "\n" not in message
    return message


def test_missing_file(tmp_path: Path) -> None:
    expect_input_error(tmp_path / "nope.mp4", "no such file")


def test_not_a_video(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("hello, this is not a video\n" * 20)
    expect_input_error(text, "not a video")
    image = tmp_path / "still.png"
    save_image(torch.rand(1, 3, 16, 16), image)
    expect_input_error(image, "an image, not a video")
    renamed = tmp_path / "still.mp4"
    renamed.write_bytes(image.read_bytes())
    expect_input_error(renamed, "not a video")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    expect_input_error(empty, "empty")


def test_unsupported_container(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=2)
    renamed = tmp_path / "in.flv"
    renamed.write_bytes(clip.read_bytes())
    expect_input_error(renamed, "unsupported container .flv")


def test_truncated_file(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=40, faststart=True)
    data = clip.read_bytes()
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(data[: len(data) * 6 // 10])
    seen: list[int] = []
    with pytest.raises(InputVideoError, match="truncated") as error, open_video(truncated) as video:
        for frame in video:
            seen.append(frame.index)
    assert 5 < len(seen) < 40  # the frames before the cut came out first
    assert str(truncated) in str(error.value) and "\n" not in str(error.value)
    # a range that ends before the cut reads without error
    _, frames = read_all(truncated, duration=0.1)
    assert len(frames) == 3

    plain = make_clip(tmp_path / "plain.mp4", frames=20)  # index at the end: cut off with the end
    data = plain.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    expect_input_error(truncated, "truncated or corrupt")

    matroska = tmp_path / "whole.mkv"
    copy_video(clip, matroska)  # no index before the frames: the stated length tells
    data = matroska.read_bytes()
    cut_mkv = tmp_path / "cut.mkv"
    cut_mkv.write_bytes(data[: len(data) * 6 // 10])
    expect_input_error(cut_mkv, "truncated: its frames stop at")
    _, frames = read_all(matroska)
    assert len(frames) == 40


def test_no_video_stream(tmp_path: Path) -> None:
    sound = make_clip(tmp_path / "sound.mp4", frames=10, audio=True, video=False)
    expect_input_error(sound, "no video stream")


def test_zero_frames(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=5)
    expect_input_error(clip, "no frames", start=10.0)


def test_pixel_cap(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=2)
    message = expect_input_error(clip, "above the limit", max_pixels=1000)
    assert "64x48" in message
    _, frames = read_all(clip, max_pixels=64 * 48)
    assert len(frames) == 2


@pytest.mark.parametrize(
    "options",
    [{"start": -1.0}, {"duration": 0.0}, {"duration": -2.0}, {"fps": 0.0}, {"long_side": 8}, {"folder_fps": 0}],
)
def test_bad_options(tmp_path: Path, options: dict[str, object]) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=2)
    with pytest.raises(ConfigError):
        open_video(clip, **options)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ shared data


@pytest.mark.shared_data
def test_bunny_from_two_seconds() -> None:
    bunny = SHARED_DATA / "video" / "bunny.mp4"
    if not bunny.is_file():
        pytest.skip(f"{bunny} is absent")
    with open_video(bunny, start=2.0) as video:
        info = video.info
        frames = []
        for frame in video:
            frames.append(frame)
            if len(frames) == 10:
                break
    assert info.audio is not None and info.audio.codec == "aac"
    assert (info.width, info.height) == (640, 360) and info.fps == pytest.approx(24.0)
    assert video.start_time == pytest.approx(2.0)
    assert [f.pts for f in frames][:1] == [0]
    assert [f.time for f in frames] == pytest.approx([i / 24 for i in range(10)])
    assert all(f.image.shape == (1, 3, 360, 640) for f in frames)
