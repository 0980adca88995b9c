"""The JSON shapes the API returns (pydantic models: they make the OpenAPI schema)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from .store import Job, JobStore


class Progress(BaseModel):
    fraction: float = 0.0
    step: int | None = None
    total: int | None = None
    losses: dict[str, float] | None = None
    preview: int | None = None
    fps: float | None = None


class Links(BaseModel):
    self: str
    events: str
    result: str
    preview: str
    input: str


class JobView(BaseModel):
    id: str
    state: str
    kind: str
    method: str
    options: dict[str, Any]
    created: str
    started: str | None
    finished: str | None
    progress: Progress | None
    error: str | None
    record: dict[str, Any] | None
    queue_position: int | None
    links: Links


class JobList(BaseModel):
    jobs: list[JobView]


class PresetView(BaseModel):
    name: str
    index: int


class PresetList(BaseModel):
    presets: list[PresetView]
    webcam_model: str


class Health(BaseModel):
    status: str
    queued: int
    running: int


class ErrorDetail(BaseModel):
    status: int
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


def _time(value: float | None) -> str | None:
    return None if value is None else datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds")


def job_view(job: Job, store: JobStore) -> JobView:
    base = f"/api/jobs/{job.id}"
    return JobView(
        id=job.id,
        state=job.state,
        kind=job.kind,
        method=job.method,
        options=job.options,
        created=_time(job.created) or "",
        started=_time(job.started),
        finished=_time(job.finished),
        progress=None if job.progress is None else Progress(**job.progress),
        error=job.error,
        record=job.record,
        queue_position=store.queue_position(job),
        links=Links(
            self=base,
            events=f"{base}/events",
            result=f"{base}/result",
            preview=f"{base}/preview",
            input=f"{base}/input",
        ),
    )
