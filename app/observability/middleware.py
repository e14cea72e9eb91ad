"""One ASGI middleware per request: its id, one log line, and the latency histogram."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability.logs import REQUEST_ID
from app.observability.metrics import REQUEST_LATENCY

log = logging.getLogger("tickercast.request")
HEADER = "X-Request-ID"
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
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(HEADER, "")
        request_id = incoming if ACCEPTED_ID.match(incoming) else uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = route_of(scope)
            method = scope["method"]
            REQUEST_LATENCY.labels(method, route, str(status)).observe(elapsed)
            client = scope.get("client")
            log.info(
                "%s %s %d %.1f ms",
                method,
                scope["path"],
                status,
                elapsed * 1000,
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
            REQUEST_ID.reset(token)
