"""A training process's side of a job: claim it, beat, report, and record how it ended.

Runs as `python -m app.jobs.runner JOB_ID` (a spawned local process) or inside an RQ
work-horse. What training does is `app.training`'s business; this module only keeps the
`training_job` row true.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from app.core.config import Settings, SettingsError, get_settings
from app.core.errors import TickercastError
from app.db import disk, outages
from app.db.engine import session_scope
from app.jobs import outcomes
from app.jobs import service as jobs
from app.jobs.heartbeat import Heartbeat
from app.jobs.status import JobStatus
from app.training.pipeline import train_and_register
from app.training.spec import TrainingSpec
from models.errors import ModelError, TrainingCancelled

T = TypeVar("T")
log = logging.getLogger("tickercast.runner")


def worker_name() -> str:
    """host:pid of this process, stored with the job."""
    return jobs.process_name()


class RunningJob:
    """The JobHandle a training pipeline reports through: every call is a short transaction."""

    def __init__(self, job_id: str, settings: Settings) -> None:
        self.job_id = job_id
        self.url = settings.resolved_database_url()
        self.retry_seconds = settings.db_retry_seconds
        self._progress: dict[str, Any] = {}

    def durable(self, action: Callable[[], T], what: str) -> T:
        """Run a database step, retrying it through an outage for TICKERCAST_DB_RETRY_SECONDS."""
        return outages.outlast(action, seconds=self.retry_seconds, what=what)

    def progress(self, **fields: Any) -> None:
        """Replace the job's progress with these fields (and beat)."""
        self._progress = {k: float(v) if k.endswith("loss") else v for k, v in fields.items()}

        def write() -> None:
            with session_scope(self.url) as session:
                jobs.beat(session, job_id=self.job_id, progress=self._progress)

        self.durable(write, f"record the progress of job {self.job_id}")

    def note(self, message: str | None) -> None:
        """Attach a sentence for the user."""

        def write() -> None:
            with session_scope(self.url) as session:
                jobs.set_message(session, job_id=self.job_id, message=message)

        self.durable(write, f"record a note on job {self.job_id}")

    def should_stop(self) -> bool:
        """Whether a cancel was requested (checked by training between batches)."""
        try:
            with session_scope(self.url) as session:
                return jobs.cancel_requested(session, job_id=self.job_id)
        except Exception as exc:
            if not outages.is_outage(exc):
                raise
            # Asked again in a few seconds; the next progress write waits the outage out.
            log.warning("job %s: cannot read a cancel: %s", self.job_id, outages.describe(exc))
            return False

    @contextmanager
    def finishing(self) -> Iterator[Session | None]:
        """The final transaction, with the job's row locked; None when it is not ours anymore."""
        with session_scope(self.url) as session:
            # Locked (on PostgreSQL) so a janitor cannot re-queue the job between this check and
            # the commit; a worker that froze past its heartbeat and lost the job registers nothing.
            job = jobs.get_job(session, job_id=self.job_id, for_update=True)
            if job.status != JobStatus.RUNNING or job.worker != worker_name():
                log.warning("job %s now belongs to %s; not registering", job.id, job.worker)
                yield None
            elif job.cancel_requested:
                jobs.finish(
                    session, job_id=job.id, status=JobStatus.CANCELLED, message="Cancelled."
                )
                yield None
            else:
                yield session

    def succeeded(self, session: Session, *, version_id: int, message: str) -> None:
        """Mark the job succeeded, in the transaction that registered its version."""
        jobs.finish(
            session,
            job_id=self.job_id,
            status=JobStatus.SUCCEEDED,
            model_version_id=version_id,
            message=message,
        )
        job = jobs.get_job(session, job_id=self.job_id)
        job.progress = {**self._progress, "stage": "done"}

    def ended(
        self, status: JobStatus, *, error: str | None = None, message: str | None = None
    ) -> None:
        """Record an end other than success (failed, cancelled)."""

        def write() -> None:
            with session_scope(self.url) as session:
                jobs.finish(
                    session, job_id=self.job_id, status=status, error=error, message=message
                )

        self.durable(write, f"record the end of job {self.job_id}")


def _claim(
    job_id: str, settings: Settings, *, only_queued: bool
) -> tuple[str, TrainingSpec] | JobStatus:
    """Take the job for this process: its ticker and spec, or the status it already has."""
    with session_scope(settings.resolved_database_url()) as session:
        job = jobs.get_job(session, job_id=job_id)
        if job.status == JobStatus.QUEUED:
            if not jobs.claim(session, job_id=job_id, worker=worker_name(), pid=os.getpid()):
                return JobStatus(jobs.get_job(session, job_id=job_id).status)
        elif job.status != JobStatus.RUNNING or only_queued:
            return JobStatus(job.status)
        else:
            # Claimed for us by the local dispatcher, which started this process.
            jobs.set_pid(session, job_id=job_id, pid=os.getpid())
            if job.worker == jobs.unstarted_process_name():
                # The dispatcher's write of this process's name was lost (a database outage):
                # named here, or the job would not be ours to register at the end.
                jobs.set_worker(session, job_id=job_id, worker=worker_name())
        return job.ticker, TrainingSpec.model_validate(job.config)


