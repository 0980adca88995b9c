"""The studio's FastAPI application: the page, its files, and the jobs API (see docs/studio_api.md)."""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, File, Form, Header, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response
from fastapi.routing import APIRoute
from fastapi.sse import EventSourceResponse, ServerSentEvent
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..errors import ConfigError, PainterlyError, WeightsError
from .bell import EventBell
from .execute import DISPLAY_IMAGE, PREVIEW_IMAGE, RESULT_IMAGE, RESULT_VIDEO, display_copy
from .runner import JobRunner
from .security import GuardMiddleware, RateLimiter, error_body
from .settings import StudioSettings
from .spec import StudioOptions, check_request
from .store import FINAL_STATES, Job, JobInput, JobKind, JobStore, is_job_id, new_job_id
from .uploads import (
    SNIFF_BYTES,
    Sniffed,
    UnsupportedUploadError,
    UploadTooLargeError,
    check_picture,
    check_video,
    sniff,
)
from .views import ErrorBody, Health, JobList, JobView, PresetList, PresetView, job_view
from .webcam import WebcamModel

mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("text/javascript", ".js")
MAX_EVENT_ID = 2**62
EVENT_WAIT_SECONDS = 5.0
"""A stream rereads the store at least this often, even without news (a safety net)."""
RETRY_AFTER_FULL_QUEUE = 10

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 403, 404, 409, 413, 415, 422, 429, 503)
}


