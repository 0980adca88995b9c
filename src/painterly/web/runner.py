"""The worker that runs queued jobs one at a time (the CPU is the bottleneck: one job uses every core).

Submitting wakes it; cancelling a queued job removes it from the queue, cancelling a running one stops it at its
next progress report. Stopping the server interrupts the running job (it can be resubmitted); queued jobs stay
queued and run after the next start. Finished jobs beyond the retention policy are deleted after every job.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import PainterlyError
from .execute import JobCancelledError, JobFiles, JobReporter, run_job
from .settings import StudioSettings
from .spec import StudioOptions
from .store import Job, JobStore

log = logging.getLogger("painterly.web")


class JobRunner:
    def __init__(self, store: JobStore, settings: StudioSettings) -> None:
        self.store = store
        self.settings = settings
        self.jobs_dir = settings.data_dir / "jobs"
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._cancel: set[str] = set()
        self._cancel_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def folder(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def start(self) -> None:
        """Mark jobs a previous server left running as interrupted, apply the retention policy, start working."""
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.store.interrupt_running()
        self.clean_up()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._work, name="painterly-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        self._wake.set()

    def cancel(self, job: Job) -> None:
        """Cancel a queued job now, a running one at its next progress report."""
        if job.state == "queued" and self.store.finish(job.id, "cancelled", error="cancelled before it started"):
            return
        with self._cancel_lock:
            self._cancel.add(job.id)

    def delete(self, job_id: str) -> None:
        self.store.delete(job_id)
        shutil.rmtree(self.folder(job_id), ignore_errors=True)

    def clean_up(self) -> list[str]:
        """Delete finished jobs beyond the newest ``keep_jobs`` or older than ``keep_days``."""
        cutoff = time.time() - self.settings.keep_days * 86400
        expired = self.store.expired(keep=self.settings.keep_jobs, older_than=cutoff)
        for job_id in expired:
            self.delete(job_id)
        return expired

    def _is_cancelled(self, job_id: str) -> bool:
        if self._stopping.is_set():
            return True
        with self._cancel_lock:
            return job_id in self._cancel

    def _work(self) -> None:
        while not self._stopping.is_set():
            job = self.store.claim_next()
            if job is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            self._run(job)
            self.clean_up()

    def _run(self, job: Job) -> None:
        folder = self.folder(job.id)
        photo = job.input("photo")
        files = JobFiles(
            folder=folder,
            photo=folder / (photo.file if photo else "missing"),
            styles=tuple(folder / item.file for item in job.inputs if item.role.startswith("style")),
        )

        def progress(record: dict[str, Any]) -> None:
            self.store.set_progress(job.id, record)

        reporter = JobReporter(
            progress=progress,
            cancelled=lambda: self._is_cancelled(job.id),
            preview_seconds=self.settings.preview_seconds,
        )
        try:
            options = StudioOptions.from_dict(job.options)
            record = run_job(job.method, options, files, reporter, max_pixels=self.settings.max_pixels)
        except JobCancelledError:
            if self._stopping.is_set():
                self.store.finish(job.id, "interrupted", error="the server stopped while this job ran; resubmit it")
            else:
                self.store.finish(job.id, "cancelled", error="cancelled")
        except PainterlyError as error:
            self.store.finish(job.id, "failed", error=str(error).replace(f"{folder}/", ""))
        except Exception as error:  # a bug must fail the job, not the worker
            log.exception("job %s failed", job.id)
            self.store.finish(job.id, "failed", error=f"internal error: {type(error).__name__}: {error}")
        else:
            self.store.finish(job.id, "done", record=record)
        finally:
            with self._cancel_lock:
                self._cancel.discard(job.id)
