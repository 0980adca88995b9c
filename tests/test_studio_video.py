"""A video dropped into the studio runs through the video pipeline and comes back as an MP4."""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path

import torch
from fastapi.testclient import TestClient

from painterly.video.io import VideoWriter
from painterly.video.reader import open_video
from painterly.web.app import create_app
from painterly.web.settings import StudioSettings

FRAMES = 6


def small_clip(path: Path) -> Path:
    with VideoWriter(path, width=64, height=48, fps=10, time_base=Fraction(1, 10)) as writer:
        for index in range(FRAMES):
            frame = torch.zeros(1, 3, 48, 64)
            frame[:, 0] = torch.linspace(0, 1, 64) * (index + 1) / FRAMES
            frame[:, 2, 10:30, 8 + 4 * index : 28 + 4 * index] = 1.0
            writer.write(frame, index)
    return path


def test_a_video_job_gives_a_stylised_mp4(tmp_path: Path) -> None:
    clip = small_clip(tmp_path / "clip.mp4")
    app = create_app(StudioSettings(data_dir=tmp_path / "studio"))
    with TestClient(app, base_url="http://127.0.0.1:8765") as client:
        answer = client.post(
            "/api/jobs",
            files={"photo": ("clip.mp4", clip.read_bytes(), "video/mp4")},
            data={"method": "preset", "preset": "starry_night", "size": "64"},
        )
        assert answer.status_code == 202, answer.text
        job = answer.json()
        assert job["kind"] == "video"
        deadline = time.monotonic() + 120
        while (state := client.get(job["links"]["self"]).json())["state"] in ("queued", "running"):
            assert time.monotonic() < deadline, "the video job did not finish"
            time.sleep(0.1)
        assert state["state"] == "done", state["error"]
        assert state["record"]["frames"] == FRAMES
        assert state["progress"]["step"] == FRAMES
        result = client.get(job["links"]["result"], params={"download": 1})
        assert result.status_code == 200
        assert result.headers["content-type"] == "video/mp4"
        assert "attachment" in result.headers["content-disposition"]
        assert client.get(job["links"]["input"]).status_code == 404  # no still photo for a video
        poster = client.get(job["links"]["preview"])  # the gallery's picture: the first stylised frame
        assert poster.status_code == 200 and poster.headers["content-type"] == "image/jpeg"
    saved = tmp_path / "result.mp4"
    saved.write_bytes(result.content)
    with open_video(saved) as video:
        assert (video.info.width, video.info.height) == (64, 48)
        assert sum(1 for _ in video) == FRAMES
