"""Headless Chromium for the studio's browser tests and benchmarks/web.py: the launch flags, a fake camera."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]


def chromium_path() -> Path | None:
    """Debian's Chromium (``apt-get install chromium``) or ``$PAINTERLY_CHROMIUM``; None when absent."""
    given = os.environ.get("PAINTERLY_CHROMIUM")
    found = given or shutil.which("chromium") or shutil.which("chromium-browser")
    return Path(found) if found and Path(found).is_file() else None


def why_no_browser() -> str | None:
    """None when the browser tests can run, else the reason they skip."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    if chromium_path() is None:
        return "no Chromium: `apt-get install chromium` (or set PAINTERLY_CHROMIUM) to run the browser tests"
    return None


def launch(playwright: Any, camera: Path | None = None) -> Any:
    """Chromium headless, with ``camera`` (a .y4m file) as the fake webcam."""
    flags = list(CHROMIUM_FLAGS)
    if camera is not None:
        flags.append(f"--use-file-for-fake-video-capture={camera}")
    return playwright.chromium.launch(executable_path=str(chromium_path()), args=flags)


def write_y4m(path: Path, *, width: int = 640, height: int = 480, frames: int = 30) -> Path:
    """A short camera clip in YUV4MPEG2 (I420): coloured shapes drifting over a gradient."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    with open(path, "wb") as handle:
        handle.write(f"YUV4MPEG2 W{width} H{height} F15:1 Ip A1:1 C420jpeg\n".encode())
        for index in range(frames):
            shift = 6.0 * index
            red = 0.5 + 0.5 * np.sin((cols + shift) / 47.0)
            green = 0.5 + 0.5 * np.cos((rows - shift) / 31.0)
            blue = ((np.hypot(cols - width / 2 - shift, rows - height / 2) < height / 4) * 0.9).astype(np.float32)
            y = 16 + 219 * (0.299 * red + 0.587 * green + 0.114 * blue)
            u = 128 + 224 * (-0.169 * red - 0.331 * green + 0.5 * blue)
            v = 128 + 224 * (0.5 * red - 0.419 * green - 0.081 * blue)
            handle.write(b"FRAME\n")
            handle.write(np.clip(y, 0, 255).astype(np.uint8).tobytes())
            for plane in (u, v):
                half = plane.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))
                handle.write(np.clip(half, 0, 255).astype(np.uint8).tobytes())
    return path


def wait_until(page: Any, expression: str, timeout_ms: int = 180_000) -> None:
    """Poll ``expression`` in the page until it is truthy (``page.wait_for_function`` evaluates strings with eval,
    which the studio's content security policy forbids)."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not page.evaluate(f"() => Boolean({expression})"):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        page.wait_for_timeout(100)
