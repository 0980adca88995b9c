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
from .lock import DataFolderLock
from .settings import StudioSettings
from .spec import StudioOptions
from .store import Job, JobState, JobStore

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
        self._lock = DataFolderLock(settings.data_dir)

    def folder(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def start(self) -> None:
        """Take the data folder (one studio per folder), mark jobs a previous server left running as interrupted,
        remove folders no job owns, apply the retention policy, start working."""
        self._lock.acquire()
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.store.interrupt_running()
        known = self.store.ids()
        for folder in self.jobs_dir.iterdir():
            if folder.name not in known:  # an upload whose job was never created (the server was killed)
                shutil.rmtree(folder, ignore_errors=True)
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
        self._lock.release()

    def wake(self) -> None:
        self._wake.set()

    def cancel(self, job: Job) -> None:
        """Cancel a queued job now, a running one at its next progress report (or when its pass ends)."""
        cancelled = self.store.finish(job.id, "cancelled", error="cancelled before it started", from_states=("queued",))
        if not cancelled:  # running (perhaps claimed a moment ago): the worker stops it
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

    def _finish(self, job: Job, state: JobState, message: str) -> None:
        """End a running job with an error message that names files inside its folder only."""
        text = message.replace(f"{self.folder(job.id)}/", "").replace(str(self.folder(job.id)), "the job folder")
        self.store.finish(job.id, state, error=text, from_states=("running",))

    def _is_cancelled(self, job_id: str) -> bool:
        if self._stopping.is_set():
            return True
        with self._cancel_lock:
            return job_id in self._cancel

    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                job = self.store.claim_next()
                if job is None:
                    self._wake.wait(1.0)
                    self._wake.clear()
                    continue
                self._run(job)
                self.clean_up()
            except Exception:  # e.g. the disk is full: keep the worker alive, try again shortly
                log.exception("the job worker hit an error")
                self._stopping.wait(1.0)

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
                self._finish(job, "interrupted", "the server stopped while this job ran; resubmit it")
            else:
                self._finish(job, "cancelled", "cancelled")
        except PainterlyError as error:
            self._finish(job, "failed", str(error))
        except Exception as error:  # a bug must fail the job, not the worker
            log.exception("job %s failed", job.id)
            self._finish(job, "failed", f"internal error: {type(error).__name__}: {error}")
        else:
            self.store.finish(job.id, "done", record=record, from_states=("running",))
        finally:
            with self._cancel_lock:
                self._cancel.discard(job.id)
