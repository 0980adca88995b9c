"""Property-based checks of every operation in the studio's OpenAPI schema (schemathesis): whatever a client sends,
the answer is never a server error, and it conforms to the schema (status codes, content types, bodies, Allow)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance

from painterly.web.app import create_app
from painterly.web.settings import StudioSettings
from tests.studio_helpers import BASE_URL


def _openapi() -> dict[str, Any]:
    """The schema, from an app on a throwaway folder (the schema depends on no setting)."""
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(StudioSettings(data_dir=Path(folder)))
        document = app.openapi()
        app.state.store.close()
    return document


schema = schemathesis.openapi.from_dict(_openapi())


@pytest.fixture
def studio_app(tmp_path: Path) -> Iterator[FastAPI]:
    """A fresh app per operation; schemathesis starts its lifespan (the worker) on the first call."""
    app = create_app(StudioSettings(data_dir=tmp_path, queue_limit=4, rate_limit=0, max_upload_bytes=200_000))
    yield app
    asgi.shutdown_lifespans()


def test_every_error_is_documented_as_json() -> None:
    document = _openapi()
    errors = [
        (path, method, status, answer)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for status, answer in operation["responses"].items()
        if int(status) >= 400
    ]
    assert {(path, status) for path, _, status, _ in errors} >= {("/api/jobs/{job_id}/events", "404")}
    for path, method, status, answer in errors:
        assert answer["content"] == {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}, (
            path,
            method,
            status,
        )


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case: Any, studio_app: FastAPI) -> None:
    # the Host the guard accepts; the timeout covers the webcam model's first export (several seconds)
    response = case.call(base_url=BASE_URL, app=studio_app, timeout=120)
    assert response.status_code < 500, response.text
    # schema-valid data may still be refused: the schema cannot say "a real picture" or "a known preset"
    case.validate_response(response, additional_checks=[not_a_server_error], excluded_checks=[positive_data_acceptance])
