"""Jobs and their events in SQLite: they outlive the server process.

A job is a row (state, method, options, input files, progress, run record); its events (state changes, progress,
the end) are numbered rows that an SSE client reads after the last id it saw. One connection serves every thread,
guarded by a lock: the studio's load is a handful of writes per second.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

JobState = Literal["queued", "running", "done", "failed", "cancelled", "interrupted"]
JOB_STATES: tuple[JobState, ...] = ("queued", "running", "done", "failed", "cancelled", "interrupted")
ACTIVE_STATES: tuple[JobState, ...] = ("queued", "running")
FINAL_STATES: tuple[JobState, ...] = ("done", "failed", "cancelled", "interrupted")
JobKind = Literal["image", "video"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    number INTEGER NOT NULL,
    state TEXT NOT NULL,
    kind TEXT NOT NULL,
    method TEXT NOT NULL,
    options TEXT NOT NULL,
    inputs TEXT NOT NULL,
    client TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    progress TEXT,
    error TEXT,
    record TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, number);
CREATE TABLE IF NOT EXISTS events (
    job_id TEXT NOT NULL,
    id INTEGER NOT NULL,
    event TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (job_id, id)
);
"""


@dataclass(frozen=True)
class JobInput:
    """An uploaded file kept in the job's folder."""

    role: str
    """``photo``, ``style1``, ``style2``."""
    file: str
    """Name inside the job folder (chosen by the server, never the client's name)."""
    name: str
    """The client's file name, for display and the run record only."""


@dataclass(frozen=True)
class Job:
    id: str
    number: int
    state: JobState
    kind: JobKind
    method: str
    options: dict[str, Any]
    inputs: tuple[JobInput, ...]
    client: str
    created: float
    started: float | None
    finished: float | None
    progress: dict[str, Any] | None
    error: str | None
    record: dict[str, Any] | None

    def input(self, role: str) -> JobInput | None:
        return next((item for item in self.inputs if item.role == role), None)


@dataclass(frozen=True)
class Event:
    id: int
    event: str
    data: dict[str, Any]


def new_job_id() -> str:
    return uuid.uuid4().hex


def is_job_id(text: str) -> bool:
    """Job ids are 32 lowercase hex digits: nothing else ever reaches the file system."""
    return len(text) == 32 and all(char in "0123456789abcdef" for char in text)


