"""Helpers for the studio's API tests: tiny pictures, a test client on a temporary data folder, jobs and SSE events.

``studio(tmp_path, ...)`` is a :class:`TestClient` that is not started: used as a context manager it runs the app's
lifespan (the job worker works); used without ``with`` nothing runs the jobs, so they stay queued.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from fastapi.testclient import TestClient
from PIL import Image

from painterly.web.app import create_app
from painterly.web.settings import StudioSettings
from painterly.web.spec import StudioOptions
from painterly.web.store import FINAL_STATES, JobInput, JobStore

BASE_URL = "http://127.0.0.1:8765"
PRESET = "starry_night"
SECURITY_HEADERS = {
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-embedder-policy": "require-corp",
    "x-content-type-options": "nosniff",
}
DEADLINE = 60.0


def picture(width: int = 96, height: int = 64, *, fmt: str = "PNG", seed: int = 0) -> bytes:
    """A small colourful picture with some texture, encoded as ``fmt``."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / max(width - 1, 1), y * 255 / max(height - 1, 1), np.full_like(x, 128.0)], axis=-1)
    noisy = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noisy).save(buffer, fmt)
    return buffer.getvalue()


def studio(data_dir: Path, **settings: Any) -> TestClient:
    """A client of a new app on ``data_dir`` (previews as often as possible unless ``preview_seconds`` is given)."""
    settings.setdefault("preview_seconds", 0.0)
    app = create_app(StudioSettings(data_dir=data_dir, **settings))
    return TestClient(app, base_url=BASE_URL)


def submit(
    client: TestClient,
    photo: bytes | None = None,
    *,
    photo_name: str = "photo.png",
    styles: Sequence[bytes] = (),
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> httpx.Response:
    """POST /api/jobs: the photo (a default picture), paintings, and form fields (``method="preset"`` and
    ``preset=PRESET`` unless given; a field set to None is left out)."""
    fields.setdefault("method", "preset")
    if fields["method"] == "preset":
        fields.setdefault("preset", PRESET)
    files: list[tuple[str, tuple[str, bytes, str]]] = [
        ("photo", (photo_name, picture() if photo is None else photo, "application/octet-stream"))
    ]
    files += [("style", (f"painting{index}.png", data, "image/png")) for index, data in enumerate(styles)]
    data = {key: str(value) for key, value in fields.items() if value is not None}
    response: httpx.Response = client.post("/api/jobs", files=files, data=data, headers=headers)
    return response


def submitted(client: TestClient, photo: bytes | None = None, **kwargs: Any) -> dict[str, Any]:
    """Submit a job that must be accepted; its Job."""
    response = submit(client, photo, **kwargs)
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    return job


def wait_for(client: TestClient, job_id: str, states: Sequence[str] = FINAL_STATES, deadline: float = DEADLINE) -> Any:
    """Poll the job until its state is one of ``states``; its Job."""
    end = time.monotonic() + deadline
    while True:
        response = client.get(f"/api/jobs/{job_id}")
        assert response.status_code == 200, response.text
        job = response.json()
        if job["state"] in states:
            return job
        assert time.monotonic() < end, f"job {job_id} still {job['state']} after {deadline} s (waiting for {states})"
        time.sleep(0.05)


def poll(condition: Any, deadline: float = DEADLINE, what: str = "condition") -> None:
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"{what} not met within {deadline} s"
        time.sleep(0.05)


@dataclass(frozen=True)
class Event:
    id: int
    event: str
    data: Any


def parse_events(lines: Iterator[str]) -> Iterator[Event]:
    """Server-sent events from the lines of a stream (``id`` as int, ``data`` decoded from JSON)."""
    fields: dict[str, list[str]] = {}
    for line in lines:
        if not line:
            if "data" in fields:
                yield Event(
                    int(fields["id"][0]), fields.get("event", ["message"])[0], json.loads("\n".join(fields["data"]))
                )
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        fields.setdefault(name, []).append(value.removeprefix(" "))


def events(
    client: TestClient, job_id: str, *, headers: dict[str, str] | None = None, params: dict[str, Any] | None = None
) -> list[Event]:
    """The job's events from its SSE stream, up to the end of the stream (the final event)."""
    with client.stream("GET", f"/api/jobs/{job_id}/events", headers=headers, params=params) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(parse_events(response.iter_lines()))


def assert_error(response: httpx.Response, status: int, code: str | None = None, says: str | None = None) -> str:
    """The response is the studio's JSON error with this status (and code; its message containing ``says``)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"status", "code", "message"}, error
    assert error["status"] == status
    assert isinstance(error["message"], str) and error["message"], error
    if code is not None:
        assert error["code"] == code, error
    if says is not None:
        assert says in error["message"], error
    message: str = error["message"]
    return message


def assert_secured(response: httpx.Response) -> None:
    """The isolation headers and a content security policy are on the response."""
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.headers)
    assert "default-src 'self'" in response.headers.get("content-security-policy", "")


def job_folders(data_dir: Path) -> set[str]:
    folder = data_dir / "jobs"
    return {path.name for path in folder.iterdir()} if folder.is_dir() else set()


def stored_job(
    store: JobStore, data_dir: Path, *, preset: str = PRESET, size: int = 64, photo: bytes | None = None
) -> str:
    """A queued preset job made with the store itself, its photo in its folder (as the API would keep it)."""
    from painterly.web.store import new_job_id

    job_id = new_job_id()
    folder = data_dir / "jobs" / job_id
    folder.mkdir(parents=True)
    (folder / "photo.png").write_bytes(picture() if photo is None else photo)
    created = store.create(
        job_id,
        kind="image",
        method="preset",
        options=StudioOptions(kind="image", preset=preset, size=size).as_dict(),
        inputs=[JobInput(role="photo", file="photo.png", name="photo.png")],
        client="testclient",
    )
    assert created is not None
    return job_id


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


def image_format(data: bytes) -> str | None:
    with Image.open(io.BytesIO(data)) as image:
        return image.format
