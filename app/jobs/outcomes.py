"""What becomes of a job whose training process died: one policy and one wording for every backend.

The local dispatcher (a child that exited, an orphan after a restart, a timeout), the RQ worker
(a work-horse that died) and the janitor (a worker that stopped beating) all describe what they
saw as a `Death` and hand it to `settle`, which decides and words the outcome.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.orm import Session

from app.core.config import Settings
from app.jobs import service as jobs
from app.jobs.status import JobStatus


class Cause(StrEnum):
    """Why a running job lost its process."""

    # The process ended on its own: an exit code, a signal (the kernel's OOM killer, say).
    CRASHED = "crashed"
    # It ran past TICKERCAST_JOB_TIMEOUT_SECONDS and was stopped.
    TIMED_OUT = "timed_out"
    # Its process or machine vanished without a word: no heartbeat, or gone after a restart.
    # Only these are tried again: the job itself did nothing wrong.
    LOST = "lost"


class Settled(StrEnum):
    """What settle() did."""

    REQUEUED = "requeued"
    FAILED = "failed"
    # Someone else settled it first (another janitor), or it beat again, or it finished.
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Death:
    """What a supervisor saw: which process (host:pid) ended, why, and how."""

    cause: Cause
    process: str
    how: str = ""


# The exit status of a training process that gave up on the database and could not even
# record that (EX_TEMPFAIL of sysexits.h): its supervisor records it once the database is back.
EXIT_DATABASE_DOWN = 75
# The exit status of a training process that met a full disk and could not record even that
# (EX_IOERR): it stops at once, since waiting does not free space.
EXIT_DISK_FULL = 74


def exit_description(*, returncode: int | None = None, wait_status: int | None = None) -> str:
    """How a process ended, from a Popen return code or a raw waitpid status."""
    if wait_status is not None:
        if os.WIFSIGNALED(wait_status):
            returncode = -os.WTERMSIG(wait_status)
        elif os.WIFEXITED(wait_status):
            returncode = os.WEXITSTATUS(wait_status)
    if returncode is None:
        return "disappeared"
    if returncode == 0:
        return "exited before recording a result"
    if returncode == EXIT_DATABASE_DOWN:
        return (
            "stopped because the database stayed locked or unreachable for longer than "
            "TICKERCAST_DB_RETRY_SECONDS"
        )
    if returncode == EXIT_DISK_FULL:
        return (
            "stopped because a disk it writes to (the database's or the data directory's) was full"
        )
    if returncode < 0:
        name = signal.Signals(-returncode).name
        why = " (by an operator, or by the kernel when memory ran out)" if name == "SIGKILL" else ""
        return f"was killed by signal {name}{why}"
    return f"exited with code {returncode}"


def timed_out(seconds: float) -> str:
    """The error of a job stopped after running `seconds` (its timeout)."""
    return f"timed out after {seconds:g} s (TICKERCAST_JOB_TIMEOUT_SECONDS)"


def is_overdue(started_at: dt.datetime | None, settings: Settings, now: dt.datetime) -> bool:
    """Whether a job started at `started_at` has run past its timeout."""
    limit = dt.timedelta(seconds=settings.job_timeout_seconds)
    return started_at is not None and now - started_at >= limit


def silent_for(settings: Settings) -> str:
    """How a lost worker is described when its heartbeat stopped."""
    return (
        f"sent no heartbeat for over {settings.heartbeat_timeout_seconds} s "
        "(TICKERCAST_HEARTBEAT_TIMEOUT_SECONDS): its process or machine died"
    )


def reason(death: Death, settings: Settings) -> str:
    """The one sentence a user reads as the job's error."""
    if death.cause is Cause.TIMED_OUT:
        return timed_out(settings.job_timeout_seconds)
    if death.cause is Cause.LOST:
        return f"worker {death.process} {death.how or 'disappeared'}"
    return f"training process {death.process} {death.how or 'disappeared'}"


def settle(
    session: Session,
    *,
    job_id: str,
    attempts: int,
    death: Death,
    settings: Settings,
    owner: str | None = None,
    stale_before: dt.datetime | None = None,
) -> Settled:
    """Re-queue a lost job that has attempts left; fail every other dead job, with the reason.

    `owner` fences the update to the worker that still holds the job and `stale_before` to a
    heartbeat still older than the cut-off, so a job re-queued to another worker, or one that
    beat meanwhile, is left alone.
    """
    why = reason(death, settings)
    if death.cause is Cause.LOST and attempts < settings.max_attempts:
        message = f"Re-queued: attempt {attempts} of {settings.max_attempts} was lost ({why})."
        if jobs.requeue(session, job_id=job_id, reason=message, older_than=stale_before):
            return Settled.REQUEUED
        return Settled.UNCHANGED
    if death.cause is Cause.LOST:
        why += (
            f". Gave up after {attempts} attempt(s) "
            f"(TICKERCAST_MAX_ATTEMPTS={settings.max_attempts})."
        )
    if jobs.finish(
        session,
        job_id=job_id,
        status=JobStatus.FAILED,
        error=why,
        worker=owner,
        stale_before=stale_before,
    ):
        return Settled.FAILED
    return Settled.UNCHANGED
