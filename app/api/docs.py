"""The error answers each route documents in OpenAPI, all in the one ErrorOut shape."""

from __future__ import annotations

from typing import Any

from app.schemas.errors import ErrorOut

_MEANING = {
    401: "No API key was sent, and this needs one (`WWW-Authenticate` says how).",
    403: "The API key is not valid, or its scope does not allow this.",
    404: "The ticker, job, version or alias is unknown; `detail` says what to do.",
    408: "The request body stopped arriving before it was whole; nothing was stored.",
    409: "The request conflicts with the current state (e.g. the job already finished).",
    410: "The version was pruned by retention (TICKERCAST_KEEP_VERSIONS): its row, config, "
    "metrics and lineage remain, its weights and backtest windows do not.",
    413: "The request body is over the route's limit; nothing was stored.",
    415: "The body's Content-Type is not one this route takes.",
    422: "The request is invalid; `errors` lists every field that is wrong.",
    429: "Rate limited; `Retry-After` says how many seconds to wait.",
    502: "The price source (Yahoo Finance) failed or has no bars; `detail` says which.",
    503: "The database (or the queue) is busy or unreachable; `Retry-After` says when to retry.",
    507: "A disk the service writes to is full (`detail` names it); nothing was changed.",
}

# What any route that reads the database and takes a key may answer besides its own errors.
READ = (401, 403, 422, 503)
WRITE = (401, 403, 408, 413, 422, 503, 507)


# GETs with an ETag (app/api/conditional.py) answer a matching If-None-Match with this.
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: the `If-None-Match` tag is still the answer's; no body."}
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status with its meaning and the ErrorOut body."""
    return {status: {"model": ErrorOut, "description": _MEANING[status]} for status in statuses}
