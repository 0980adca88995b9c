"""The studio where timing matters: cancel against claim, concurrent first requests, one server per folder,
forwarded-for headers, a missing preset model, absurd event ids."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import httpx
import pytest

from painterly.errors import ConfigError
from painterly.web.app import create_app
from painterly.web.server import BackgroundServer
from painterly.web.settings import StudioSettings
from tests.studio_helpers import assert_error, events, picture, studio, submit, submitted, wait_for


def test_a_cancel_that_loses_the_race_to_the_worker_stops_the_running_job(tmp_path: Path) -> None:
    client = studio(tmp_path)  # no worker: the test plays the worker's part
    job = submitted(client, size=64)
    store, runner = client.app.state.store, client.app.state.runner  # type: ignore[attr-defined]
    stale = store.get(job["id"])  # the page saw it queued ...
    claimed = store.claim_next()  # ... the worker claims it ...
    answer = client.post(f"/api/jobs/{job['id']}/cancel")  # ... and the cancel arrives
    assert answer.status_code == 202 and answer.json()["state"] == "running"
    runner.cancel(stale)  # the same with the stale snapshot: the job is not marked cancelled behind the worker
    assert store.get(job["id"]).state == "running"
    runner._run(claimed)  # the worker's turn: it sees the cancel before it starts
    assert [event.event for event in events(client, job["id"])] == ["state", "state", "cancelled"]
    assert not [event for event in events(client, job["id"]) if event.event == "progress"]


def test_concurrent_first_requests_for_the_input_all_succeed(tmp_path: Path) -> None:
    with studio(tmp_path) as client:
        job = wait_for(client, submitted(client, picture(300, 200), size=256)["id"])
        url = f"/api/jobs/{job['id']}/input"
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda _: client.get(url), range(12)))
        assert {answer.status_code for answer in answers} == {200}
        assert len({answer.content for answer in answers}) == 1
        assert not list((tmp_path / "jobs" / job["id"]).glob("*partial*"))


def test_one_studio_per_data_folder(tmp_path: Path) -> None:
    with studio(tmp_path), pytest.raises(ConfigError, match="another studio is serving"), studio(tmp_path):
        pass
    with studio(tmp_path):  # the first one released it
        pass


def test_forwarded_for_headers_do_not_escape_the_rate_limit(tmp_path: Path) -> None:
    app = create_app(StudioSettings(data_dir=tmp_path, rate_limit=2))
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url) as client:
        statuses = []
        for index in range(4):
            answer = client.post(
                "/api/jobs",
                files={"photo": ("p.png", picture(), "image/png")},
                data={"method": "preset", "preset": "starry_night", "size": "64"},
                headers={"x-forwarded-for": f"10.0.0.{index}", "x-real-ip": f"10.0.0.{index}"},
            )
            statuses.append(answer.status_code)
        assert statuses == [202, 202, 429, 429]


def test_without_a_preset_model_the_api_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAINTERLY_PRESETS", str(tmp_path / "missing.safetensors"))
    client = studio(tmp_path / "studio")
    assert_error(client.get("/api/presets"), 503, "no_model")
    assert_error(submit(client), 503, "no_model")


def test_absurd_event_ids_are_ignored(tmp_path: Path) -> None:
    client = studio(tmp_path)
    job = submitted(client)
    client.post(f"/api/jobs/{job['id']}/cancel")  # a finished job: its stream ends after its events
    assert_error(client.get(f"/api/jobs/{job['id']}/events", headers={"last-event-id": "9" * 5000}), 422, "invalid")
    for header in ("99999999999999999999", "-3", "1e9", " "):
        stream = client.get(f"/api/jobs/{job['id']}/events", headers={"last-event-id": header})
        assert stream.status_code == 200, header
        assert "event: cancelled" in stream.text, header  # an unusable id counts as none: the whole stream
    assert_error(client.get(f"/api/jobs/{job['id']}/events", params={"after": 2**70}), 422, "invalid")
