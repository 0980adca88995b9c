"""The studio's jobs API end to end (docs/studio_api.md): preset and gatys jobs, their events, files and records,
bad input, and the webcam model."""

from __future__ import annotations

import io
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.studio_helpers import (
    PRESET,
    Event,
    assert_error,
    assert_secured,
    events,
    image_format,
    job_folders,
    picture,
    png_size,
    studio,
    submit,
    submitted,
    wait_for,
)

SHA256 = re.compile(r"[0-9a-f]{64}")


def test_preset_job_from_submission_to_result(tmp_path: Path) -> None:
    with studio(tmp_path) as client:
        response = submit(client, picture(160, 100), size=80)
        assert response.status_code == 202, response.text
        job = response.json()
        assert response.headers["location"] == f"/api/jobs/{job['id']}" == job["links"]["self"]
        assert re.fullmatch(r"[0-9a-f]{32}", job["id"])
        assert job["state"] == "queued" and job["kind"] == "image" and job["method"] == "preset"
        assert job["options"]["preset"] == PRESET and job["options"]["size"] == 80
        assert job["links"]["events"] == f"/api/jobs/{job['id']}/events"

        stream = events(client, job["id"])
        ids = [event.id for event in stream]
        assert ids == list(range(1, len(ids) + 1))
        assert [(event.event, event.data.get("state")) for event in stream[:2]] == [
            ("state", "queued"),
            ("state", "running"),
        ]
        assert {event.event for event in stream[2:-1]} == {"progress"}
        assert stream[-2].data["fraction"] == 1.0
        last = stream[-1]
        assert last.event == "done" and last.data["id"] == job["id"] and last.data["state"] == "done"

        done = client.get(f"/api/jobs/{job['id']}").json()
        assert done["state"] == "done" and done["error"] is None and done["queue_position"] is None
        assert done["started"] and done["finished"] and done["progress"]["fraction"] == 1.0
        record = done["record"]
        assert record["method"] == "preset"
        assert record["options"]["preset"] == PRESET and record["options"]["size"] == 80
        assert [item["role"] for item in record["inputs"]] == ["photo"]
        assert SHA256.fullmatch(record["inputs"][0]["sha256"])
        assert record["inputs"][0]["path"] == "photo.png"  # a name in the job folder, not the server's path
        assert record["size"] == [80, 50]

        result = client.get(f"/api/jobs/{job['id']}/result")
        assert result.status_code == 200 and result.headers["content-type"] == "image/png"
        assert "attachment" not in result.headers.get("content-disposition", "")
        assert png_size(result.content) == (80, 50)
        assert_secured(result)
        download = client.get(f"/api/jobs/{job['id']}/result", params={"download": 1})
        assert download.status_code == 200 and download.content == result.content
        disposition = download.headers["content-disposition"]
        assert disposition.startswith("attachment") and 'filename="painterly-preset-' in disposition
        assert disposition.endswith('.png"')

        for name in ("input", "preview"):
            picture_response = client.get(f"/api/jobs/{job['id']}/{name}")
            assert picture_response.status_code == 200, (name, picture_response.text)
            assert picture_response.headers["content-type"] == "image/jpeg"
            assert image_format(picture_response.content) == "JPEG"
            with Image.open(io.BytesIO(picture_response.content)) as shown:
                assert max(shown.size) <= 160, (name, shown.size)  # a display copy, never enlarged


def test_gallery_lists_newest_first_and_blends_presets(tmp_path: Path) -> None:
    with studio(tmp_path) as client:
        first = submitted(client, size=64)
        blend = submitted(client, picture(seed=1), preset="starry_night:0.7,the_scream:0.3", size=64)
        assert wait_for(client, first["id"])["state"] == "done"
        finished = wait_for(client, blend["id"])
        assert finished["state"] == "done", finished["error"]
        assert finished["record"]["options"]["preset"] == "starry_night:0.7,the_scream:0.3"
        blended = client.get(f"/api/jobs/{blend['id']}/result").content
        single = client.get(f"/api/jobs/{first['id']}/result").content
        assert png_size(blended) == png_size(single) == (64, 43)

        gallery = client.get("/api/jobs")
        assert gallery.status_code == 200
        assert [item["id"] for item in gallery.json()["jobs"]] == [blend["id"], first["id"]]
        assert [item["id"] for item in client.get("/api/jobs", params={"limit": 1}).json()["jobs"]] == [blend["id"]]
        assert_error(client.get("/api/jobs", params={"limit": 0}), 422, "invalid", "limit")


