"""The studio's job life cycle: cancel, delete, resubmit, the bounded queue, the rate limit, a restart, retention."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from painterly.web.store import JobStore
from tests.studio_helpers import (
    assert_error,
    events,
    job_folders,
    parse_events,
    picture,
    poll,
    stored_job,
    studio,
    submit,
    submitted,
    wait_for,
)


def test_cancel_a_queued_job_then_run_it_again(tmp_path: Path) -> None:
    client = studio(tmp_path)  # not started: nothing runs the queue
    job = submitted(client, size=64)
    cancelled = client.delete(f"/api/jobs/{job['id']}")
    assert cancelled.status_code == 202, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["error"]
    assert [(event.id, event.event) for event in events(client, job["id"])] == [(1, "state"), (2, "cancelled")]
    assert_error(client.get(f"/api/jobs/{job['id']}/result"), 409, "not_done", "cancelled")

    again = client.post(f"/api/jobs/{job['id']}/resubmit")
    assert again.status_code == 202, again.text
    second = again.json()
    assert again.headers["location"] == f"/api/jobs/{second['id']}"
    assert second["id"] != job["id"] and second["state"] == "queued"
    assert second["method"] == job["method"] and second["options"] == job["options"]
    assert sorted(path.name for path in (tmp_path / "jobs" / second["id"]).iterdir()) == ["photo.png"]

    with client:  # now the worker runs
        done = wait_for(client, second["id"])
        assert done["state"] == "done", done["error"]
        assert client.get(f"/api/jobs/{job['id']}").json()["state"] == "cancelled"
        assert_error(client.post(f"/api/jobs/{second['id']}/resubmit"), 409, "not_stopped", "done")

        assert_error(client.delete(f"/api/jobs/{second['id']}"), 409, "finished", "remove=true")
        deleted = client.delete(f"/api/jobs/{second['id']}", params={"remove": "true"})
        assert deleted.status_code == 204 and deleted.content == b""
        assert_error(client.get(f"/api/jobs/{second['id']}"), 404, "not_found")
        assert second["id"] not in job_folders(tmp_path)
        assert [item["id"] for item in client.get("/api/jobs").json()["jobs"]] == [job["id"]]
        assert client.delete(f"/api/jobs/{job['id']}", params={"remove": "true"}).status_code == 204
        assert job_folders(tmp_path) == set()


def test_resubmit_needs_a_stopped_job_with_its_inputs(tmp_path: Path) -> None:
    client = studio(tmp_path)
    queued = submitted(client)
    assert_error(client.post(f"/api/jobs/{queued['id']}/resubmit"), 409, "not_stopped", "queued")
    assert client.delete(f"/api/jobs/{queued['id']}").json()["state"] == "cancelled"
    for path in (tmp_path / "jobs" / queued["id"]).iterdir():
        path.unlink()
    assert_error(client.post(f"/api/jobs/{queued['id']}/resubmit"), 409, "inputs_gone")
    assert len(client.get("/api/jobs").json()["jobs"]) == 1
    assert job_folders(tmp_path) == {queued["id"]}


@pytest.mark.real_weights
def test_cancel_a_running_optimisation(tmp_path: Path, real_weights: Path) -> None:
    with studio(tmp_path) as client:
        job = submitted(client, method="gatys", preset=None, styles=[picture(64, 64, seed=4)], size=64, iterations=2000)
        seen = []
        with client.stream("GET", f"/api/jobs/{job['id']}/events") as stream:
            lines = parse_events(stream.iter_lines())
            for event in lines:
                seen.append(event)
                if event.event == "progress" and "preview" in event.data:
                    break
            progress = seen[-1].data
            assert progress["step"] >= 1 and progress["total"] == 2000 and 0 < progress["fraction"] < 1
            assert set(progress["losses"]) >= {"total", "style", "content"}
            assert isinstance(progress["preview"], int)

            assert client.get(f"/api/jobs/{job['id']}").json()["state"] == "running"
            preview = client.get(f"/api/jobs/{job['id']}/preview")
            assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"
            assert preview.content[:3] == b"\xff\xd8\xff"
            assert_error(client.get(f"/api/jobs/{job['id']}/result"), 409, "not_done", "running")

            answer = client.post(f"/api/jobs/{job['id']}/cancel")
            assert answer.status_code == 202, answer.text
            assert answer.json()["state"] in ("running", "cancelled")
            seen += list(lines)
        assert seen[-1].event == "cancelled"
        assert seen[-1].data["state"] == "cancelled" and seen[-1].data["id"] == job["id"]
        assert [event.id for event in seen] == list(range(1, len(seen) + 1))
        final = client.get(f"/api/jobs/{job['id']}").json()
        assert final["state"] == "cancelled" and final["progress"]["step"] < 2000

        assert_error(client.post(f"/api/jobs/{job['id']}/cancel"), 409, "finished")
        assert client.delete(f"/api/jobs/{job['id']}", params={"remove": "true"}).status_code == 204
        assert not (tmp_path / "jobs" / job["id"]).exists()


def test_queue_is_bounded(tmp_path: Path) -> None:
    client = studio(tmp_path, queue_limit=2)
    first, second = submitted(client), submitted(client)
    assert second["queue_position"] == 1
    refused = submit(client)
    assert_error(refused, 503, "queue_full")
    assert int(refused.headers["retry-after"]) > 0
    assert job_folders(tmp_path) == {first["id"], second["id"]}
    assert len(client.get("/api/jobs").json()["jobs"]) == 2
    assert client.get("/api/health").json() == {"status": "ok", "queued": 2, "running": 0}

    assert client.delete(f"/api/jobs/{first['id']}").status_code == 202  # a place frees up
    assert client.get(f"/api/jobs/{second['id']}").json()["queue_position"] == 0
    assert submitted(client)["queue_position"] == 1
    assert_error(client.post(f"/api/jobs/{first['id']}/resubmit"), 503, "queue_full")
    assert len(job_folders(tmp_path)) == 3


def test_rate_limit_per_client(tmp_path: Path) -> None:
    client = studio(tmp_path / "limited", rate_limit=3)
    for _ in range(3):
        submitted(client)
    refused = submit(client)
    assert_error(refused, 429, "rate_limited", "3 jobs a minute")
    assert 0 < int(refused.headers["retry-after"]) <= 60
    assert len(job_folders(tmp_path / "limited")) == 3

    unlimited = studio(tmp_path / "free", rate_limit=0)
    for _ in range(12):
        submitted(unlimited)


def test_a_restart_interrupts_the_running_job_and_runs_the_queued_one(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    running = stored_job(store, tmp_path)
    claimed = store.claim_next()
    assert claimed is not None and claimed.id == running and claimed.state == "running"
    queued = stored_job(store, tmp_path, photo=picture(seed=5))
    store.close()

    with studio(tmp_path) as client:
        interrupted = client.get(f"/api/jobs/{running}").json()
        assert interrupted["state"] == "interrupted" and "resubmit" in interrupted["error"]
        stream = events(client, running)
        assert [event.event for event in stream] == ["state", "state", "interrupted"]
        assert stream[-1].data["state"] == "interrupted"
        done = wait_for(client, queued)
        assert done["state"] == "done", done["error"]
        assert client.get(f"/api/jobs/{queued}/result").status_code == 200

        again = client.post(f"/api/jobs/{running}/resubmit")
        assert again.status_code == 202, again.text
        assert wait_for(client, again.json()["id"])["state"] == "done"


def test_only_the_newest_finished_jobs_are_kept(tmp_path: Path) -> None:
    with studio(tmp_path, keep_jobs=2) as client:
        ids = []
        for index in range(3):
            ids.append(submitted(client, picture(seed=index), size=64)["id"])
            assert wait_for(client, ids[-1])["state"] == "done"
        poll(lambda: len(client.get("/api/jobs").json()["jobs"]) == 2, what="the oldest job deleted")
        assert [item["id"] for item in client.get("/api/jobs").json()["jobs"]] == [ids[2], ids[1]]
        poll(lambda: job_folders(tmp_path) == {ids[1], ids[2]}, what="the oldest job's folder deleted")
        assert_error(client.get(f"/api/jobs/{ids[0]}"), 404, "not_found")


def test_old_finished_jobs_are_deleted_at_start(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    old, recent, waiting = stored_job(store, tmp_path), stored_job(store, tmp_path), stored_job(store, tmp_path)
    for job_id in (old, recent):
        assert store.finish(job_id, "cancelled", error="cancelled")
    store.close()
    with sqlite3.connect(tmp_path / "jobs.sqlite3") as connection:
        connection.execute("UPDATE jobs SET finished = ? WHERE id = ?", (time.time() - 3 * 86400, old))
        connection.execute("UPDATE jobs SET created = ? WHERE id = ?", (time.time() - 3 * 86400, waiting))
    connection.close()

    client = studio(tmp_path, keep_days=2)
    with client:
        assert_error(client.get(f"/api/jobs/{old}"), 404, "not_found")
        assert old not in job_folders(tmp_path)
        assert client.get(f"/api/jobs/{recent}").json()["state"] == "cancelled"
        assert wait_for(client, waiting)["state"] == "done"  # an old queued job is no finished one
        assert recent in job_folders(tmp_path)
