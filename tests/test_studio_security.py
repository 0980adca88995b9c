"""What keeps the local studio local: Host and Origin checks, the isolation headers, and the page's own files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.studio_helpers import BASE_URL, assert_error, assert_secured, picture, studio, submit, submitted


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1:8765", "localhost:8765", "[::1]:8765", "127.0.0.1", "LOCALHOST:8765", "192.168.1.20:8765", "[fe80::1]"],
)
def test_loopback_names_and_ip_literals_are_served(tmp_path: Path, host: str) -> None:
    response = studio(tmp_path).get("/api/health", headers={"host": host})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8765", "127.0.0.1.evil.example:8765", "localhost.evil.example", ""]
)
def test_other_host_names_are_refused(tmp_path: Path, host: str) -> None:
    client = studio(tmp_path)
    response = client.get("/api/health", headers={"host": host})
    assert_error(response, 400, "bad_host")
    assert_secured(response)
    assert_error(submit(client, headers={"host": host}), 400, "bad_host")
    assert not (tmp_path / "jobs").exists() or not list((tmp_path / "jobs").iterdir())


def test_an_allowed_host_name_is_served(tmp_path: Path) -> None:
    client = studio(tmp_path, allowed_hosts=("mybox.local",))
    assert client.get("/api/health", headers={"host": "mybox.local:8765"}).status_code == 200
    assert client.get("/api/health", headers={"host": "MyBox.Local"}).status_code == 200
    assert_error(client.get("/api/health", headers={"host": "otherbox.local:8765"}), 400, "bad_host")


def test_the_bound_host_is_served(tmp_path: Path) -> None:
    client = studio(tmp_path, host="studio.lan")
    assert client.get("/api/health", headers={"host": "studio.lan:8765"}).status_code == 200


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:9999", "https://127.0.0.1:8765"])
def test_foreign_origins_are_refused(tmp_path: Path, origin: str) -> None:
    client = studio(tmp_path)
    posted = submit(client, headers={"origin": origin})
    assert_error(posted, 403, "cross_origin")
    assert_secured(posted)
    assert_error(client.get("/api/jobs", headers={"origin": origin}), 403, "cross_origin")
    assert not (tmp_path / "jobs").exists() or not list((tmp_path / "jobs").iterdir())


def test_same_origin_requests_are_served(tmp_path: Path) -> None:
    client = studio(tmp_path)
    job = submitted(client, headers={"origin": BASE_URL, "sec-fetch-site": "same-origin"})
    assert client.get(f"/api/jobs/{job['id']}", headers={"origin": BASE_URL}).status_code == 200
    assert client.delete(f"/api/jobs/{job['id']}", headers={"origin": BASE_URL}).status_code == 202


def test_cross_site_fetches_cannot_change_anything(tmp_path: Path) -> None:
    client = studio(tmp_path)
    assert_error(submit(client, headers={"sec-fetch-site": "cross-site"}), 403, "cross_origin")
    job = submitted(client)
    assert_error(client.delete(f"/api/jobs/{job['id']}", headers={"sec-fetch-site": "cross-site"}), 403)
    assert client.get(f"/api/jobs/{job['id']}").json()["state"] == "queued"
    assert_error(client.get("/api/health", headers={"sec-fetch-site": "cross-site"}), 403, "cross_origin")
    assert client.get("/", headers={"sec-fetch-site": "cross-site"}).status_code == 200  # a link to the page is ok


def test_every_answer_carries_the_security_headers(tmp_path: Path) -> None:
    client = studio(tmp_path)
    job = submitted(client)
    answers = [
        client.get("/api/health"),
        client.get("/openapi.json"),
        client.get("/api/presets"),
        client.get(f"/api/jobs/{job['id']}"),
        client.get(f"/api/jobs/{job['id']}/input"),
        client.get(f"/api/jobs/{job['id']}/result"),  # 409
        client.get("/api/jobs/" + "f" * 32),  # 404
        client.get("/no/such/page"),
        submit(client, b"not a picture"),  # 415
        submit(client, size=1),  # 422
        client.get("/api/health", headers={"host": "evil.example"}),  # 400
        client.get("/api/health", headers={"origin": "http://evil.example"}),  # 403
    ]
    for response in answers:
        assert_secured(response)
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert [response.status_code for response in answers] == [
        200,
        200,
        200,
        200,
        200,
        409,
        404,
        404,
        415,
        422,
        400,
        403,
    ]


@pytest.fixture
def static_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "static"
    folder.mkdir()
    (folder / "index.html").write_text("<!doctype html><title>studio test page</title>\n")
    (folder / "module.wasm").write_bytes(b"\x00asm\x01\x00\x00\x00")
    (folder / "worker.mjs").write_text("export const answer = 42;\n")
    (folder / "app.js").write_text("console.log('hi');\n")
    return folder


def test_the_page_and_its_files(tmp_path: Path, static_dir: Path) -> None:
    client = studio(tmp_path / "data", static_dir=static_dir)
    page = client.get("/")
    assert page.status_code == 200 and "studio test page" in page.text
    assert page.headers["content-type"].startswith("text/html")
    assert_secured(page)
    wasm = client.get("/static/module.wasm")
    assert wasm.status_code == 200 and wasm.headers["content-type"] == "application/wasm"
    assert wasm.content == b"\x00asm\x01\x00\x00\x00"
    assert_secured(wasm)
    for name in ("worker.mjs", "app.js"):
        script = client.get(f"/static/{name}")
        assert script.status_code == 200
        assert script.headers["content-type"].split(";")[0] == "text/javascript"
    assert_error(client.get("/static/missing.js"), 404, "not_found")
    assert client.get("/static/..%2Fdata%2Fjobs.sqlite3").status_code == 404


def test_the_shipped_page_is_served(tmp_path: Path) -> None:
    page = studio(tmp_path).get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<html" in page.text.lower()


def test_a_picture_upload_is_not_run_as_a_page(tmp_path: Path) -> None:
    client = studio(tmp_path)
    html = b"<html><script>alert(1)</script></html>"
    assert_error(submit(client, html, photo_name="photo.html"), 415, "unsupported")
    job = submitted(client, picture())
    response = client.get(f"/api/jobs/{job['id']}/input")
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["x-content-type-options"] == "nosniff"
