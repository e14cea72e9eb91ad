"""Liveness and readiness."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.deps import BackendDep, SettingsDep
from app.api.examples import ok
from app.db import disk, migrate, outages
from app.schemas.health import Health, Readiness

log = logging.getLogger("tickercast.health")
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
def readyz(settings: SettingsDep, backend: BackendDep) -> Readiness | JSONResponse:
    """The database answers at the migration head, so does Redis with TICKERCAST_QUEUE=rq, and
    writes do not meet a full disk."""
    url = settings.resolved_database_url()
    head = migrate.head_revision(url)
    queue = backend.queue_status()
    try:
        current = migrate.current_revision(url)
    except Exception as exc:  # any driver error means not ready
        log.warning("readiness: the database does not answer: %s", exc)
        body = Readiness(
            status="unavailable",
            database=f"error: {outages.describe(exc)}",
            revision=None,
            head=head,
            queue=queue,
        )
        return JSONResponse(status_code=503, content=body.model_dump())
    if current != head:
        body = Readiness(
            status="migrations pending (run `tickercast db upgrade`)",
            database="ok",
            revision=current,
            head=head,
            queue=queue,
        )
        return JSONResponse(status_code=503, content=body.model_dump())
    full = disk.problem(settings.data_dir, min_free_bytes=int(settings.min_free_disk_mb * 1e6))
    if queue not in (None, "ok") or full is not None:
        body = Readiness(
            status="unavailable",
            database="ok",
            revision=current,
            head=head,
            queue=queue,
            disk=full or "ok",
        )
        return JSONResponse(status_code=503, content=body.model_dump())
    return Readiness(status="ready", database="ok", revision=current, head=head, queue=queue)
