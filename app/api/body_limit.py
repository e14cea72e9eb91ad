"""A request body larger than its route allows is refused while it is read (413), never held."""

from __future__ import annotations

from http import HTTPStatus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.schemas.errors import error_out


class BodyTooLarge(Exception):
    """Raised inside `receive` once a body passes its limit."""


class BodyLimit:
    """ASGI middleware: `upload_limit` for CSV imports (`PUT /prices/...`), `limit` elsewhere.

    A declared Content-Length over the limit is refused before a byte is read; a streamed body
    is counted as it arrives and cut off at the limit.
    """

    def __init__(self, app: ASGIApp, *, limit: int, upload_limit: int) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit

    def _limit_for(self, scope: Scope) -> tuple[int, str]:
        if scope["method"] == "PUT" and scope["path"].startswith("/prices/"):
            return self.upload_limit, "TICKERCAST_MAX_UPLOAD_BYTES"
        return self.limit, "TICKERCAST_MAX_BODY_BYTES"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = self._limit_for(scope)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(send, limit, setting)
            return
        seen = 0
        exceeded = False

        async def counted_receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            # Whatever the app made of the cut-off body (FastAPI turns a failed read into a
            # 400), the caller hears why: 413.
            if not exceeded:
                await send(message)
            elif message["type"] == "http.response.start":
                await _refuse(send, limit, setting)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except BodyTooLarge:
            await _refuse(send, limit, setting)


async def _refuse(send: Send, limit: int, setting: str) -> None:
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    body = (
        error_out(
            status.value,
            "payload_too_large",
            f"The request body is over this route's limit of {limit} bytes ({setting}); "
            "nothing was read past it or stored.",
        )
        .model_dump_json()
        .encode()
    )
    await send(
        {
            "type": "http.response.start",
            "status": status.value,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