class StudioError(Exception):
    """An error answer: status, a short code and a one-line message (plus headers such as Retry-After)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def _error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(error_body(status, code, message), status, headers=headers, media_type="application/json")


_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large", 415: "unsupported"}


def create_app(settings: StudioSettings) -> FastAPI:
    """The app, with its job store and worker (started and stopped with the app's lifespan)."""
    store = JobStore(settings.data_dir / "jobs.sqlite3")
    runner = JobRunner(store, settings)
    limiter = RateLimiter(settings.rate_limit)
    webcam = WebcamModel(settings.data_dir / "webcam")
    bell = EventBell()
    store.subscribe(bell.ring)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        runner.start()
        try:
            yield
        finally:
            await asyncio.to_thread(runner.stop)

    app = FastAPI(
        title="painterly studio",
        version=__version__,
        description="Neural style transfer on this computer: jobs, live progress, presets. See docs/studio_api.md.",
        lifespan=lifespan,
        responses=ERRORS,
    )
    app.state.settings, app.state.store, app.state.runner = settings, store, runner
    # the body limit lives in the guard, not in FastAPI's max_body_size: that one answers 413 as plain text, without
    # the security headers, to any request that announces a large Content-Length
    app.add_middleware(GuardMiddleware, host_names=settings.host_names(), max_body_bytes=settings.max_upload_bytes)

    @app.exception_handler(StudioError)
    async def studio_error(_: Request, error: StudioError) -> Response:
        return _error_response(error.status, error.code, error.message, error.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(error.status_code, "error")
        message = str(error.detail) if error.status_code != 404 else "not found"
        headers = dict(error.headers or {})
        if error.status_code == 405:  # Starlette lists the methods of only one of the routes on this path
            headers["Allow"] = ", ".join(_allowed_methods(app, request.url.path))
        return _error_response(error.status_code, code, message, headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> Response:
        parts = []
        for item in error.errors()[:3]:
            where = ".".join(str(part) for part in item.get("loc", ()) if part not in ("body", "query", "header"))
            parts.append(f"{where}: {item.get('msg', 'invalid')}" if where else str(item.get("msg", "invalid")))
        return _error_response(422, "invalid", "; ".join(parts) or "invalid request")

    def get_job(job_id: str) -> Job:
        job = store.get(job_id) if is_job_id(job_id) else None
        if job is None:
            raise StudioError(404, "not_found", f"no job '{job_id[:40]}'")
        return job

    def admit(request: Request) -> str:
        client = request.client.host if request.client else "unknown"
        wait = limiter.admit(client)
        if wait is not None:
            raise StudioError(
                429,
                "rate_limited",
                f"more than {settings.rate_limit} jobs a minute from this client; try again in {wait} s",
                {"Retry-After": str(wait)},
            )
        return client

    def queue_full() -> StudioError:
        return StudioError(
            503,
            "queue_full",
            f"{settings.queue_limit} jobs are already waiting; try again shortly",
            {"Retry-After": str(RETRY_AFTER_FULL_QUEUE)},
        )

    def enqueue(
        job_id: str,
        kind: JobKind,
        method: str,
        options: dict[str, Any],
        inputs: list[JobInput],
        client: str,
        response: Response,
    ) -> JobView:
        """Queue a job whose inputs are in its folder (503, and the folder removed, when the queue is full)."""
        try:
            job = store.create(
                job_id,
                kind=kind,
                method=method,
                options=options,
                inputs=inputs,
                client=client,
                queue_limit=settings.queue_limit,
            )
        except BaseException:
            shutil.rmtree(runner.folder(job_id), ignore_errors=True)
            raise
        if job is None:
            shutil.rmtree(runner.folder(job_id), ignore_errors=True)
            raise queue_full()
        runner.wake()
        response.headers["Location"] = f"/api/jobs/{job.id}"
        return job_view(job, store)

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(settings.static_dir / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=settings.static_dir, check_dir=False), name="static")

    @app.get("/api/health")
    def health() -> Health:
        return Health(status="ok", queued=store.count("queued"), running=store.count("running"))

    @app.post("/api/jobs", status_code=202, summary="Submit a job")
    def submit(
        request: Request,
        response: Response,
        photo: Annotated[UploadFile, File(description="The photo (or a video)")],
        method: Annotated[str, Form()] = "preset",
        preset: Annotated[str | None, Form(max_length=400)] = None,
        style: Annotated[list[UploadFile] | None, File(description="One or two paintings")] = None,
        strength: Annotated[float | None, Form(ge=0, le=1)] = None,
        color: Annotated[Literal["none", "luminance"], Form()] = "none",
        size: Annotated[int, Form(ge=64, le=2048)] = 512,
        iterations: Annotated[int | None, Form(ge=10, le=2000)] = None,
        blend: Annotated[float, Form(ge=0, le=1)] = 0.5,
    ) -> JobView:
        client = admit(request)
        if store.count("queued") >= settings.queue_limit:
            raise queue_full()
        styles = [item for item in style or [] if item.filename or item.size]
        photo_kind = _sniff_upload(photo, "the photo")
        style_kinds = [_sniff_upload(item, f"painting {index + 1}") for index, item in enumerate(styles)]
        if any(kind.kind != "image" for kind in style_kinds):
            raise StudioError(415, "unsupported", "a painting must be a picture, not a video")
        options = StudioOptions(
            kind=photo_kind.kind,
            preset=preset or None,
            strength=strength,
            color=color,
            size=size,
            iterations=iterations,
            blend=blend,
        )
        try:
            check_request(method, options, len(styles))
        except ConfigError as error:
            raise StudioError(422, "invalid", str(error)) from error
        except WeightsError as error:
            raise StudioError(503, "no_model", str(error)) from error
        job_id = new_job_id()
        folder = runner.folder(job_id)
        try:
            inputs = [_keep_upload(photo, photo_kind, folder, "photo")]
            inputs += [
                _keep_upload(item, kind, folder, f"style{i + 1}")
                for i, (item, kind) in enumerate(zip(styles, style_kinds, strict=True))
            ]
            for item in inputs:
                if item.role != "photo" or photo_kind.kind == "image":
                    check_picture(folder / item.file, max_pixels=settings.max_pixels, label=_label(item))
                else:
                    check_video(
                        folder / item.file,
                        max_pixels=settings.max_pixels,
                        max_frames=settings.max_video_frames,
                        long_side=size,
                    )
        except UploadTooLargeError as error:
            shutil.rmtree(folder, ignore_errors=True)
            raise StudioError(413, "too_many_pixels", str(error)) from error
        except UnsupportedUploadError as error:
            shutil.rmtree(folder, ignore_errors=True)
            raise StudioError(415, "unsupported", str(error)) from error
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return enqueue(job_id, photo_kind.kind, method, options.as_dict(), inputs, client, response)

    @app.get("/api/jobs", summary="Recent jobs, newest first")
    def list_jobs(limit: Annotated[int, Query(ge=1, le=200)] = 24) -> JobList:
        return JobList(jobs=[job_view(job, store) for job in store.recent(limit)])

    @app.get("/api/jobs/{job_id}", summary="One job")
    def get_one(job_id: str) -> JobView:
        return job_view(get_job(job_id), store)

    @app.get("/api/jobs/{job_id}/events", response_class=EventSourceResponse, summary="Live events (SSE)")
    async def events(
        job: Job = Depends(get_job),  # noqa: B008  (a closure: Annotated would not resolve it)
        after: Annotated[int | None, Query(ge=0, le=MAX_EVENT_ID)] = None,
        last_event_id: Annotated[str | None, Header(max_length=40)] = None,
    ) -> AsyncIterator[ServerSentEvent]:
        seen = after or 0
        given = (last_event_id or "").strip()
        if given.isascii() and given.isdigit() and len(given) <= 18:  # anything else is ignored, as browsers do
            seen = max(seen, int(given))
        async for event in _event_stream(store, bell, job.id, seen):
            yield event

    @app.get(
        "/api/jobs/{job_id}/result",
        summary="The result at full resolution",
        response_class=FileResponse,
        responses={200: {"content": {"image/png": {}, "video/mp4": {}}}},
    )
    def result(job_id: str, download: Annotated[bool, Query()] = False) -> FileResponse:
        job = get_job(job_id)
        if job.state != "done":
            raise StudioError(409, "not_done", f"job {job.id} is {job.state}, it has no result")
        name = RESULT_VIDEO if job.kind == "video" else RESULT_IMAGE
        path = runner.folder(job.id) / name
        if not path.is_file():
            raise StudioError(404, "not_found", f"the result of job {job.id} is gone")
        filename = f"painterly-{job.method}-{job.id[:8]}{path.suffix}"
        return FileResponse(
            path,
            filename=filename if download else None,
            content_disposition_type="attachment" if download else "inline",
        )

    @app.get(
        "/api/jobs/{job_id}/preview",
        summary="The latest intermediate picture, or the result's display copy",
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}}}},
    )
    def preview(job_id: str) -> Response:
        job = get_job(job_id)
        folder = runner.folder(job.id)
        for name in (DISPLAY_IMAGE, PREVIEW_IMAGE) if job.state == "done" else (PREVIEW_IMAGE,):
            data = _read_or_none(folder / name)  # read whole: the preview is replaced about once a second
            if data is not None:
                return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
        raise StudioError(404, "not_found", f"job {job.id} has no picture yet")

    @app.get(
        "/api/jobs/{job_id}/input",
        summary="The photo as decoded (for the before/after view)",
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}}}},
    )
    def input_picture(job_id: str) -> Response:
        job = get_job(job_id)
        photo = job.input("photo")
        if job.kind != "image" or photo is None:
            raise StudioError(404, "not_found", f"job {job.id} has no still photo")
        folder = runner.folder(job.id)
        target = folder / "input.jpg"
        data = _read_or_none(target)
        if data is None:
            try:
                size = int(job.options.get("size", 1024))
                display_copy(folder / photo.file, target, size, max_pixels=settings.max_pixels)
            except (PainterlyError, OSError) as error:
                raise StudioError(404, "not_found", f"the photo of job {job.id} is gone") from error
            data = _read_or_none(target)
        if data is None:
            raise StudioError(404, "not_found", f"the photo of job {job.id} is gone")
        return Response(data, media_type="image/jpeg")

    @app.post(
        "/api/jobs/{job_id}/cancel",
        status_code=202,
        summary="Cancel a queued or running job",
        responses={409: {"description": "the job has already finished"}},
    )
    def cancel(job_id: str) -> JobView:
        job = get_job(job_id)
        if job.state in FINAL_STATES:
            raise StudioError(409, "finished", f"job {job.id} is already {job.state}")
        runner.cancel(job)
        return job_view(get_job(job.id), store)

    @app.delete(
        "/api/jobs/{job_id}",
        status_code=202,
        summary="Cancel an active job (202); with remove=true delete a finished one and its files (204)",
        responses={204: {"description": "deleted"}},
    )
    def delete(job_id: str, remove: Annotated[bool, Query()] = False) -> Any:
        job = get_job(job_id)
        if job.state not in FINAL_STATES:
            runner.cancel(job)
            return job_view(get_job(job.id), store)
        if not remove:
            raise StudioError(409, "finished", f"job {job.id} is already {job.state}; add ?remove=true to delete it")
        runner.delete(job.id)
        return Response(status_code=204)

    @app.post("/api/jobs/{job_id}/resubmit", status_code=202, summary="Run a stopped job again")
    def resubmit(job_id: str, request: Request, response: Response) -> JobView:
        job = get_job(job_id)
        if job.state not in ("interrupted", "failed", "cancelled"):
            raise StudioError(409, "not_stopped", f"job {job.id} is {job.state}; only stopped jobs run again")
        client = admit(request)
        new_id = new_job_id()
        source, target = runner.folder(job.id), runner.folder(new_id)
        target.mkdir(parents=True)
        try:
            for item in job.inputs:
                shutil.copyfile(source / item.file, target / item.file)
        except OSError as error:
            shutil.rmtree(target, ignore_errors=True)
            raise StudioError(409, "inputs_gone", f"the inputs of job {job.id} are gone") from error
        return enqueue(new_id, job.kind, job.method, job.options, list(job.inputs), client, response)

    @app.get("/api/presets", summary="The presets (instant styles) and the webcam model")
    def presets() -> PresetList:
        from ..presets import list_presets

        try:
            listed = [PresetView(name=item.name, index=item.index) for item in list_presets()]
        except PainterlyError as error:
            raise StudioError(503, "no_model", str(error)) from error
        return PresetList(presets=listed, webcam_model="/api/webcam/model.onnx")

    @app.get(
        "/api/webcam/model.onnx",
        summary="The fast preset network as ONNX, for the webcam mode",
        response_class=FileResponse,
        responses={200: {"content": {"application/octet-stream": {}}}},
    )
    def webcam_model() -> FileResponse:
        try:
            path = webcam.path()
        except PainterlyError as error:
            raise StudioError(503, "no_model", str(error)) from error
        return FileResponse(path, media_type="application/octet-stream", headers={"Cache-Control": "no-cache"})

    app.openapi = lambda: _openapi_with_json_errors(app)  # type: ignore[method-assign]
    return app


