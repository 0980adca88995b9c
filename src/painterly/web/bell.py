"""Wakes the event streams of a job when the worker thread records something for it (no busy polling)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class EventBell:
    def __init__(self) -> None:
        self._waiting: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._lock = threading.Lock()

    def ring(self, job_id: str) -> None:
        """Called from any thread after an event of ``job_id`` was stored."""
        with self._lock:
            listeners = list(self._waiting.get(job_id, ()))
        for loop, event in listeners:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # the loop has closed
                continue

    @contextmanager
    def listen(self, job_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever ``job_id`` rings; clear it before reading, then await it."""
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiting.setdefault(job_id, set()).add(entry)
        try:
            yield entry[1]
        finally:
            with self._lock:
                listeners = self._waiting.get(job_id)
                if listeners is not None:
                    listeners.discard(entry)
                    if not listeners:
                        del self._waiting[job_id]
