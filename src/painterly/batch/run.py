"""Run a batch job: in this process, or on Ray Data with a pool of stateful actors (one machine or a cluster).

Either way the driver appends each finished image to the manifest as its result arrives, so an interrupted job
resumes with what is missing; a failed image goes to the failure list and the job goes on.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import reason_of
from ..errors import ConfigError
from .plan import FAILURES_NAME, MANIFEST_NAME, Item, append_lines, pending
from .worker import BatchSettings, BatchWorker


@dataclass
class BatchSummary:
    total: int = 0
    skipped: int = 0
    """Already done by an earlier run (output present, checksum and settings as recorded)."""
    done: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    engine: str = "in-process"
    startup_seconds: float = 0.0
    """Ray's start and the actors' first batch are in here too: time to the first result."""


ResultCallback = Callable[[dict[str, Any], BatchSummary], None]


def ray_available() -> bool:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        return False
    return True


def run_batch(
    items: Sequence[Item],
    settings: BatchSettings,
    output_dir: Path,
    *,
    engine: str = "auto",
    workers: int = 1,
    address: str | None = None,
    batch_size: int = 4,
    on_result: ResultCallback | None = None,
) -> BatchSummary:
    """Stylise the items not yet done. ``engine``: ``ray``, ``local`` (in-process) or ``auto`` (Ray when installed).

    On Ctrl-C the results so far are in the manifest; the interrupt propagates.
    """
    if engine not in ("auto", "ray", "local"):
        raise ConfigError(f"engine must be auto, ray or local, got {engine!r}")
    if workers < 1 or batch_size < 1:
        raise ConfigError("workers and batch size must be at least 1")
    use_ray = engine == "ray" or (engine == "auto" and ray_available())
    if use_ray and not ray_available():
        raise ConfigError("Ray is not installed: pip install 'painterly[scale]', or run with --engine local")
    started = time.perf_counter()
    fingerprint = settings.fingerprint()
    todo, skipped = pending(items, output_dir, fingerprint)
    summary = BatchSummary(total=len(items), skipped=skipped, engine="ray" if use_ray else "in-process")
    if not todo:
        summary.seconds = time.perf_counter() - started
        return summary
    # the settings are checked here, once (an unknown preset, a bad option): not image by image in the workers
    checked = BatchWorker(settings)
    checked.stylizer(0 if settings.random_style and settings.method != "preset" else None)
    (output_dir / FAILURES_NAME).unlink(missing_ok=True)  # this run's failures only
    results = _ray_results(todo, settings, workers, address, batch_size) if use_ray else _local_results(todo, checked)
    first = True
    for row in results:
        if first:
            summary.startup_seconds, first = time.perf_counter() - started, False
        if row["status"] == "done":
            entry = {
                "input": row["input"],
                "output": _relative(row["output"], output_dir),
                "sha256": row["sha256"],
                "output_stamp": _stamp(row["output_stamp"]),
                "input_stamp": _stamp(row["input_stamp"]),
            }
            if row.get("style"):
                entry["style"] = row["style"]
            append_lines(output_dir / MANIFEST_NAME, [{**entry, "settings": fingerprint}])
            summary.done += 1
        else:
            failure = {"input": row["input"], "error": row["error"]}
            append_lines(output_dir / FAILURES_NAME, [failure])
            summary.failed.append(failure)
        if on_result is not None:
            on_result(row, summary)
    summary.seconds = time.perf_counter() - started
    return summary


def _stamp(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _relative(output: str, output_dir: Path) -> str:
    try:
        return Path(output).relative_to(output_dir).as_posix()
    except ValueError:
        return output


def _local_results(todo: Sequence[Item], worker: BatchWorker) -> Iterator[dict[str, Any]]:
    for item in todo:
        yield worker.process(str(item.source), str(item.output), item.relative)


def _no_restarts() -> dict[str, Any]:
    return {"max_restarts": 0}


def _ray_results(
    todo: Sequence[Item], settings: BatchSettings, workers: int, address: str | None, batch_size: int
) -> Iterator[dict[str, Any]]:
    # only the CLI prints: no Ray Data executor chatter
    import ray
    import ray.data

    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if not ray.is_initialized():
        try:
            if address:
                ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
            else:  # a local Ray for this job: as many CPUs as workers, each actor one thread
                ray.init(
                    num_cpus=workers * settings.threads,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=logging.ERROR,
                )
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as error:
            where = f"the Ray cluster at {address}" if address else "a local Ray"
            raise ConfigError(f"cannot start {where}: {reason_of(error)}") from error
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    rows = [{"source": str(item.source), "output": str(item.output), "relative": item.relative} for item in todo]
    dataset = ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows), workers * 4)))
    with warnings.catch_warnings():  # ray_remote_args_fn is deprecated from 2.60 and kept until 2.64 (pinned below)
        warnings.simplefilter("ignore", DeprecationWarning)
        stylised = dataset.map_batches(
            BatchWorker,
            fn_constructor_kwargs={"settings": settings},
            compute=ray.data.ActorPoolStrategy(size=workers),
            batch_size=batch_size,
            num_cpus=settings.threads,
            batch_format="numpy",
            # a worker that dies fails its task instead of being restarted (Ray warns, on the terminal, that a
            # restart could lose the constructor's arguments)
            ray_remote_args_fn=_no_restarts,
        )
    for row in stylised.iter_rows():
        yield {key: (value.item() if hasattr(value, "item") else value) for key, value in row.items()}