# Set by the RQ work-horse's alarm when the job's time is up. The alarm's exception is raised
# wherever the horse happens to be, and TensorFlow or Keras code there may rebuild it as another
# type (a TypeError, once, under load): whatever then ends the job, its reason is the timeout.
_timed_out: str | None = None


def time_is_up(reason: str) -> None:
    """Record, in this training process, that the job's timeout fired, with the reason."""
    global _timed_out
    _timed_out = reason


def _run(job: RunningJob, ticker: str, spec: TrainingSpec, settings: Settings) -> None:
    """Train and register, and turn whatever stopped it into the job's outcome."""
    try:
        train_and_register(ticker, spec, settings=settings, job=job, job_id=job.job_id)
    except TrainingCancelled:
        job.ended(JobStatus.CANCELLED, message="Cancelled.")
    except TickercastError as exc:  # no prices, too few bars, a parity failure: said plainly
        job.ended(JobStatus.FAILED, error=exc.message)
    except ModelError as exc:  # too few bars, a divergence, a parity failure: said by models
        job.ended(JobStatus.FAILED, error=str(exc))
    except Exception as exc:  # the job must end failed with the reason, whatever went wrong
        if disk.is_disk_full(exc):
            # At once, in one line: retrying does not free space, and a traceback is more
            # writing to a full disk. If even this cannot be written, main() exits saying so.
            log.error("job %s: a write met a full disk: %s", job.job_id, exc.__class__.__name__)
            job.ended(JobStatus.FAILED, error=failure_reason(exc, settings))
            return
        # The details (SQL, paths, TensorFlow's words) go to the job's log, not its error.
        log.exception("job %s failed", job.job_id)
        job.ended(JobStatus.FAILED, error=_timed_out or failure_reason(exc, settings))


def failure_reason(exc: BaseException, settings: Settings | None = None) -> str:
    """The one sentence a user reads for an unexpected failure; the log has the rest."""
    if disk.is_disk_full(exc) and settings is not None:
        where = disk.which_disk(settings.resolved_database_url(), settings.data_dir, exc)
        return f"Training stopped: {where} is full; free space there, then train again."
    if outages.is_outage(exc):
        return f"Training stopped: {outages.describe(exc)}."
    # TensorFlow says ResourceExhaustedError when an allocation fails.
    if isinstance(exc, MemoryError) or "ResourceExhausted" in type(exc).__name__:
        return (
            "Training ran out of memory; use fewer or smaller layers, a smaller batch_size "
            "or a shorter range."
        )
    return f"Training failed unexpectedly ({type(exc).__name__}); the job's log has the details."


def run_job(job_id: str, settings: Settings, *, only_queued: bool = False) -> JobStatus:
    """Claim (if still queued) and run one training job; returns its final status.

    A job the local dispatcher claimed for this process is already running; a queue worker
    passes only_queued, so that an id delivered twice is trained once.
    """
    claimed = outages.outlast(
        lambda: _claim(job_id, settings, only_queued=only_queued),
        seconds=settings.db_retry_seconds,
        what=f"claim job {job_id}",
    )
    if isinstance(claimed, JobStatus):
        return claimed
    ticker, spec = claimed
    job = RunningJob(job_id, settings)
    # Beat from the claim on: loading TensorFlow alone can outlast a short heartbeat timeout.
    with Heartbeat(settings.resolved_database_url(), job_id, settings.heartbeat_interval_seconds):
        _run(job, ticker, spec, settings)

    def final_status() -> JobStatus:
        with session_scope(settings.resolved_database_url()) as session:
            return JobStatus(jobs.get_job(session, job_id=job_id).status)

    return job.durable(final_status, f"read the status of job {job_id}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of a spawned training process."""
    parser = argparse.ArgumentParser(prog="python -m app.jobs.runner")
    parser.add_argument("job_id")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        settings = get_settings()
    except SettingsError as exc:
        print(f"python -m app.jobs.runner: error: {exc.message}", file=sys.stderr)
        return 2
    try:
        status = run_job(args.job_id, settings)
    except outages.DatabaseOutage as exc:
        # Not even the failure could be written: the dispatcher records it from the exit code.
        log.error("job %s: %s", args.job_id, exc.message)
        return outcomes.EXIT_DATABASE_DOWN
    except Exception as exc:
        if not disk.is_disk_full(exc):
            raise
        log.error("job %s: stopped: %s", args.job_id, failure_reason(exc, settings))
        return outcomes.EXIT_DISK_FULL
    log.info("job %s finished: %s", args.job_id, status)
    return 0


if __name__ == "__main__":
    sys.exit(main())