@pytest.mark.parametrize(
    ("preset", "unknown"), [("no_such_style", "no_such_style"), ("starry_night:0.5,not_a_preset:0.5", "not_a_preset")]
)
def test_unknown_preset_is_named(tmp_path: Path, preset: str, unknown: str) -> None:
    client = studio(tmp_path)
    message = assert_error(submit(client, preset=preset), 422, "invalid", unknown)
    assert PRESET in message  # it lists the known ones
    assert job_folders(tmp_path) == set()


def test_presets_list(tmp_path: Path) -> None:
    answer = studio(tmp_path).get("/api/presets")
    assert answer.status_code == 200
    listed = answer.json()
    names = [item["name"] for item in listed["presets"]]
    assert PRESET in names and "the_scream" in names
    assert [item["index"] for item in listed["presets"]] == list(range(len(names)))
    assert listed["webcam_model"] == "/api/webcam/model.onnx"


def test_events_resume_after_the_last_id_seen(tmp_path: Path) -> None:
    with studio(tmp_path) as client:
        job = submitted(client, size=64)
        wait_for(client, job["id"])
        everything = events(client, job["id"])
    assert len(everything) >= 4
    client = studio(tmp_path)  # a new server on the same folder: the events outlived the first
    assert events(client, job["id"]) == everything
    assert events(client, job["id"], headers={"Last-Event-ID": "2"}) == everything[2:]
    assert events(client, job["id"], params={"after": 3}) == everything[3:]
    assert events(client, job["id"], headers={"Last-Event-ID": "1"}, params={"after": 3}) == everything[3:]
    assert events(client, job["id"], headers={"Last-Event-ID": "not a number"}) == everything
    # a client that saw the final event and reconnects gets a stream that ends at once (not one that never does)
    for resumed in ({"headers": {"Last-Event-ID": str(everything[-1].id)}}, {"params": {"after": 1000}}):
        found: list[list[Event]] = []
        reader = threading.Thread(
            target=lambda into=found, options=resumed: into.append(events(client, job["id"], **options))
        )
        reader.start()
        reader.join(10)
        assert not reader.is_alive(), f"the stream resumed with {resumed} did not end"
        assert found == [[]]
    assert_error(client.get(f"/api/jobs/{job['id']}/events", params={"after": -1}), 422, "invalid")


@pytest.mark.real_weights
def test_gatys_job_reports_losses_and_previews(tmp_path: Path, real_weights: Path) -> None:
    with studio(tmp_path) as client:
        job = submitted(client, method="gatys", preset=None, styles=[picture(80, 80, seed=3)], size=64, iterations=10)
        stream = events(client, job["id"])
        assert stream[-1].event == "done", stream[-1].data
        progress = [event.data for event in stream if event.event == "progress"]
        assert len(progress) >= 2
        for item in progress:
            assert {"fraction", "step", "total", "losses"} <= set(item)
            assert {"total", "style", "content"} <= set(item["losses"])
            assert all(isinstance(value, float) for value in item["losses"].values())
        fractions = [item["fraction"] for item in progress]
        assert fractions == sorted(fractions) and fractions[-1] == 1.0
        versions = [item["preview"] for item in progress if "preview" in item]
        assert versions and all(isinstance(number, int) for number in versions)
        assert versions == sorted(set(versions))

        done = client.get(f"/api/jobs/{job['id']}").json()
        assert done["record"]["method"] == "gatys" and done["record"]["losses"]
        assert [item["role"] for item in done["record"]["inputs"]] == ["photo", "style1"]
        assert all(SHA256.fullmatch(item["sha256"]) for item in done["record"]["inputs"])
        assert png_size(client.get(f"/api/jobs/{job['id']}/result").content) == (64, 43)


# --- bad input -----------------------------------------------------------------------------------------------------


def test_body_over_the_upload_limit_is_413(tmp_path: Path) -> None:
    client = studio(tmp_path, max_upload_bytes=20_000)
    response = submit(client, b"\x89PNG\r\n\x1a\n" + bytes(30_000))
    assert_error(response, 413, "too_large")
    assert_secured(response)

    def chunks() -> object:
        for _ in range(5):
            yield b"-" * 10_000

    streamed = client.post(
        "/api/jobs", content=chunks(), headers={"content-type": "multipart/form-data; boundary=x"}
    )  # no Content-Length: counted while it is read
    assert_error(streamed, 413, "too_large")
    assert job_folders(tmp_path) == set()


def test_picture_over_the_pixel_limit_is_413(tmp_path: Path) -> None:
    client = studio(tmp_path, max_pixels=5000)
    assert_error(submit(client, picture(96, 64)), 413, "too_many_pixels", "6,144 pixels")
    assert_error(
        submit(client, picture(50, 50), method="adain", preset=None, styles=[picture(96, 64)]),
        413,
        "too_many_pixels",
        "painting 1",
    )
    assert job_folders(tmp_path) == set()
    assert client.get("/api/jobs").json()["jobs"] == []


