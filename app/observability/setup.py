"""Wire the operator's interfaces into an app: request ids, request logs and CORS."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app.core.config import Settings
from app.observability.middleware import HEADER, RequestMiddleware

# Headers a browser on another origin may send with a read, and read back.
CORS_REQUEST_HEADERS = [
    "Accept",
    "Authorization",
    "X-API-Key",
    HEADER,
    "Last-Event-ID",
    # Conditional reads (app/api/conditional.py): the tag goes out as ETag, back as this.
    "If-None-Match",
]


def install(app: FastAPI, settings: Settings) -> None:
    """Add the request middleware, and CORS for reads when TICKERCAST_CORS_ORIGINS is set."""
    origins = settings.cors_origin_list()
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "HEAD"],
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=[HEADER, "ETag"],
            max_age=600,
        )
    # Added last, so it is outermost: it times and logs CORS answers too.
    app.add_middleware(RequestMiddleware)
