"""Every error leaves the service in one shape (app/schemas/errors.py), whatever raised it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from app.core.errors import ServiceUnavailable, TickercastError
from app.db import disk, outages
from app.schemas.errors import FieldError, error_out

log = logging.getLogger("tickercast.errors")
# Longest piece of a caller's input quoted back in a validation error.
MAX_ECHO = 80


def error_response(
    request: Request,
    status: int,
    code: str,
    detail: str,
    *,
    errors: list[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The JSON answer for an error."""
    body = error_out(status, code, detail, errors=errors)
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_ECHO else f"{text[:MAX_ECHO]}... ({len(text)} characters)"


def _field_errors(exc: RequestValidationError) -> list[FieldError]:
    out = []
    for err in exc.errors():
        message = str(err.get("msg", "invalid"))
        if "input" in err and err.get("type") not in ("missing", "extra_forbidden"):
            # Quote what was sent, but never more than a few dozen characters of it.
            message = f"{message} (got {_short(err['input'])})"
        loc = [p if isinstance(p, int) else str(p) for p in err.get("loc", ())]
        out.append(FieldError(loc=loc, message=message, type=str(err.get("type", "invalid"))))
    return out


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TickercastError)
    return error_response(request, exc.status, exc.code, exc.message, headers=exc.headers)


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _field_errors(exc)
    if errors:
        first = errors[0]
        # ['body', 'epochs'] reads as "body field epochs"; the body as a whole as "body".
        where = " ".join(map(str, first.loc[:1])) + (
            " field " + ".".join(map(str, first.loc[1:])) if len(first.loc) > 1 else ""
        )
        detail = f"Invalid {where}: {first.message}"
    else:
        detail = "Invalid request."
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more problem(s), listed in errors)"
    return error_response(request, 422, "invalid_input", detail, errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400:
        # Starlette's answer to a body it cannot decode (bytes that are not UTF-8, say): invalid
        # input like any other, in the 422 every route documents.
        message = f"The body could not be read: {exc.detail}"
        return error_response(
            request,
            422,
            "invalid_input",
            f"Invalid body: {message}",
            errors=[FieldError(loc=["body"], message=message, type="body_unreadable")],
        )
    status = HTTPStatus(exc.status_code)
    detail = exc.detail if isinstance(exc.detail, str) else status.description
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"No route {request.method} {request.url.path}; see /docs for the API."
    if exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}; see /docs."
    code = status.phrase.lower().replace(" ", "_").replace("-", "_")
    return error_response(request, exc.status_code, code, detail, headers=exc.headers)


def _disk_full(request: Request, exc: Exception) -> JSONResponse:
    # Not a passing outage: someone must free space. One sentence naming the disk, a 507.
    settings = request.app.state.settings
    log.error("a write met a full disk on %s %s: %s", request.method, request.url.path, exc)
    disk.noted()  # /readyz says not ready for a while
    refusal = disk.refusal(settings.resolved_database_url(), settings.data_dir, exc)
    return error_response(
        request, refusal.status, refusal.code, refusal.message, headers=refusal.headers
    )


async def _os_error(request: Request, exc: Exception) -> JSONResponse:
    if disk.is_disk_full(exc):
        return _disk_full(request, exc)
    return await _unexpected(request, exc)


async def database_down(request: Request, exc: Exception) -> JSONResponse:
    """507 for a full disk; 503 with Retry-After for a busy or unreachable database; any other
    error a 500."""
    if disk.is_disk_full(exc):
        return _disk_full(request, exc)
    # A busy or unreachable database is a passing condition: say so, and when to come back.
    # A statement the database refuses (a missing table) is not, and trying again won't help.
    if not outages.is_outage(exc):
        return await _unexpected(request, exc)
    log.warning("database error on %s %s: %s", request.method, request.url.path, exc)
    err = ServiceUnavailable(
        "The database is busy or unreachable; nothing was changed. Try again shortly."
    )
    return await _domain_error(request, err)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The details go to the log with the request id; the answer names no internals.
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(
        request,
        500,
        "internal_error",
        "The service failed to answer this request; it is logged under its request id.",
    )


def install_error_handlers(app: FastAPI) -> None:
    """Render domain errors, invalid requests, HTTP errors and database outages alike."""
    app.add_exception_handler(TickercastError, _domain_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
    for outage in (OperationalError, InterfaceError, PoolTimeout):
        app.add_exception_handler(outage, database_down)
    app.add_exception_handler(OSError, _os_error)
    app.add_exception_handler(Exception, _unexpected)
