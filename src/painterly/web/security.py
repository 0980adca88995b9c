"""What keeps a local studio local: Host and Origin checks, isolation headers, a per-client rate limit.

A page on another site cannot drive the API: browsers send ``Origin`` with every cross-origin request and with
same-origin POST/DELETE, and a request whose Origin is not this server's own is refused (403). DNS rebinding (a
hostile name that resolves to 127.0.0.1) is refused by the Host check (400): only loopback names, the bound host,
names given with ``--allow-host`` and IP literals are served. Requests a browser marks ``Sec-Fetch-Site:
cross-site`` may only navigate to the page: the API and every non-GET are refused (403). Every answer carries
COOP/COEP (the cross-origin isolation WASM threads need), a strict content security policy and ``nosniff``.
"""

from __future__ import annotations

import ipaddress
import json
import math
import threading
import time
from collections import deque
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-embedder-policy", b"require-corp"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
        b"img-src 'self' blob: data:; media-src 'self' blob: mediastream:; connect-src 'self' blob: data:; "
        b"worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
)


def error_body(status: int, code: str, message: str) -> bytes:
    """The one JSON shape of every error the studio returns."""
    return json.dumps({"error": {"status": status, "code": code, "message": message}}).encode()


def host_without_port(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class GuardMiddleware:
    """Refuses foreign Host and Origin headers and request bodies over ``max_body_bytes`` (413, as JSON); adds the
    security headers to every response."""

    def __init__(self, app: ASGIApp, *, host_names: Iterable[str], max_body_bytes: int | None = None) -> None:
        self.app = app
        self.host_names = frozenset(host_names)
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        host = headers.get("host", "")
        name = host_without_port(host)
        if not host or (name not in self.host_names and not is_ip_literal(name)):
            await _refuse(send, 400, "bad_host", f"this studio does not answer to the host name '{host}'")
            return
        origin = headers.get("origin")
        if origin is not None and not _same_origin(origin, scope.get("scheme", "http"), host):
            await _refuse(send, 403, "cross_origin", "requests from other sites are refused")
            return
        cross_site = headers.get("sec-fetch-site") == "cross-site"
        if cross_site and (scope["method"] not in ("GET", "HEAD") or scope["path"].startswith("/api/")):
            await _refuse(send, 403, "cross_origin", "requests from other sites are refused")
            return
        limit = self.max_body_bytes
        if limit is not None:
            length = headers.get("content-length", "")
            if length.strip().isdigit() and int(length) > limit:
                await _refuse(send, 413, "too_large", _too_large(limit))
                return
            receive = _limited(receive, limit)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {key.lower() for key, _ in message.get("headers", [])}
                extra = [(key, value) for key, value in SECURITY_HEADERS if key not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _same_origin(origin: str, scheme: str, host: str) -> bool:
    if origin == "null":
        return False
    parts = urlsplit(origin)
    return parts.scheme == scheme and parts.netloc.lower() == host.lower()


def _too_large(limit: int) -> str:
    return f"the request is larger than this studio's limit of {limit / (1024 * 1024):.3g} MB"


def _limited(receive: Receive, limit: int) -> Receive:
    """``receive`` that fails with 413 (an HTTPException: the app answers it as JSON) once the body passes ``limit``
    bytes (a body sent without Content-Length)."""
    received = 0

    async def receive_limited() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise HTTPException(413, _too_large(limit))
        return message

    return receive_limited


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = error_body(status, code, message)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *SECURITY_HEADERS]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RateLimiter:
    """At most ``per_minute`` events per client in any 60 s window (0: no limit)."""

    WINDOW = 60.0

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._times: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def admit(self, client: str) -> int | None:
        """None when admitted (and counted); else the seconds to wait before the next one is admitted."""
        if self.per_minute <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            times = self._times.setdefault(client, deque())
            while times and now - times[0] >= self.WINDOW:
                times.popleft()
            if len(times) >= self.per_minute:
                return max(1, math.ceil(self.WINDOW - (now - times[0])))
            times.append(now)
            if len(self._times) > 1_000:  # forget clients idle for a whole window
                self._times = {key: value for key, value in self._times.items() if now - value[-1] < self.WINDOW}
        return None
