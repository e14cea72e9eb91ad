"""Cached forecasts answered before routing: `GET /forecast/{ticker}` whose answer the forecast
cache holds under the ticker's current serving token.

FastAPI's routing and dependency resolution cost a cached forecast three times what the
forecast itself does (BENCHMARKS.md), so this ASGI layer answers the requests it fully
understands from the cache, after the same freshness read, in one worker-thread hop. Anything
else (a miss, an error, a parameter it does not read exactly as the route would, a key it is
not sure of, a database that does not answer) goes on to the route, which validates,
documents and computes as before and fills the cache: this layer never answers what the route
has not answered for the same request and token. A revalidation whose `If-None-Match` is the
request's current tag (app/api/conditional.py) is a 304 after the same read, cached or not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi.security.utils import get_authorization_scheme_param
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, State
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api import conditional
from app.api.auth import identify
from app.api.errors import database_down
from app.core.config import Settings
from app.core.types import MAX_VERSION, TICKER_PATTERN
from app.db import outages, serving_state
from app.db.engine import get_engine
from app.forecasting.cache import ForecastCache, ForecastRequest
from app.schemas.common import ALIAS_PATTERN, levels_or_default
from app.schemas.forecast import MAX_HORIZON
from models.intervals import CALIBRATED_LEVELS

PREFIX = "/forecast/"
ROUTE_PATH = "/forecast/{ticker}"
_TICKER = re.compile(TICKER_PATTERN)
_ALIAS = re.compile(ALIAS_PATTERN)
# Only plain positive integers; "+5", " 5" or "05" go to the route, which reads them its way.
_NUMBER = re.compile(r"[1-9][0-9]{0,9}")
_SCALARS = {"horizon": (1, MAX_HORIZON), "version": (1, MAX_VERSION)}
_LEVELS = (min(CALIBRATED_LEVELS), max(CALIBRATED_LEVELS))


class _Route:
    """What the request middleware reads of a matched route: its template, for labels."""

    path = ROUTE_PATH


def _number(text: str, bounds: tuple[int, int]) -> int | None:
    if not _NUMBER.fullmatch(text):
        return None
    value = int(text)
    return value if bounds[0] <= value <= bounds[1] else None


def parse(scope: Scope) -> ForecastRequest | None:
    """The request as the route would key it, or None for anything read less than surely."""
    ticker = scope["path"][len(PREFIX) :]
    if not _TICKER.fullmatch(ticker):
        return None
    scalars: dict[str, Any] = {}
    levels: list[int] = []
    for name, value in parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True):
        if name == "level":
            level = _number(value, _LEVELS)
            if level is None:
                return None
            levels.append(level)
        elif name in scalars:
            return None  # a repeated single value: the route's reading decides
        elif name in _SCALARS:
            scalars[name] = _number(value, _SCALARS[name])
            if scalars[name] is None:
                return None
        elif name == "alias":
            if not _ALIAS.fullmatch(value):
                return None
            scalars[name] = value
        # The route ignores parameters it does not declare; so does this.
    if "version" in scalars and "alias" in scalars:
        return None  # the route refuses it
    return ForecastRequest(
        ticker=ticker.upper(),
        levels=tuple(levels_or_default(levels or None)),
        **scalars,
    )


def may_read(settings: Settings, scope: Scope) -> bool:
    """Whether the route's read-key check would let this request through."""
    if not settings.api_keys or not settings.protect_reads:
        return True
    headers = Headers(scope=scope)
    scheme, credentials = get_authorization_scheme_param(headers.get("authorization"))
    presented = credentials if scheme.lower() == "bearer" and credentials else None
    presented = presented or headers.get("x-api-key")
    client = scope.get("client")
    return identify(settings, presented, client[0] if client else "unknown") is not None


@dataclass(frozen=True)
class Reply:
    """What the layer answers: 200 with the cached bytes, or 304 with none."""

    status: int
    etag: str
    body: bytes

    def start(self, settings: Settings) -> Message:
        headers = [
            (name.lower().encode(), value.encode())
            for name, value in conditional.headers(self.etag, settings).items()
        ]
        if self.status == 200:
            headers += [
                (b"content-length", str(len(self.body)).encode()),
                (b"content-type", b"application/json"),
            ]
        return {"type": "http.response.start", "status": self.status, "headers": headers}


class CachedForecasts:
    """ASGI middleware in front of the router; `state` is the app's (cache, database URL)."""

    def __init__(self, app: ASGIApp, *, state: State) -> None:
        self.app = app
        self.state = state

    def _lookup(self, request: ForecastRequest, if_none_match: str | None) -> Reply | None:
        cache: ForecastCache = self.state.forecasts
        try:
            token = serving_state.current(
                get_engine(self.state.database_url), tickers=[request.ticker]
            )[request.ticker]
        except Exception as exc:
            if outages.is_outage(exc):
                raise  # answered here (__call__): the route would wait for the database again
            return None  # the route reads it again and answers its way
        etag = conditional.forecast_tag(token, request)
        if conditional.matches(if_none_match, etag):
            # The tag was handed out with a 200 for this request and token: still the answer.
            return Reply(304, etag, b"")
        # A miss is counted by the route, which asks the cache again before computing.
        answer = cache.get(request, token, count_miss=False)
        if answer is None or answer.body is None:
            return None
        return Reply(200, etag, answer.body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and scope["path"].startswith(PREFIX)
            and (request := parse(scope)) is not None
            and may_read(self.state.settings, scope)
        ):
            if_none_match = Headers(scope=scope).get("if-none-match")
            try:
                reply = await run_in_threadpool(self._lookup, request, if_none_match)
            except Exception as exc:  # an outage: the same 503 as every route's
                response = await database_down(Request(scope), exc)
                await response(scope, receive, send)
                return
            if reply is not None:
                scope["route"] = _Route()
                await send(reply.start(self.state.settings))
                await send({"type": "http.response.body", "body": reply.body})
                return
        await self.app(scope, receive, send)
