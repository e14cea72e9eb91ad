"""A job's progress as a sequence of events, read from the `training_job` table.

The table is the only place progress lives (training processes write it, on any machine),
so following a job means reading its row every `poll_seconds` and sending what changed. The
read is a short blocking database call; `follow` runs it in a worker thread and awaits it,
so the event loop serving other requests never waits on the database.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
from sqlalchemy.exc import SQLAlchemyError

from app.core.errors import JobNotFound
from app.db.engine import session_scope
from app.jobs import service as jobs
from models.evidence import Evidence
from models.metrics import VersionMetrics

log = logging.getLogger("tickercast.events")

# The event names a client can listen for.
STATUS = "status"  # status, message, error, attempts, worker
PROGRESS = "progress"  # stage, epoch, epochs, loss, val_loss (and member, members)
VERSION = "version"  # the version registered and the champion gate's decision
END = "end"  # the job is over: the last event of the stream


@dataclass(frozen=True)
class JobSnapshot:
    """What a watcher sees of a job at one moment."""

    id: str
    ticker: str
    status: str
    message: str | None
    error: str | None
    attempts: int
    worker: str | None
    progress: dict[str, Any] = field(default_factory=dict)
    model_version: int | None = None
    metrics: VersionMetrics | None = None

    @property
    def finished(self) -> bool:
        return self.status in jobs.FINISHED


def read_snapshot(database_url: str, job_id: str) -> JobSnapshot:
    """The job as it is now (blocking: call from a worker thread); JobNotFound if unknown."""
    with session_scope(database_url) as session:
        job = jobs.get_job(session, job_id=job_id)
        version = job.model_version
        metrics = VersionMetrics.model_validate(version.metrics) if version is not None else None
        return JobSnapshot(
            id=job.id,
            ticker=job.ticker,
            status=job.status,
            message=job.message,
            error=job.error,
            attempts=job.attempts,
            worker=job.worker,
            progress=dict(job.progress or {}),
            model_version=version.version if version is not None else None,
            metrics=metrics,
        )


def _status(s: JobSnapshot) -> dict[str, Any]:
    return {
        "id": s.id,
        "ticker": s.ticker,
        "status": s.status,
        "message": s.message,
        "error": s.error,
        "attempts": s.attempts,
        "worker": s.worker,
    }


def _version(s: JobSnapshot) -> dict[str, Any]:
    fields: dict[str, Any] = {"ticker": s.ticker, "version": s.model_version}
    if s.metrics is not None:
        fields.update(Evidence.read(s.metrics, version=s.model_version).summary())
    return fields


def changes(previous: JobSnapshot | None, current: JobSnapshot) -> list[tuple[str, dict[str, Any]]]:
    """The events that take a watcher who saw `previous` (None: nothing yet) to `current`."""
    events: list[tuple[str, dict[str, Any]]] = []
    if previous is None or _status(previous) != _status(current):
        events.append((STATUS, _status(current)))
    if current.progress and (previous is None or previous.progress != current.progress):
        events.append((PROGRESS, current.progress))
    if current.model_version is not None and (
        previous is None or previous.model_version != current.model_version
    ):
        events.append((VERSION, _version(current)))
    if current.finished:
        events.append(
            (
                END,
                {
                    "status": current.status,
                    "model_version": current.model_version,
                    "message": current.message,
                    "error": current.error,
                },
            )
        )
    return events


async def follow(
    database_url: str,
    job_id: str,
    *,
    poll_seconds: float,
    stop: anyio.Event,
    first: JobSnapshot | None = None,
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(event, data) pairs for every change of the job, until it ends or `stop` is set."""
    previous: JobSnapshot | None = None
    if first is None:
        first = await anyio.to_thread.run_sync(read_snapshot, database_url, job_id)
    current: JobSnapshot = first
    while True:
        for event in changes(previous, current):
            yield event
        if current.finished:
            return
        previous = current
        with anyio.move_on_after(poll_seconds):
            await stop.wait()
        if stop.is_set():
            return
        try:
            current = await anyio.to_thread.run_sync(read_snapshot, database_url, job_id)
        except JobNotFound:
            yield END, {"status": None, "model_version": None, "message": None,
                        "error": f"job {job_id} no longer exists"}  # fmt: skip
            return
        except SQLAlchemyError as exc:
            # A database restart: keep the stream (and its keep-alives), read again later;
            # `current` stays as it was, so nothing is sent meanwhile.
            log.warning("job %s: could not read its row for the event stream: %s", job_id, exc)


async def watch(
    database_url: str, job_id: str, *, poll_seconds: float, stop: anyio.Event
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """GET /jobs/{id}/events: the job is read once now (JobNotFound for an unknown one, before
    any event is promised), then followed as `follow` does."""
    first = await anyio.to_thread.run_sync(read_snapshot, database_url, job_id)
    return follow(database_url, job_id, poll_seconds=poll_seconds, stop=stop, first=first)
