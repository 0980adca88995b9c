"""Benchmark of the web studio: a burst of jobs through the HTTP API, and the page in a real headless Chromium.

    .venv/bin/python benchmarks/web.py [--sections queue,browser,webcam] [--jobs 50] [--repeats 5]

1. queue: ``painterly serve`` in its own process on loopback; ``--jobs`` preset submissions (a 512 px photo,
   starry_night, 512 px) sent at once from one client (httpx, asyncio), each followed to its end over SSE. With the
   queue limit above the burst every job must be accepted and done (none lost); with a limit below it the excess is
   refused with 503 + Retry-After and every accepted job is done. Latency p50/p95: submission → 202, and
   submission → ``done`` event. The rate limit is set above the burst (tests show the 429 below it).
2. browser: the page in Debian's Chromium (Playwright): a 1024 px photo chosen in the drop zone with the preset
   method, auto-run; the page measures the time from the drop to the result's ``load`` event. Median of repeats.
3. webcam: the webcam mode with Chromium's fake camera (a .y4m written here), onnxruntime-web on WASM: frames per
   second at the page's working size (320 px long side) and at 854x480.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import SHARED  # noqa: E402

PRESET = "starry_night"
CHROMIUM = Path(os.environ.get("PAINTERLY_CHROMIUM", "/usr/bin/chromium"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def studio_process(data_dir: Path, *, queue_limit: int, rate_limit: int) -> Iterator[str]:
    """``painterly serve`` in a child process; yields its base URL once /api/health answers."""
    port = free_port()
    command = [sys.executable, "-m", "painterly", "serve", "--port", str(port), "--data-dir", str(data_dir)]
    command += ["--queue-limit", str(queue_limit), "--rate-limit", str(rate_limit), "--keep-jobs", "1000"]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if child.poll() is not None:
                sys.exit(f"the studio did not start: {child.stderr.read() if child.stderr else ''}")
            try:
                if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                sys.exit("the studio did not answer within 120 s")
            time.sleep(0.2)
        yield url
    finally:
        child.terminate()
        child.wait(30)


def photo_bytes(long_side: int) -> bytes:
    """A test photo of ../shared/data (or a synthetic picture without it) as JPEG at ``long_side``."""
    from PIL import Image

    source = SHARED / "photos" / "test" / "chicago.jpg"
    if source.is_file():
        image = Image.open(source).convert("RGB")
    else:
        image = Image.radial_gradient("L").convert("RGB").resize((1600, 1200))
    image.thumbnail((long_side, long_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


async def follow_job(client: httpx.AsyncClient, photo: bytes) -> dict[str, Any]:
    """Submit one preset job and follow its events to the end; times in seconds from the submission."""
    started = time.perf_counter()
    answer = await client.post(
        "/api/jobs",
        files={"photo": ("photo.jpg", photo, "image/jpeg")},
        data={"method": "preset", "preset": PRESET, "size": "512"},
    )
    accepted = time.perf_counter() - started
    if answer.status_code != 202:
        return {"status": answer.status_code, "retry_after": answer.headers.get("retry-after"), "accepted": accepted}
    job = answer.json()
    final = None
    async with client.stream("GET", job["links"]["events"]) as stream:
        async for line in stream.aiter_lines():
            if line.startswith("event: ") and line[7:] in ("done", "failed", "cancelled", "interrupted"):
                final = line[7:]
                break
    return {
        "status": 202,
        "accepted": accepted,
        "finished": time.perf_counter() - started,
        "final": final,
        "position": job["queue_position"],
    }


async def burst(url: str, jobs: int, photo: bytes) -> list[dict[str, Any]]:
    limits = httpx.Limits(max_connections=jobs * 2, max_keepalive_connections=jobs * 2)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:
        return list(await asyncio.gather(*(follow_job(client, photo) for _ in range(jobs))))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def queue_section(jobs: int, workdir: Path) -> list[dict[str, Any]]:
    photo = photo_bytes(512)
    rows = []
    for queue_limit in (jobs + 14, max(2, jobs // 5)):
        with (
            tempfile.TemporaryDirectory(dir=workdir) as data_dir,
            studio_process(Path(data_dir), queue_limit=queue_limit, rate_limit=jobs * 4) as url,
        ):
            began = time.perf_counter()
            results = asyncio.run(burst(url, jobs, photo))
            wall = time.perf_counter() - began
        accepted = [item for item in results if item["status"] == 202]
        refused = [item for item in results if item["status"] == 503]
        done = [item for item in accepted if item["final"] == "done"]
        rows.append(
            {
                "queue limit": queue_limit,
                "sent": jobs,
                "accepted": len(accepted),
                "refused 503": len(refused),
                "503 with Retry-After": sum(1 for item in refused if item["retry_after"]),
                "other status": len(results) - len(accepted) - len(refused),
                "done": len(done),
                "lost": len(accepted) - len(done),
                "max queue position": max((item["position"] or 0 for item in accepted), default=0),
                "202 p50 ms": 1000 * statistics.median(item["accepted"] for item in accepted),
                "202 p95 ms": 1000 * percentile([item["accepted"] for item in accepted], 0.95),
                "done p50 s": statistics.median(item["finished"] for item in done) if done else float("nan"),
                "done p95 s": percentile([item["finished"] for item in done], 0.95) if done else float("nan"),
                "jobs/s": len(done) / wall,
            }
        )
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        cells = [f"{value:.3g}" if isinstance(value, float) else str(value) for value in row.values()]
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", default="queue,browser,webcam")
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=ROOT / "out" / "bench_web")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    sections = set(args.sections.split(","))
    import platform

    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    if "queue" in sections:
        print(f"\n## {args.jobs} preset jobs at once (512 px) over loopback\n")
        print_table(queue_section(args.jobs, args.workdir))


if __name__ == "__main__":
    main()
