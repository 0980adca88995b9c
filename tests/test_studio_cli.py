"""``painterly serve``: its options, its one-line errors, and a real start and stop of the server."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from painterly.cli import main
from painterly.web.store import JobStore
from tests.studio_helpers import picture

PAINTERLY = Path(sys.executable).with_name("painterly")


def test_serve_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--port", "--data-dir", "--allow-host", "--max-upload-mb", "--queue-limit", "--keep-days"):
        assert option in text


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["--port", "70000"], "port must be within 1..65535, got 70000"),
        (["--port", "0"], "port must be within"),
        (["--keep-days", "0"], "keep-days must be above 0"),
        (["--keep-jobs", "0"], "keep-jobs must be at least 1"),
        (["--max-upload-mb", "0"], "--max-upload-mb must be above 0"),
        (["--queue-limit", "0"], "queue-limit must be at least 1"),
        (["--rate-limit", "-1"], "rate-limit must be 0 (off) or more"),
        (["--port", "eighty"], "'eighty' is not a valid integer"),
    ],
)
def test_bad_options_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], says: str
) -> None:
    code = main(["serve", "--data-dir", str(tmp_path / "data"), *arguments])
    assert code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("painterly: error: "), captured.err
    assert says in captured.err and "Traceback" not in captured.err
    assert not (tmp_path / "data").exists()  # nothing created before the options are checked


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(data: Path, port: int) -> subprocess.Popen[str]:
    server = subprocess.Popen(
        [str(PAINTERLY), "serve", "--port", str(port), "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while True:
        assert server.poll() is None, server.communicate()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the studio did not answer within 60 s"
        time.sleep(0.1)


@pytest.mark.real_weights
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_real_server_starts_serves_and_stops_cleanly(
    tmp_path: Path, real_weights: Path, stop: signal.Signals
) -> None:
    port, data = _free_port(), tmp_path / "data"
    server = _start(data, port)
    try:
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/api/health", headers={"host": "evil.example"}).status_code == 400
        answer = httpx.post(
            f"{base}/api/jobs",
            files=[
                ("photo", ("photo.png", picture(), "image/png")),
                ("style", ("p.png", picture(seed=1), "image/png")),
            ],
            data={"method": "gatys", "size": "64", "iterations": "2000"},
        )
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["id"]
        deadline = time.monotonic() + 60
        while not (httpx.get(f"{base}/api/jobs/{job_id}").json().get("progress") or {}).get("step"):
            assert time.monotonic() < deadline, "the job did not start"
            time.sleep(0.1)
        server.send_signal(stop)
        out, err = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0, (server.returncode, err)
    assert f"http://127.0.0.1:{port}" in out
    assert "Traceback" not in err
    store = JobStore(data / "jobs.sqlite3")
    try:
        job = store.get(job_id)
        assert job is not None and job.state == "interrupted", job
        assert store.count("running") == 0
    finally:
        store.close()
