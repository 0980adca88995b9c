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
   second at 854x480, at 320 px long side, and at the size the page's automatic rule settles on.
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
sys.path.insert(0, str(ROOT))
from tests.browser_helpers import launch, wait_until, why_no_browser, write_y4m  # noqa: E402

from common import SHARED  # noqa: E402

PRESET = "starry_night"


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


def browser_section(repeats: int, workdir: Path) -> list[dict[str, Any]]:
    """Drop a 1024 px photo into the page (instant preset, auto-run) and read the page's drop → result time."""
    from playwright.sync_api import sync_playwright

    photo = workdir / "photo_1024.jpg"
    photo.write_bytes(photo_bytes(1024))
    timings = []
    with (
        tempfile.TemporaryDirectory(dir=workdir) as data_dir,
        studio_process(Path(data_dir), queue_limit=32, rate_limit=1000) as url,
        sync_playwright() as playwright,
    ):
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for repeat in range(repeats + 1):  # the first run warms the server (imports, network load)
            page.goto(url)
            wait_until(page, "document.querySelector('#preset-select').options.length > 1")
            page.select_option("#preset-select", PRESET)
            page.select_option("#size-select", "1024")
            page.evaluate("() => { window.painterlyTimings.lastDropToResultMs = 0; }")
            page.set_input_files("#photo-input", str(photo))
            wait_until(page, "window.painterlyTimings.lastDropToResultMs > 0")
            if repeat:
                timings.append(page.evaluate("window.painterlyTimings.lastDropToResultMs") / 1000)
        browser.close()
    return [
        {
            "what": "drop of a 1024 px photo → preset result on screen",
            "median s": statistics.median(timings),
            "min s": min(timings),
            "max s": max(timings),
            "repeats": len(timings),
            "goal s": 0.6,
        }
    ]


def webcam_section(workdir: Path, seconds: float = 8.0) -> list[dict[str, Any]]:
    """Frames per second of the webcam mode (fake 854x480 camera) at fixed working sizes."""
    from playwright.sync_api import sync_playwright

    camera = write_y4m(workdir / "camera_480p.y4m", width=854, height=480, frames=30)
    rows = []
    with (
        tempfile.TemporaryDirectory(dir=workdir) as data_dir,
        studio_process(Path(data_dir), queue_limit=32, rate_limit=1000) as url,
        sync_playwright() as playwright,
    ):
        browser = launch(playwright, camera)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url)
        wait_until(page, "document.querySelector('#webcam-style').options.length > 1")
        page.select_option("#webcam-style", label=PRESET.replace("_", " "))
        page.click("#webcam-start")
        wait_until(page, "window.painterlyWebcam.frames >= 3")
        for size in ("854", "320", "auto"):
            page.select_option("#webcam-size", size)
            # the new size's first frames (session warm-up) are not counted; the automatic size settles first
            page.wait_for_timeout(20_000 if size == "auto" else 3000)
            first = page.evaluate("[window.painterlyWebcam.frames, performance.now()]")
            page.wait_for_timeout(seconds * 1000)
            last = page.evaluate("[window.painterlyWebcam.frames, performance.now()]")
            stats = page.evaluate("window.painterlyWebcam")
            rows.append(
                {
                    "working size": f"{stats['workingSize']} long side" + (" (automatic)" if size == "auto" else ""),
                    "backend": f"{stats['backend']}, {stats.get('threads', '?')} thread(s)",
                    "frames": last[0] - first[0],
                    "fps": (last[0] - first[0]) / ((last[1] - first[1]) / 1000),
                    "inference ms": stats.get("inferenceMs", float("nan")),
                    "goal fps": float("nan") if size == "854" else 10.0,
                }
            )
        browser.close()
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
    browser_sections = sections & {"browser", "webcam"}
    if browser_sections and (reason := why_no_browser()):
        sys.exit(f"cannot run {', '.join(sorted(browser_sections))}: {reason}")
    if "browser" in sections:
        print(f"\n## The page in headless Chromium ({args.repeats} repeats after one warm-up)\n")
        print_table(browser_section(args.repeats, args.workdir))
    if "webcam" in sections:
        print("\n## Webcam mode: onnxruntime-web in headless Chromium, fake 854x480 camera\n")
        print_table(webcam_section(args.workdir))


if __name__ == "__main__":
    main()