class JobStore:
    """The SQLite file of jobs and events (created on first use)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._connection.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        self._listeners: list[Callable[[str], None]] = []
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.executescript(_SCHEMA)

    def subscribe(self, listener: Callable[[str], None]) -> None:
        """``listener(job_id)`` is called (on the writing thread) after every event stored for a job."""
        self._listeners.append(listener)

    def _notify(self, job_id: str) -> None:
        for listener in self._listeners:
            listener(job_id)

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            cursor = self._connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")

    def create(
        self,
        job_id: str,
        *,
        kind: JobKind,
        method: str,
        options: dict[str, Any],
        inputs: list[JobInput],
        client: str,
        queue_limit: int | None = None,
    ) -> Job | None:
        """Add a queued job; None (nothing added) when ``queue_limit`` jobs are already waiting."""
        with self._transaction() as cursor:
            if queue_limit is not None:
                waiting = cursor.execute("SELECT COUNT(*) FROM jobs WHERE state = 'queued'").fetchone()[0]
                if waiting >= queue_limit:
                    return None
            number = cursor.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM jobs").fetchone()[0]
            cursor.execute(
                "INSERT INTO jobs (id, number, state, kind, method, options, inputs, client, created) "
                "VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    number,
                    kind,
                    method,
                    json.dumps(options),
                    json.dumps([vars(item) for item in inputs]),
                    client,
                    time.time(),
                ),
            )
            self._append_event(cursor, job_id, "state", {"state": "queued"})
        self._notify(job_id)
        return self.get(job_id)

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._connection.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _job_from_row(row)

    def recent(self, limit: int) -> list[Job]:
        with self._lock:
            rows = self._connection.execute("SELECT * FROM jobs ORDER BY number DESC LIMIT ?", (limit,)).fetchall()
        return [_job_from_row(row) for row in rows]

    def queue_position(self, job: Job) -> int | None:
        """Jobs waiting ahead of a queued one (0 = next), None when it is not queued."""
        if job.state != "queued":
            return None
        with self._lock:
            row = self._connection.execute(
                "SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND number < ?", (job.number,)
            ).fetchone()
        return int(row[0])

    def claim_next(self) -> Job | None:
        """The oldest queued job, now running; None when nothing waits."""
        with self._transaction() as cursor:
            row = cursor.execute("SELECT id FROM jobs WHERE state = 'queued' ORDER BY number LIMIT 1").fetchone()
            if row is None:
                return None
            cursor.execute("UPDATE jobs SET state = 'running', started = ? WHERE id = ?", (time.time(), row["id"]))
            self._append_event(cursor, row["id"], "state", {"state": "running"})
        self._notify(row["id"])
        return self.get(row["id"])

    def finish(
        self,
        job_id: str,
        state: JobState,
        *,
        error: str | None = None,
        record: dict[str, Any] | None = None,
        final_event: dict[str, Any] | None = None,
        from_states: tuple[JobState, ...] = ACTIVE_STATES,
    ) -> bool:
        """Move a job in one of ``from_states`` to a final state and append its last event; False (nothing changed)
        when it was in another state — the caller lost a race (a queued job claimed, a running one finished)."""
        marks = ", ".join("?" for _ in from_states)
        with self._transaction() as cursor:
            changed = cursor.execute(
                "UPDATE jobs SET state = ?, finished = ?, error = ?, record = COALESCE(?, record) "
                f"WHERE id = ? AND state IN ({marks})",
                (state, time.time(), error, None if record is None else json.dumps(record), job_id, *from_states),
            ).rowcount
            if changed:
                self._append_event(cursor, job_id, state, final_event or {"state": state, "error": error})
        if changed:
            self._notify(job_id)
        return bool(changed)

    def set_progress(self, job_id: str, progress: dict[str, Any]) -> None:
        """Record a running job's progress (and its event); nothing once the job has left ``running``."""
        with self._transaction() as cursor:
            changed = cursor.execute(
                "UPDATE jobs SET progress = ? WHERE id = ? AND state = 'running'", (json.dumps(progress), job_id)
            ).rowcount
            if changed:
                self._append_event(cursor, job_id, "progress", progress)
        if changed:
            self._notify(job_id)

    def events_after(self, job_id: str, after: int) -> list[Event]:
        with self._lock:
            rows = self._connection.execute(
                "SELECT id, event, data FROM events WHERE job_id = ? AND id > ? ORDER BY id", (job_id, after)
            ).fetchall()
        return [Event(row["id"], row["event"], json.loads(row["data"])) for row in rows]

    def interrupt_running(self) -> list[str]:
        """At start: jobs a previous server left running are marked interrupted (they can be resubmitted)."""
        with self._transaction() as cursor:
            ids = [row["id"] for row in cursor.execute("SELECT id FROM jobs WHERE state = 'running'").fetchall()]
            for job_id in ids:
                message = "the server stopped while this job ran; resubmit it"
                cursor.execute(
                    "UPDATE jobs SET state = 'interrupted', finished = ?, error = ? WHERE id = ?",
                    (time.time(), message, job_id),
                )
                self._append_event(cursor, job_id, "interrupted", {"state": "interrupted", "error": message})
        for job_id in ids:
            self._notify(job_id)
        return ids

    def ids(self) -> set[str]:
        with self._lock:
            return {row["id"] for row in self._connection.execute("SELECT id FROM jobs").fetchall()}

    def count(self, state: JobState) -> int:
        with self._lock:
            return int(self._connection.execute("SELECT COUNT(*) FROM jobs WHERE state = ?", (state,)).fetchone()[0])

    def delete(self, job_id: str) -> None:
        with self._transaction() as cursor:
            cursor.execute("DELETE FROM events WHERE job_id = ?", (job_id,))
            cursor.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        self._notify(job_id)

    def expired(self, *, keep: int, older_than: float) -> list[str]:
        """Finished jobs beyond the newest ``keep`` or finished before the time ``older_than``."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT id, finished FROM jobs WHERE state NOT IN ('queued', 'running') ORDER BY number DESC"
            ).fetchall()
        return [row["id"] for index, row in enumerate(rows) if index >= keep or (row["finished"] or 0) < older_than]

    @staticmethod
    def _append_event(cursor: sqlite3.Cursor, job_id: str, event: str, data: dict[str, Any]) -> int:
        number = cursor.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM events WHERE job_id = ?", (job_id,)).fetchone()
        cursor.execute(
            "INSERT INTO events (job_id, id, event, data) VALUES (?, ?, ?, ?)",
            (job_id, number[0], event, json.dumps(data)),
        )
        return int(number[0])


def _job_from_row(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        number=row["number"],
        state=cast(JobState, row["state"]),
        kind=cast(JobKind, row["kind"]),
        method=row["method"],
        options=json.loads(row["options"]),
        inputs=tuple(JobInput(**item) for item in json.loads(row["inputs"])),
        client=row["client"],
        created=row["created"],
        started=row["started"],
        finished=row["finished"],
        progress=None if row["progress"] is None else json.loads(row["progress"]),
        error=row["error"],
        record=None if row["record"] is None else json.loads(row["record"]),
    )
