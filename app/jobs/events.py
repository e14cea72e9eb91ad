"""A job's progress as a sequence of events, read from the `training_job` table.

The table is the only place progress lives (training processes write it, on any machine),
so following a job means reading its row every `poll_seconds` and sending what changed. One
poller per process does the reading (`JobWatch`): every `poll_seconds` it reads every job
someone follows in one query, in a worker thread, and wakes the streams, so 300 open streams
cost one short read a round, not 300 (issue 19: 300 streams filled PostgreSQL's 30-connection
pool). The event loop serving other requests never waits on the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from typing import Any

import anyio
from sqlalchemy.exc import SQLAlchemyError

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
        return _snapshot(jobs.get_job(session, job_id=job_id))


def read_snapshots(database_url: str, job_ids: Collection[str]) -> dict[str, JobSnapshot]:
    """The jobs of these ids as they are now, in one query (blocking); a missing id is absent."""
    with session_scope(database_url) as session:
        return {job.id: _snapshot(job) for job in jobs.get_jobs(session, job_ids=job_ids)}


def _snapshot(job: Any) -> JobSnapshot:
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


class JobWatch:
    """The process's one poller of followed jobs: a round every `poll_seconds` reads them all
    in one query and wakes every stream, which then looks at its job's latest snapshot."""

    def __init__(self, database_url: str, *, poll_seconds: float) -> None:
        self.url = database_url
        self.poll_seconds = poll_seconds  # seconds
        self._followers: Counter[str] = Counter()
        self._latest: dict[str, JobSnapshot] = {}
        self._read_ok = True  # whether the last round could read the table
        self._missing: set[str] = set()  # followed ids the last round did not find
        self._round: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0  # reads done, for tests and the curious

    def _ensure_polling(self) -> asyncio.Event:
        """The event the next round sets; starts the poller in this event loop if needed."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._round = asyncio.Event()
            self._task = loop.create_task(self._poll(), name="tickercast-job-events")
        assert self._round is not None
        return self._round

    async def _poll(self) -> None:
        while self._followers:
            await asyncio.sleep(self.poll_seconds)
            ids = list(self._followers)
            if not ids:
                break
            try:
                found = await anyio.to_thread.run_sync(read_snapshots, self.url, ids)
            except SQLAlchemyError as exc:
                # A database restart: the streams keep their last state (and keep-alives).
                if self._read_ok:
                    log.warning("could not read the followed jobs for their event streams: %s", exc)
                self._read_ok = False
            else:
                self._read_ok = True
                self._latest = {i: found[i] for i in ids if i in found}
                self._missing = {i for i in ids if i not in found}
            self.rounds += 1
            done, self._round = self._round, asyncio.Event()
            if done is not None:
                done.set()

    async def follow(
        self, job_id: str, *, first: JobSnapshot, stop: anyio.Event
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """(event, data) pairs for every change of the job, until it ends or `stop` is set."""
        self._followers[job_id] += 1
        try:
            previous: JobSnapshot | None = None
            current = first
            while True:
                for event in changes(previous, current):
                    yield event
                if current.finished:
                    return
                previous = current
                next_round = self._ensure_polling()
                # Woken by the round; a shutdown is seen within a few rounds at most.
                with anyio.move_on_after(self.poll_seconds * 4):
                    await next_round.wait()
                if stop.is_set():
                    return
                if self._read_ok and job_id in self._missing:
                    yield END, {"status": None, "model_version": None, "message": None,
                                "error": f"job {job_id} no longer exists"}  # fmt: skip
                    return
                current = self._latest.get(job_id, current)
        finally:
            self._followers[job_id] -= 1
            if self._followers[job_id] <= 0:
                del self._followers[job_id]


async def watch(
    job_watch: JobWatch, job_id: str, *, stop: anyio.Event
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """GET /jobs/{id}/events: the job is read once now (JobNotFound for an unknown one, before
    any event is promised), then followed by the process's poller."""
    first = await anyio.to_thread.run_sync(read_snapshot, job_watch.url, job_id)
    return job_watch.follow(job_id, first=first, stop=stop)
