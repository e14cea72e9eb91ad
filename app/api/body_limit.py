"""A request body larger than its route allows is refused while it is read (413), never held;
one that stops arriving is refused after a time limit (408), never waited on for ever."""

from __future__ import annotations

from http import HTTPStatus

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.schemas.errors import error_out


class BodyTooLarge(Exception):
    """Raised inside `receive` once a body passes its limit."""


class BodyStalled(Exception):
    """Raised inside `receive` when the next piece of a body does not come in time."""


class BodyLimit:
    """ASGI middleware: `upload_limit` for CSV imports (`PUT /prices/...`), `limit` elsewhere.

    A declared Content-Length over the limit is refused before a byte is read; a streamed body
    is counted as it arrives and cut off at the limit. Each piece of a body must come within
    `read_timeout` seconds of the last (uvicorn has no such limit): a client that trickles a
    byte now and then cannot hold a request, its connection and a worker's memory for ever.
    After the body's last piece, `receive` waits without limit (it is how a streaming answer
    hears that the client left).
    """

    def __init__(self, app: ASGIApp, *, limit: int, upload_limit: int, read_timeout: float) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit
        self.read_timeout = read_timeout

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
            await _refuse(send, *_too_large(limit, setting))
            return
        seen = 0
        body_done = False
        # Set once the body is refused: what the caller hears, whatever the app made of it.
        refusal: Refusal | None = None

        async def counted_receive() -> Message:
            nonlocal seen, body_done, refusal
            if body_done:
                return await receive()
            try:
                with anyio.fail_after(self.read_timeout):
                    message = await receive()
            except TimeoutError:
                refusal = _stalled(self.read_timeout)
                raise BodyStalled from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if seen > limit:
                    refusal = _too_large(limit, setting)
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            # Whatever the app made of the refused body (FastAPI turns a failed read into a
            # 400), the caller hears why: 413 or 408.
            if refusal is None:
                await send(message)
            elif message["type"] == "http.response.start":
                await _refuse(send, *refusal)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except (BodyTooLarge, BodyStalled):
            assert refusal is not None
            await _refuse(send, *refusal)


# A refusal: the status, the error code and the sentence a caller reads.
Refusal = tuple[HTTPStatus, str, str]


def _too_large(limit: int, setting: str) -> Refusal:
    return (
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        "payload_too_large",
        f"The request body is over this route's limit of {limit} bytes ({setting}); "
        "nothing was read past it or stored.",
    )


def _stalled(seconds: float) -> Refusal:
    return (
        HTTPStatus.REQUEST_TIMEOUT,
        "request_timeout",
        f"The request body stopped arriving: nothing came for {seconds:g} s "
        "(TICKERCAST_BODY_READ_TIMEOUT_SECONDS); nothing was stored. Send it again.",
    )


async def _refuse(send: Send, status: HTTPStatus, code: str, detail: str) -> None:
    body = error_out(status.value, code, detail).model_dump_json().encode()
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