def _allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods of every route on ``path`` (for the ``Allow`` header of a 405)."""
    methods = {
        method
        for route in app.routes
        if isinstance(route, APIRoute) and route.path_regex.fullmatch(path)
        for method in route.methods or ()
    }
    return sorted(methods)


def _openapi_with_json_errors(app: FastAPI) -> dict[str, Any]:
    """The schema, where every error answer is the JSON ``ErrorBody`` (FastAPI files the errors of a route under the
    route's own media type, e.g. ``text/event-stream`` for the events)."""
    if app.openapi_schema is None:
        document = FastAPI.openapi(app)
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                for status, answer in operation.get("responses", {}).items():
                    if status.isdigit() and int(status) >= 400:
                        answer["content"] = {key: dict(value) for key, value in error.items()}
    return app.openapi_schema or {}


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:  # absent, or deleted a moment ago
        return None


def _label(item: JobInput) -> str:
    return "the photo" if item.role == "photo" else f"painting {item.role.removeprefix('style')}"


def _sniff_upload(upload: UploadFile, label: str) -> Sniffed:
    head = upload.file.read(SNIFF_BYTES)
    upload.file.seek(0)
    if not head:
        raise StudioError(400, "empty", f"{label} is empty")
    try:
        found = sniff(head)
    except UnsupportedUploadError as error:
        raise StudioError(415, "unsupported", str(error)) from error
    if found is None:
        raise StudioError(
            415, "unsupported", f"{label} is not a PNG, JPEG, WebP, GIF, TIFF or BMP picture (or MP4/WebM/MKV video)"
        )
    return found


def _keep_upload(upload: UploadFile, sniffed: Sniffed, folder: Path, role: str) -> JobInput:
    """Store an upload under a name the server chooses (the client's name is kept only as text)."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{role}{sniffed.suffix}"
    with open(folder / name, "wb") as handle:
        shutil.copyfileobj(upload.file, handle, 1 << 20)
    return JobInput(role=role, file=name, name=(upload.filename or "")[-200:])


def _nothing_more(store: JobStore, job_id: str, seen: int) -> bool:
    """True when the job is gone, or finished with its final event already seen (a client that resumes after the
    final event, e.g. an EventSource reconnecting, gets an empty stream that ends instead of one that never does)."""
    job = store.get(job_id)
    return job is None or (job.state in FINAL_STATES and not store.events_after(job_id, seen))


async def _event_stream(store: JobStore, bell: EventBell, job_id: str, seen: int) -> AsyncIterator[ServerSentEvent]:
    """The job's events after id ``seen``, as they come; ends after the final one (or when the job is deleted)."""
    with bell.listen(job_id) as news:
        while True:
            news.clear()
            batch = store.events_after(job_id, seen)
            for event in batch:
                seen = event.id
                data: Any = event.data
                if event.event in FINAL_STATES:
                    job = store.get(job_id)
                    data = job_view(job, store).model_dump() if job is not None else event.data
                yield ServerSentEvent(data=data, event=event.event, id=str(event.id))
                if event.event in FINAL_STATES:
                    return
            if not batch and _nothing_more(store, job_id, seen):
                return
            if not batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(news.wait(), EVENT_WAIT_SECONDS)


__all__ = ["create_app"]
