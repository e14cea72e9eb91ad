"""Conditional GETs: an `ETag` derived from what an answer depends on, 304 for a matching
`If-None-Match`, and the `Cache-Control` that says how long an answer may be reused.

A forecast, a ticker's registry listing and a version's backtest change only when the
ticker's serving token does (app/db/serving_state.py: every write that can change them
gives the ticker a new random token in its own transaction). So the tag is a hash of the
token, the route and every parameter the answer depends on (and the service's version, whose
rendering may differ), computed without the answer itself: any API process on any machine
gives the same request the same tag for as long as the token stands, and answers a
revalidation with 304 after one primary-key read, without computing or sending the answer.
The token is read before the answer is computed, so a tag is never newer than its answer.

Tags are weak (`W/"..."`): two processes give equivalent answers for one tag, but the
bytes of a forecast computed on two machines need not be identical.
"""

from __future__ import annotations

import hashlib
from importlib.metadata import version

from fastapi import Request, Response

from app.core.config import Settings
from app.db import serving_state
from app.db.engine import get_engine
from app.forecasting.cache import ForecastRequest

# A release may render the same data differently: its tags are its own.
RELEASE = version("tickercast")


def tag(token: int, *parts: object) -> str:
    """The weak ETag of an answer under this serving token and these parameters."""
    digest = hashlib.blake2b(repr((RELEASE, token, parts)).encode(), digest_size=12).hexdigest()
    return f'W/"{digest}"'


def forecast_tag(token: int, request: ForecastRequest) -> str:
    """GET /forecast/{ticker}'s tag: the request as the cache keys it (ticker, version or
    alias, horizon, levels)."""
    return tag(token, "forecast", request)


def serving_tag(database_url: str, ticker: str, *parts: object) -> str:
    """Read the ticker's serving token (one primary-key read) and tag these parameters."""
    token = serving_state.current(get_engine(database_url), tickers=[ticker])[ticker]
    return tag(token, ticker, *parts)


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether `If-None-Match` names this tag (weak comparison, as RFC 9110 asks for it)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(
        candidate.strip().removeprefix("W/") == wanted for candidate in if_none_match.split(",")
    )


def cache_control(settings: Settings) -> str:
    """`no-cache` (keep, but ask again each time) or `max-age=N` (reuse for N seconds without
    asking), `private` when reads need a key, so shared caches keep none of it."""
    reuse = (
        f"max-age={settings.http_max_age_seconds}" if settings.http_max_age_seconds else "no-cache"
    )
    return f"private, {reuse}" if settings.api_keys and settings.protect_reads else reuse


def headers(etag: str, settings: Settings, *, vary: str | None = None) -> dict[str, str]:
    """The headers of a tagged answer, 200 or 304 alike."""
    out = {"ETag": etag, "Cache-Control": cache_control(settings)}
    if vary:
        out["Vary"] = vary
    return out


def fresh(request: Request, etag: str) -> bool:
    """Whether the caller already holds the answer this tag names."""
    return matches(request.headers.get("if-none-match"), etag)


def not_modified(etag: str, settings: Settings, *, vary: str | None = None) -> Response:
    """304, no body: the caller's copy is still the answer."""
    return Response(status_code=304, headers=headers(etag, settings, vary=vary))
