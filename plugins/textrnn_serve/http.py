"""HTTP plumbing: capped and timed body reading, API-key and metrics middleware (plain ASGI)."""

from __future__ import annotations

import asyncio
import hmac
import json
import time

from .errors import APIError, parse_object
from .metrics import Metrics

OPEN_PATHS = {"/health", "/"}  # "/" is the static playground page: it holds no data and asks for the key itself


async def read_json(request, max_bytes: int, timeout: float) -> dict:
    """The body as a JSON object: 413 past ``max_bytes``, 408 when the client stalls for ``timeout`` s."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise APIError(413, f"request body of {declared} bytes is over the limit of {max_bytes}")
    chunks, size = [], 0

    async def receive_all() -> None:
        nonlocal size
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise APIError(413, f"request body is over the limit of {max_bytes} bytes")
            chunks.append(chunk)

    try:
        await asyncio.wait_for(receive_all(), timeout)
    except asyncio.TimeoutError:
        raise APIError(408, f"the request body did not arrive within {timeout:g} s", "timeout_error") from None
    return parse_object(b"".join(chunks))


async def send_json(send, status: int, body: dict, headers: list | None = None) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": payload})


class RequireAPIKey:
    """Every path but :data:`OPEN_PATHS` needs ``Authorization: Bearer <key>``; 401 otherwise."""

    def __init__(self, app, key: str):
        self.app = app
        self.expected = f"Bearer {key}".encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or scope["method"] == "OPTIONS":
            return await self.app(scope, receive, send)
        given = dict(scope["headers"]).get(b"authorization", b"")
        if hmac.compare_digest(given, self.expected):  # constant time: no timing oracle for the key
            return await self.app(scope, receive, send)
        error = APIError(401, "missing or wrong API key: send 'Authorization: Bearer <key>'", "authentication_error")
        await send_json(send, 401, error.body(), [(b"www-authenticate", b"Bearer")])


class CountRequests:
    """Counts requests by path and status and times them to the last byte of the response."""

    def __init__(self, app, metrics: Metrics, paths: set[str]):
        self.app = app
        self.metrics = metrics
        self.paths = paths  # known paths become labels; anything else is "other" (bounded label set)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), 500
        path = scope["path"] if scope["path"] in self.paths else "other"

        async def timed_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            self.metrics.request_done(path, status, time.perf_counter() - start)
