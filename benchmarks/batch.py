"""Benchmark of `painterly batch`: images per second in this process and on Ray Data with 1 and 2 actors (one thread
each), with a preset and with the arbitrary method (adain), at 256 and 512 px, in one run; Ray's start-up; memory.

    .venv/bin/python benchmarks/batch.py [--images 40] [--sizes 256,512] [--workdir out/bench_batch]

The photos are the first --images of ../shared/data/photos/train, scaled to each size (long side) once. Each cell
stylises all of them into a fresh folder through `painterly.batch.run.run_batch`; "steady" is images per second
from two runs (a quarter of the photos, then all: the difference cancels the fixed costs), "fixed s" those costs
(the actors' start, the networks' loading, Ray's scheduling), "total" all photos over the whole run's time. Memory: peak
resident set, sampled every 0.2 s during the cell, of this process plus every Ray process (the Ray cells' sum includes
Ray's own daemons). Ray's start-up (`ray.init` of a local Ray) is timed on its own.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import SHARED  # noqa: E402


def prepare_photos(workdir: Path, count: int, size: int) -> Path:
    from PIL import Image

    folder = workdir / f"in{size}"
    if folder.is_dir() and len(list(folder.iterdir())) == count:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for path in sorted((SHARED / "photos" / "train").iterdir())[:count]:
        picture = Image.open(path).convert("RGB")
        scale = size / max(picture.size)
        picture.resize((round(picture.width * scale), round(picture.height * scale)), Image.Resampling.LANCZOS).save(
            folder / f"{path.stem}.png"
        )
    return folder


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


RAY_PROCESS = re.compile(rb"ray::|raylet|gcs_server|ray/_private|ray/dashboard|default_worker\.py")


def ray_processes() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if RAY_PROCESS.search(command) and int(entry.name) != os.getpid():
                pids.append(int(entry.name))
    return pids


class MemorySampler:
    """Peak of this process's RSS (plus every Ray process's, with ``ray``), sampled in a thread."""

    def __init__(self, *, ray: bool) -> None:
        self.ray = ray
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            total = rss_mb(os.getpid()) + (sum(rss_mb(pid) for pid in ray_processes()) if self.ray else 0.0)
            self.peak = max(self.peak, total)
            self._stop.wait(0.2)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def timed_run(folder: Path, out: Path, settings: Any, engine: str, workers: int, count: int) -> tuple[float, float]:
    """Seconds to stylise the first ``count`` photos of ``folder`` into a fresh ``out``, and the peak memory."""
    from painterly.batch.plan import plan_items
    from painterly.batch.run import run_batch

    shutil.rmtree(out, ignore_errors=True)
    items = plan_items(folder, out)[:count]
    with MemorySampler(ray=engine == "ray") as sampler:
        summary = run_batch(items, settings, out, engine=engine, workers=workers, batch_size=2)
    assert summary.done == count, summary.failed
    return summary.seconds, sampler.peak


def cell(folder: Path, workdir: Path, method: str, style: str, engine: str, workers: int) -> dict[str, Any]:
    """Two runs, a quarter of the photos and all of them: the difference gives the steady rate (fixed costs — the
    actors' start, the networks' loading, Ray's scheduling — cancel), the small run's excess the fixed cost."""
    from painterly.batch.worker import BatchSettings

    settings = BatchSettings(method=method, styles=(style,), threads=1)
    count = len(list(folder.iterdir()))
    small = max(2, count // 4)
    name = f"{folder.name}-{method}-{engine}-{workers}"
    seconds_small, _ = timed_run(folder, workdir / "out" / f"{name}-small", settings, engine, workers, small)
    seconds, peak = timed_run(folder, workdir / "out" / name, settings, engine, workers, count)
    steady = (count - small) / max(seconds - seconds_small, 1e-9)
    return {"total": count / seconds, "steady": steady, "first": seconds_small - small / steady, "peak_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--workdir", type=Path, default=ROOT / "out" / "bench_batch")
    args = parser.parse_args()
    import ray
    import torch

    torch.set_num_threads(1)
    sizes = [int(value) for value in args.sizes.split(",")]
    folders = {size: prepare_photos(args.workdir, args.images, size) for size in sizes}
    methods = {"preset": "starry_night", "adain": str(SHARED / "styles" / "starry_night.jpg")}
    starts = []
    for _ in range(3):
        started = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
        starts.append(time.perf_counter() - started)
        ray.shutdown()
    rows = []
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    for size in sizes:
        for method, style in methods.items():
            for engine, workers in (("local", 1), ("ray", 1), ("ray", 2)):
                result = cell(folders[size], args.workdir, method, style, engine, workers)
                rows.append({"size": size, "method": method, "engine": engine, "workers": workers, **result})
                print(f"  {size} {method} {engine} x{workers}: {result['steady']:.2f} images/s", file=sys.stderr)
    ray.shutdown()
    print(f"\nRay start-up (local, 2 CPUs): median {statistics.median(starts):.1f} s of {len(starts)}")
    print(f"{args.images} photos of photos/train per cell; one thread per worker; Intel CPU, {os.cpu_count()} cores\n")
    header = f"{'size':>5} {'method':<7} {'engine':<12} {'steady img/s':>12} {'total img/s':>11} {'x local':>8}"
    print(header + f" {'fixed s':>8} {'peak MB':>8}")
    local = {(row["size"], row["method"]): row["steady"] for row in rows if row["engine"] == "local"}
    for row in rows:
        name = "in-process" if row["engine"] == "local" else f"ray x{row['workers']}"
        ratio = row["steady"] / local[(row["size"], row["method"])]
        print(
            f"{row['size']:>5} {row['method']:<7} {name:<12} {row['steady']:12.2f} {row['total']:11.2f} "
            f"{ratio:8.2f} {row['first']:8.1f} {row['peak_mb']:8.0f}"
        )


if __name__ == "__main__":
    main()
