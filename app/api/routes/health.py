"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.deps import SettingsDep
from app.api.examples import ok
from app.db import migrate
from app.schemas.health import Health, Readiness

router = APIRouter(tags=["health"])


# `async def`: it touches nothing that blocks, so it needs no worker thread, and a pool
# busy with slow requests does not make a live process look dead.
@router.get(
    "/healthz",
    operation_id="health_live",
    response_model=Health,
    responses=ok({"status": "ok"}),
)
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get(
    "/readyz",
    operation_id="health_ready",
    response_model=Readiness,
    responses={
        **ok({"status": "ready", "database": "ok", "revision": "0006", "head": "0006"}),
        503: {"model": Readiness, "description": "Not ready: the body says what is not"},
    },
)
def readyz(settings: SettingsDep) -> Readiness | JSONResponse:
    """The database answers and its schema is at the migration head."""
    url = settings.resolved_database_url()
    head = migrate.head_revision(url)
    try:
        current = migrate.current_revision(url)
    except Exception as exc:  # any driver error means not ready
        body = Readiness(status="unavailable", database=f"error: {exc}", revision=None, head=head)
        return JSONResponse(status_code=503, content=body.model_dump())
    if current != head:
        body = Readiness(
            status="migrations pending (run `tickercast db upgrade`)",
            database="ok",
            revision=current,
            head=head,
        )
        return JSONResponse(status_code=503, content=body.model_dump())
    return Readiness(status="ready", database="ok", revision=current, head=head)
