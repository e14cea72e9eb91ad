"""One ASGI middleware per request: its id, one log line, and the latency histogram."""

from __future__ import annotations

import logging
import os
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability.logs import REQUEST_ID
from app.observability.metrics import REQUEST_LATENCY

log = logging.getLogger("tickercast.request")
HEADER = "X-Request-ID"
_RAW_HEADER = HEADER.lower().encode()
# An incoming id is kept only when it is short and plain: it goes into every log line.
ACCEPTED_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def route_of(scope: Scope) -> str:
    """The matched route's template (/forecast/{ticker}), so that labels stay few."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if scope.get("root_path") or scope.get("app_root_path"):
        mounted = scope.get("app_root_path") or scope.get("root_path")
        if isinstance(mounted, str) and mounted:
            return f"{mounted}/*"
    return "unmatched"


class RequestMiddleware:
    """Keeps or makes X-Request-ID, answers with it, logs the request and times it.

    Pure ASGI (not BaseHTTPMiddleware), so streamed answers such as server-sent events pass
    through untouched; their line is written when the stream ends.

    It runs on every request, so it is written for its cost (BENCHMARKS.md measures it):
    the headers are scanned once as bytes, the id is 16 random bytes in hex (what uuid4().hex
    gives, without the UUID object), and the log record is made directly, without the
    caller's frame lookup `log.info` does (the formats never print it).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for name, value in scope["headers"]:
            if name == _RAW_HEADER:
                incoming = value.decode("latin-1")
                break
        request_id = incoming if ACCEPTED_ID.match(incoming) else os.urandom(16).hex()
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                headers.append((_RAW_HEADER, request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = route_of(scope)
            method = scope["method"]
            REQUEST_LATENCY.labels(method, route, str(status)).observe(elapsed)
            if log.isEnabledFor(logging.INFO):
                client = scope.get("client")
                record = log.makeRecord(
                    log.name,
                    logging.INFO,
                    __file__,
                    0,
                    "%s %s %d %.1f ms",
                    (method, scope["path"], status, elapsed * 1000),
                    None,
                    extra={
                        "request_id": request_id,
                        "method": method,
                        "path": scope["path"],
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "client": client[0] if client else None,
                    },
                )
                log.handle(record)
            REQUEST_ID.reset(token)