def test_format_is_told_from_the_bytes_not_the_name(tmp_path: Path) -> None:
    client = studio(tmp_path)
    assert_error(submit(client, b"just some text, not a picture\n" * 10, photo_name="photo.png"), 415, "unsupported")
    job = submitted(client, picture(), photo_name="photo.txt")
    assert sorted(p.name for p in (tmp_path / "jobs" / job["id"]).iterdir()) == ["photo.png"]
    jpeg = submitted(client, picture(fmt="JPEG"), photo_name="photo.png")
    assert sorted(p.name for p in (tmp_path / "jobs" / jpeg["id"]).iterdir()) == ["photo.jpg"]


def test_empty_and_missing_uploads(tmp_path: Path) -> None:
    client = studio(tmp_path)
    assert_error(submit(client, b""), 400, "empty", "the photo is empty")
    assert_error(client.post("/api/jobs", data={"method": "preset", "preset": PRESET}), 422, "invalid", "photo")
    assert job_folders(tmp_path) == set()


def test_every_picture_format_and_mode_runs(tmp_path: Path) -> None:
    uploads = {fmt: picture(fmt=fmt) for fmt in ("JPEG", "GIF", "WEBP", "TIFF", "BMP")}
    for mode in ("RGBA", "L", "P", "I;16"):
        buffer = io.BytesIO()
        Image.open(io.BytesIO(picture())).convert(mode).save(buffer, "PNG")
        uploads[f"PNG {mode}"] = buffer.getvalue()
    with studio(tmp_path) as client:
        jobs = {name: submitted(client, data, photo_name="photo", size=64)["id"] for name, data in uploads.items()}
        for name, job_id in jobs.items():
            done = wait_for(client, job_id)
            assert done["state"] == "done", (name, done["error"])
            assert png_size(client.get(f"/api/jobs/{job_id}/result").content) == (64, 43), name
            assert client.get(f"/api/jobs/{job_id}/input").headers["content-type"] == "image/jpeg", name


def test_a_broken_video_is_refused_at_submission(tmp_path: Path) -> None:
    with studio(tmp_path) as client:
        refused = submit(client, b"\x00\x00\x00\x18ftypmp42" + bytes(300), photo_name="clip.mp4", size=64)
        assert_error(refused, 415, "unsupported", "the video is not readable")
        assert str(tmp_path) not in refused.text  # no server paths in messages
        assert not any((tmp_path / "jobs").iterdir())  # nothing kept of a refused upload
    assert_error(submit(studio(tmp_path), b"\x1a\x45\xdf\xa3" + bytes(300), size=1500), 422, "invalid", "video")


def test_heic_and_avif_photos_are_refused_with_a_hint(tmp_path: Path) -> None:
    for brand in (b"heic", b"avif", b"mif1"):
        refused = submit(studio(tmp_path), b"\x00\x00\x00\x18ftyp" + brand + bytes(300), photo_name="a.heic")
        assert_error(refused, 415, "unsupported", "JPEG or PNG")


def test_a_video_is_no_painting(tmp_path: Path) -> None:
    video = b"\x00\x00\x00\x18ftypmp42" + bytes(200)
    response = submit(studio(tmp_path), method="adain", preset=None, styles=[video])
    assert_error(response, 415, "unsupported", "not a video")
    assert job_folders(tmp_path) == set()


@pytest.mark.parametrize(
    ("fields", "styles", "says"),
    [
        ({"method": "preset"}, 1, "not painting files"),
        ({"method": "wct", "preset": None}, 0, "needs one or two paintings"),
        ({"method": "adain", "preset": None}, 3, "needs one or two paintings"),
        ({"method": "adain", "preset": PRESET}, 1, "not a preset"),
        ({"method": "photo", "preset": None, "color": "luminance"}, 1, "color"),
        ({"size": 5000}, 0, "size"),
        ({"size": 32}, 0, "size"),
        ({"iterations": 50}, 0, "iterations"),
        ({"method": "gatys", "preset": None, "iterations": 5}, 1, "iterations"),
        ({"strength": 2}, 0, "strength"),
        ({"strength": "nan"}, 0, "strength"),
        ({"blend": -0.5}, 0, "blend"),
        ({"color": "histogram"}, 0, "color"),
        ({"method": "nonsense"}, 0, "unknown method"),
        ({"preset": ""}, 0, "needs a preset"),
    ],
)
def test_options_that_do_not_fit_are_422(tmp_path: Path, fields: dict[str, Any], styles: int, says: str) -> None:
    client = studio(tmp_path)
    response = submit(client, styles=[picture(48, 48, seed=index) for index in range(styles)], **fields)
    assert_error(response, 422, "invalid", says)
    assert job_folders(tmp_path) == set()


