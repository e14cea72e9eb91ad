"""Training-job queries and state changes; the `training_job` table is the source of truth."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import socket
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import Conflict, InvalidInput, JobNotFound
from app.db.tables import IdempotencyKey, TrainingJob, utcnow
from app.jobs.status import ACTIVE, FINISHED, JobStatus
from app.training.checks import check_request
from app.training.spec import TrainingSpec
from app.webhooks import outbox

QUEUED, RUNNING = JobStatus.QUEUED, JobStatus.RUNNING
# The pid part of a process name while the process is not started yet.
NO_PID = "?"


def process_name(pid: int | None = None) -> str:
    """`host:pid` of a process on this machine (this one by default; `host:?` for None):
    what the job row's `worker` and the scheduler's lease hold."""
    return f"{socket.gethostname()}:{os.getpid() if pid is None else pid}"


def unstarted_process_name() -> str:
    """`host:?`: a job claimed on this machine whose process is being started."""
    return f"{socket.gethostname()}:{NO_PID}"


def split_process_name(name: str | None) -> tuple[str, int | None]:
    """The host and pid of a `host:pid` name (pid None when unknown or not a number)."""
    host, _, pid = (name or "").rpartition(":")
    return host, int(pid) if pid.isdigit() else None


def config_hash(ticker: str, config: dict[str, Any]) -> str:
    """SHA-256 of the canonical request, so the same request maps to the same hash."""
    canonical = json.dumps({"ticker": ticker, **config}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def find_active_duplicate(session: Session, *, ticker: str, digest: str) -> TrainingJob | None:
    """A queued or running job for the same ticker and config, if any."""
    return session.scalar(
        select(TrainingJob)
        .where(
            TrainingJob.ticker == ticker,
            TrainingJob.config_hash == digest,
            TrainingJob.status.in_(ACTIVE),
        )
        .order_by(TrainingJob.created_at)
        .limit(1)
    )


@dataclass(frozen=True)
class Idempotency:
    """An Idempotency-Key as sent by one caller."""

    caller: str
    key: str


def queue_training(
    session: Session,
    *,
    ticker: str,
    spec: TrainingSpec,
    settings: Settings,
    backend: str,
    idempotency: Idempotency | None = None,
) -> tuple[TrainingJob, bool]:
    """The training flow's way in (POST /train, the scheduler's retraining): the checks that
    need the registry, the bars or the settings (app/training/checks.py), then the job.

    The one place job plumbing meets what training asks: a job over the limits, a missing
    parent or a search budget the timeout cannot hold is refused now, not as a failed job.
    """
    check_request(session, ticker=ticker, spec=spec, settings=settings)
    config = spec.job_config(volatility_window=settings.volatility_window)
    return create_job(
        session, ticker=ticker, config=config, backend=backend, idempotency=idempotency
    )


def create_job(
    session: Session,
    *,
    ticker: str,
    config: dict[str, Any],
    backend: str,
    idempotency: Idempotency | None = None,
) -> tuple[TrainingJob, bool]:
    """Queue a job, or return the one this request already made; the flag says it is new.

    The same request while an identical job is queued or running returns that job: the
    database's unique partial index decides, so identical requests at the same moment still
    make one job. With an Idempotency-Key, a repeat returns the job the key made, whatever
    its status, and the key with another request is refused.
    """
    digest = config_hash(ticker, config)
    if idempotency is not None:
        known = _job_of_key(session, idempotency, digest)
        if known is not None:
            return known, False
    job, created = _insert_or_find_active(session, ticker, config, digest, backend)
    if idempotency is not None:
        savepoint = session.begin_nested()
        session.add(
            IdempotencyKey(
                caller=idempotency.caller,
                key=idempotency.key,
                request_sha256=digest,
                job_id=job.id,
                created_at=utcnow(),
            )
        )
        try:
            session.flush()
        except IntegrityError:  # the same key at the same moment: that request's job wins
            savepoint.rollback()
            known = _job_of_key(session, idempotency, digest)
            assert known is not None
            return known, False
        savepoint.commit()
    return job, created


def _job_of_key(session: Session, key: Idempotency, digest: str) -> TrainingJob | None:
    row = session.get(IdempotencyKey, (key.caller, key.key))
    if row is None:
        return None
    if row.request_sha256 != digest:
        raise InvalidInput(
            f"Idempotency-Key {key.key!r} was used for another training request; "
            "use a new key for a new request."
        )
    return get_job(session, job_id=row.job_id)


def _insert_or_find_active(
    session: Session, ticker: str, config: dict[str, Any], digest: str, backend: str
) -> tuple[TrainingJob, bool]:
    existing = find_active_duplicate(session, ticker=ticker, digest=digest)
    if existing is not None:
        return existing, False
    job = TrainingJob(
        id=str(uuid.uuid4()),
        ticker=ticker,
        config=config,
        config_hash=digest,
        status=QUEUED,
        progress={},
        cancel_requested=False,
        backend=backend,
        attempts=0,
        created_at=utcnow(),
    )
    savepoint = session.begin_nested()
    session.add(job)
    try:
        session.flush()
    except IntegrityError:  # an identical request won the race for uq_training_job_active
        savepoint.rollback()
        existing = find_active_duplicate(session, ticker=ticker, digest=digest)
        if existing is None:  # it finished in between: nothing blocks a new one now
            return _insert_or_find_active(session, ticker, config, digest, backend)
        return existing, False
    savepoint.commit()
    return job, True


def get_job(session: Session, *, job_id: str, for_update: bool = False) -> TrainingJob:
    """One job, or JobNotFound; for_update locks its row until the transaction ends."""
    # `of`: lock only the job's row, not the joined-in model version (PostgreSQL refuses that).
    lock = {"of": TrainingJob} if for_update else None
    job = session.get(TrainingJob, job_id, with_for_update=lock, populate_existing=for_update)
    if job is None:
        raise JobNotFound(f"No training job {job_id!r}. List jobs with `GET /jobs`.")
    return job


def get_jobs(session: Session, *, job_ids: Collection[str]) -> list[TrainingJob]:
    """The jobs of these ids that exist, in one query (the event streams' poller)."""
    if not job_ids:
        return []
    return list(session.scalars(select(TrainingJob).where(TrainingJob.id.in_(list(job_ids)))))


def list_jobs(
    session: Session,
    *,
    ticker: str | None = None,
    status: JobStatus | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[TrainingJob]:
    """Jobs, newest first, filtered by ticker and status."""
    # The id breaks ties of created_at, so that pages neither repeat nor skip a job.
    query = select(TrainingJob).order_by(TrainingJob.created_at.desc(), TrainingJob.id.desc())
    if ticker is not None:
        query = query.where(TrainingJob.ticker == ticker)
    if status is not None:
        query = query.where(TrainingJob.status == status)
    return list(session.scalars(query.limit(limit).offset(offset)))


def request_cancel(session: Session, *, job_id: str) -> TrainingJob:
    """Cancel a queued job at once; ask a running one to stop at its next epoch end."""
    job = get_job(session, job_id=job_id)
    if job.status in FINISHED:
        raise Conflict(f"Job {job_id} already finished with status {job.status!r}.")
    now = utcnow()
    cancelled = session.execute(
        update(TrainingJob)
        .where(TrainingJob.id == job_id, TrainingJob.status == QUEUED)
        .values(
            status=JobStatus.CANCELLED, cancel_requested=True, finished_at=now, message="Cancelled."
        )
    ).rowcount  # type: ignore[attr-defined]
    if not cancelled:
        session.execute(
            update(TrainingJob)
            .where(TrainingJob.id == job_id, TrainingJob.status == RUNNING)
            .values(cancel_requested=True)
        )
    session.flush()
    session.refresh(job)
    return job


def claim(session: Session, *, job_id: str, worker: str, pid: int | None) -> bool:
    """Atomically move a queued job to running; False when someone else got it."""
    now = utcnow()
    claimed = session.execute(
        update(TrainingJob)
        .where(TrainingJob.id == job_id, TrainingJob.status == QUEUED)
        .values(
            status=RUNNING,
            worker=worker,
            pid=pid,
            started_at=now,
            heartbeat_at=now,
            attempts=TrainingJob.attempts + 1,
            progress={"stage": "starting"},
        )
    ).rowcount  # type: ignore[attr-defined]
    return bool(claimed)


def next_queued(session: Session, *, backend: str, limit: int) -> list[str]:
    """Ids of the oldest queued jobs for a backend."""
    return list(
        session.scalars(
            select(TrainingJob.id)
            .where(TrainingJob.status == QUEUED, TrainingJob.backend == backend)
            .order_by(TrainingJob.created_at)
            .limit(limit)
        )
    )


def running_jobs(session: Session, *, backend: str | None = None) -> list[TrainingJob]:
    """Jobs currently marked running."""
    query = select(TrainingJob).where(TrainingJob.status == RUNNING)
    if backend is not None:
        query = query.where(TrainingJob.backend == backend)
    return list(session.scalars(query))


def has_active_job(session: Session, *, ticker: str) -> bool:
    """Whether any job of the ticker is queued or running."""
    return (
        session.scalar(
            select(TrainingJob.id)
            .where(TrainingJob.ticker == ticker, TrainingJob.status.in_(ACTIVE))
            .limit(1)
        )
        is not None
    )


def jobs_running_on(session: Session, *, ticker: str) -> list[str]:
    """Ids of the jobs training on a ticker right now."""
    return list(
        session.scalars(
            select(TrainingJob.id).where(
                TrainingJob.ticker == ticker, TrainingJob.status == RUNNING
            )
        )
    )


def count_running(session: Session, *, backend: str) -> int:
    """How many jobs of a backend are running."""
    return (
        session.scalar(
            select(func.count())
            .select_from(TrainingJob)
            .where(TrainingJob.status == RUNNING, TrainingJob.backend == backend)
        )
        or 0
    )


def set_pid(session: Session, *, job_id: str, pid: int) -> None:
    """Record the process that runs a job."""
    session.execute(update(TrainingJob).where(TrainingJob.id == job_id).values(pid=pid))


def beat(session: Session, *, job_id: str, progress: dict[str, Any] | None = None) -> None:
    """Refresh a running job's heartbeat, and its progress when given."""
    values: dict[str, Any] = {"heartbeat_at": utcnow()}
    if progress is not None:
        values["progress"] = progress
    session.execute(
        update(TrainingJob)
        .where(TrainingJob.id == job_id, TrainingJob.status == RUNNING)
        .values(**values)
    )


def cancel_requested(session: Session, *, job_id: str) -> bool:
    """Whether someone asked the job to stop."""
    return bool(
        session.scalar(select(TrainingJob.cancel_requested).where(TrainingJob.id == job_id))
    )


def set_message(session: Session, *, job_id: str, message: str | None) -> None:
    """Attach a note a user should read (for example: trained on stored bars)."""
    session.execute(update(TrainingJob).where(TrainingJob.id == job_id).values(message=message))


def finish(
    session: Session,
    *,
    job_id: str,
    status: JobStatus,
    error: str | None = None,
    message: str | None = None,
    model_version_id: int | None = None,
    worker: str | None = None,
    stale_before: dt.datetime | None = None,
) -> bool:
    """Move a running job to a final status; a job that is not running is left alone.

    With `worker`, only while that worker still holds the job (not after a re-queue); with
    `stale_before`, only while its heartbeat is still older than that.
    """
    values: dict[str, Any] = {"status": status, "finished_at": utcnow()}
    if error is not None:
        values["error"] = error
    if message is not None:
        values["message"] = message
    if model_version_id is not None:
        values["model_version_id"] = model_version_id
    query = update(TrainingJob).where(TrainingJob.id == job_id, TrainingJob.status == RUNNING)
    if worker is not None:
        query = query.where(TrainingJob.worker == worker)
    if stale_before is not None:
        query = query.where(TrainingJob.heartbeat_at < stale_before)
    if not session.execute(query.values(**values)).rowcount:  # type: ignore[attr-defined]
        return False
    # Receivers hear of a success or a failure if and only if this transaction commits.
    outbox.job_ended(session, job_id=job_id)
    return True


def requeue(
    session: Session,
    *,
    job_id: str,
    reason: str,
    older_than: dt.datetime | None = None,
    worker: str | None = None,
    retry: bool = False,
) -> bool:
    """Put a running job whose worker died, or gave it back, in the queue again.

    With `older_than`, only while its heartbeat is still older than that: of several
    janitors looking at once, one wins, and a job that beat meanwhile is left alone. With
    `worker`, only while that process still holds it. With `retry`, the attempt that ends
    here does not count towards TICKERCAST_MAX_ATTEMPTS (a worker stopped on purpose).
    """
    query = update(TrainingJob).where(TrainingJob.id == job_id, TrainingJob.status == RUNNING)
    if older_than is not None:
        query = query.where(TrainingJob.heartbeat_at < older_than)
    if worker is not None:
        query = query.where(TrainingJob.worker == worker)
    values: dict[str, Any] = {
        "status": QUEUED,
        "pid": None,
        "worker": None,
        "message": reason,
        "progress": {},
    }
    if retry:
        values["attempts"] = TrainingJob.attempts - 1
    return bool(session.execute(query.values(**values)).rowcount)  # type: ignore[attr-defined]


def stale_running(
    session: Session, *, older_than: dt.datetime, backend: str | None = None
) -> list[TrainingJob]:
    """Running jobs whose last heartbeat is older than the cut-off."""
    query = select(TrainingJob).where(
        TrainingJob.status == RUNNING, TrainingJob.heartbeat_at < older_than
    )
    if backend is not None:
        query = query.where(TrainingJob.backend == backend)
    return list(session.scalars(query))


def set_worker(session: Session, *, job_id: str, worker: str) -> None:
    """Record which host:pid runs a job."""
    session.execute(update(TrainingJob).where(TrainingJob.id == job_id).values(worker=worker))