def test_truncated_jpegs_fail_clearly(tmp_path: Path) -> None:
    jpeg = picture(96, 64, fmt="JPEG")
    with studio(tmp_path) as client:
        assert_error(submit(client, jpeg[:120]), 415, "unsupported", "not a readable picture")
        job = submitted(client, jpeg[: len(jpeg) // 2], photo_name="cut.jpg")
        failed = wait_for(client, job["id"])
        assert failed["state"] == "failed"
        assert "truncated" in failed["error"] and "internal error" not in failed["error"]
        assert_error(client.get(f"/api/jobs/{job['id']}/result"), 409, "not_done", "failed")
        last = events(client, job["id"])[-1]
        assert last.event == "failed" and last.data["error"] == failed["error"]
        response = client.get(f"/api/jobs/{job['id']}/input")
        assert response.status_code in (200, 404), response.text  # never a 500


BAD_IDS = ["..%2F..%2Fetc", "..", "a" * 31, "a" * 33, "A" * 32, "g" * 32, "0" * 31 + "%2F", "%2e%2e%2f%2e%2e"]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_malformed_ids_are_404(tmp_path: Path, bad: str) -> None:
    client = studio(tmp_path)
    (tmp_path / "etc").mkdir()
    for method, path in [
        ("GET", ""),
        ("GET", "/events"),
        ("GET", "/result"),
        ("GET", "/preview"),
        ("GET", "/input"),
        ("DELETE", ""),
        ("POST", "/resubmit"),
    ]:
        response = client.request(method, f"/api/jobs/{bad}{path}")
        assert_error(response, 404, "not_found")
    assert (tmp_path / "etc").is_dir()


def test_unknown_job_is_404(tmp_path: Path) -> None:
    client = studio(tmp_path)
    missing = "0123456789abcdef" * 2
    assert_error(client.get(f"/api/jobs/{missing}"), 404, "not_found", missing)
    assert_error(client.delete(f"/api/jobs/{missing}"), 404, "not_found")
    assert_error(client.post(f"/api/jobs/{missing}/resubmit"), 404, "not_found")
    assert_error(client.get(f"/api/jobs/{missing}/events"), 404, "not_found")
    assert_error(client.get("/api/no/such/thing"), 404, "not_found")
    refused = client.put("/api/health")
    assert_error(refused, 405, "method_not_allowed")
    assert refused.headers["allow"] == "GET"
    assert client.options("/api/jobs").headers["allow"] == "GET, POST"  # both routes on the path, not one
    assert client.patch(f"/api/jobs/{missing}").headers["allow"] == "DELETE, GET"


def test_client_file_names_never_reach_the_file_system(tmp_path: Path) -> None:
    data = tmp_path / "data"
    client = studio(data)
    job = submitted(client, photo_name="../../evil.png", method="adain", preset=None, styles=[picture(seed=2)])
    folder = data / "jobs" / job["id"]
    assert sorted(path.name for path in folder.iterdir()) == ["photo.png", "style1.png"]
    assert not list(tmp_path.rglob("evil*"))


# --- the webcam model ----------------------------------------------------------------------------------------------


def test_webcam_model_runs_in_onnxruntime_and_is_cached(tmp_path: Path) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    client = studio(tmp_path)
    response = client.get("/api/webcam/model.onnx")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    styles = len(client.get("/api/presets").json()["presets"])

    session = onnxruntime.InferenceSession(response.content, providers=["CPUExecutionProvider"])
    assert [item.name for item in session.get_inputs()] == ["image", "weights"]
    rng = np.random.default_rng(0)
    weights = np.zeros((1, styles), dtype=np.float32)
    weights[0, 5] = 0.6
    weights[0, 7] = 0.4
    for height, width in [(64, 96), (48, 80)]:
        image = rng.random((1, 3, height, width), dtype=np.float32)
        (output,) = session.run(None, {"image": image, "weights": weights})
        assert output.shape == (1, 3, height, width)
        assert np.isfinite(output).all()

    cached = list((tmp_path / "webcam").glob("*.onnx"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    again = client.get("/api/webcam/model.onnx")
    assert again.status_code == 200 and again.content == response.content
    assert cached[0].stat().st_mtime_ns == stamp
    assert list((tmp_path / "webcam").glob("*.onnx")) == cached
