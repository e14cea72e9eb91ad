"""`tickercast worker`: an RQ worker that trains each job in a work-horse forked for it.

The parent process only waits for jobs and watches its horses: it imports the job code
(pandas, SQLAlchemy) once so that every fork starts warm, but never TensorFlow, which the
horse imports for itself and which does not survive a fork.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import socket
import threading
import time
from functools import partial
from types import FrameType
from typing import Any

import redis
from rq import Worker
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.timeouts import JobTimeoutException, UnixSignalDeathPenalty

import app.jobs.tasks  # noqa: F401  (imported before the forks, so each horse starts warm)
from app.core.config import Settings
from app.core.errors import TickercastError
from app.db.engine import session_scope
from app.jobs import outcomes, runner
from app.jobs import service as jobs
from app.jobs.rq_backend import enqueue, redis_connection, training_queue

log = logging.getLogger("tickercast.worker")
# The pause before trying Redis again, doubling from the first to the most (seconds).
FIRST_RECONNECT = 0.5
MOST_RECONNECT = 15.0


class JobTimedOut(TickercastError):
    """The job ran past TICKERCAST_JOB_TIMEOUT_SECONDS; raised inside the horse by SIGALRM."""

    # The alarm can land inside a Keras layer's call, which would rebuild the error with its
    # arguments and ANSI codes around the message; this flag tells Keras it has done so already.
    _keras_call_info_injected = True


class TrainingDeathPenalty(UnixSignalDeathPenalty):
    """RQ's alarm, raising an error that the runner records as the job's reason."""

    def handle_death_penalty(self, signum: int, frame: FrameType | None) -> None:
        if issubclass(self._exception, JobTimeoutException):
            reason = outcomes.timed_out(self._timeout)
            runner.time_is_up(reason)
            raise JobTimedOut(reason)
        super().handle_death_penalty(signum, frame)


class TrainingWorker(Worker):
    """A forking RQ worker whose job timeout fails the SQL job with a plain reason."""

    death_penalty_class = TrainingDeathPenalty
    # Set by SIGTERM or SIGINT: RQ's own flag is set only when the signal finds it busy.
    stop_asked = False

    # The job a stopping worker gives back, with the name its horse claimed it under:
    # (job id, host:pid), re-queued by run_worker once RQ is done with it.
    handing_back: tuple[str, str] | None = None

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        """Stop; a job in the middle of training is handed back rather than finished, so that
        a stop takes seconds (a container's grace period) and loses no job: its horse is
        killed, and the job re-queued for another worker (or this one, started again)."""
        self.stop_asked = True
        job_id = self.get_current_job_id() if self.horse_pid else None
        holder = jobs.process_name(self.horse_pid) if job_id else None
        super().request_stop(signum, frame)
        if job_id and holder and self.handing_back is None:
            self.handing_back = (job_id, holder)
            log.info("worker %s: stopping; handing job %s back", self.name, job_id)
            self.kill_horse()

    def handle_work_horse_killed(self, job: Job, retpid: Any, ret_val: Any, rusage: Any) -> None:
        if self.handing_back and self.handing_back[0] == job.id:
            return  # not a death to record: run_worker re-queues the job
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)


def give_back(settings: Settings, worker: TrainingWorker) -> None:
    """Re-queue the job a stopping worker killed its horse for, unless it ended meanwhile (a
    success committed before the kill stands); the attempt does not count."""
    if worker.handing_back is None:
        return
    job_id, holder = worker.handing_back
    reason = f"Handed back by worker {holder}, which was stopped; queued again."
    try:
        with session_scope(settings.resolved_database_url()) as session:
            back = jobs.requeue(session, job_id=job_id, reason=reason, worker=holder, retry=True)
        if back:
            queue = training_queue(settings, worker.connection)
            enqueue(queue, job_id=job_id, timeout=settings.job_timeout_seconds)
            log.info("job %s: handed back to the queue", job_id)
    except Exception:  # the janitor re-queues it once its heartbeat is stale
        log.exception("job %s: could not hand it back; the janitor will", job_id)


def horse_death(
    pid: int | None,
    wait_status: int | None,
    *,
    started_at: dt.datetime | None,
    settings: Settings,
) -> outcomes.Death:
    """What became of a work-horse that did not exit cleanly."""
    process = jobs.process_name(pid) if pid else jobs.unstarted_process_name()
    how = outcomes.exit_description(wait_status=wait_status)
    started = started_at.replace(tzinfo=dt.UTC) if started_at is not None else None
    if outcomes.is_overdue(started, settings, dt.datetime.now(dt.UTC)):
        return outcomes.Death(outcomes.Cause.TIMED_OUT, process, how)
    return outcomes.Death(outcomes.Cause.CRASHED, process, how)


def record_dead_horse(
    settings: Settings, job: Job, pid: int | None, wait_status: int | None, _rusage: Any
) -> None:
    """Fail the SQL job of a horse that died under this worker (OOM killer, timeout, crash)."""
    death = horse_death(pid, wait_status, started_at=job.started_at, settings=settings)
    try:
        with session_scope(settings.resolved_database_url()) as session:
            # Fenced by the horse's name: a job re-queued meanwhile belongs to someone else.
            settled = outcomes.settle(
                session,
                job_id=job.id,
                attempts=0,
                death=death,
                settings=settings,
                owner=death.process if pid else None,
            )
        if settled is not outcomes.Settled.UNCHANGED:
            log.warning("job %s: %s", job.id, outcomes.reason(death, settings))
    except Exception:  # the worker must go on taking jobs; the janitor catches up later
        log.exception("job %s: could not record that its training process died", job.id)


def make_worker(settings: Settings, *, name: str | None = None) -> TrainingWorker:
    """A worker on TICKERCAST_RQ_QUEUE_NAME at TICKERCAST_REDIS_URL."""
    connection = redis_connection(settings)
    return TrainingWorker(
        [training_queue(settings, connection)],
        connection=connection,
        name=name or f"{socket.gethostname()}.{os.getpid()}",
        serializer=JSONSerializer,
        work_horse_killed_handler=partial(record_dead_horse, settings),
    )


def run_worker(settings: Settings, *, burst: bool = False, name: str | None = None) -> bool:
    """Take jobs until stopped (or, with burst, until the queue is empty)."""
    from app.observability.logs import configure

    configure(settings)
    worked = False
    pause = FIRST_RECONNECT
    while True:
        worker = make_worker(settings, name=name)
        log.info(
            "worker %s on queue %r at %s",
            worker.name,
            settings.rq_queue_name,
            worker.connection.connection_pool.connection_kwargs.get("host", "?"),
        )
        started = time.monotonic()
        try:
            worked = worker.work(burst=burst, logging_level=settings.log_level.upper()) or worked
            if burst or worker.stop_asked:
                give_back(settings, worker)
                return worked
            # RQ leaves its loop on any error it does not expect, a Redis outage in the middle
            # of its bookkeeping among them, having logged it.
            log.warning("worker %s: its loop ended on an error; starting it again", worker.name)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("worker %s: Redis is unreachable (%s)", worker.name, exc)
        if time.monotonic() - started > 4 * MOST_RECONNECT:
            pause = FIRST_RECONNECT  # a loop that ran a while: a new outage starts afresh
        if worker.stop_asked or not _wait_for_redis(worker, pause):
            return worked
        # A loop that breaks again at once waits longer each time.
        pause = min(pause * 2, MOST_RECONNECT)


def _wait_for_redis(worker: TrainingWorker, pause: float) -> bool:
    """Wait until Redis answers again, then let go of the worker's old registration; False
    when a stop signal came meanwhile.

    A work-horse that was training when the loop broke finishes its job (it needs only the
    database) and is waited for here, so a worker never trains two jobs at once.
    """
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        if worker.horse_pid:
            try:
                _, status = os.waitpid(worker.horse_pid, 0)
            except ChildProcessError:  # reaped already
                pass
            else:
                how = outcomes.exit_description(wait_status=status)
                log.info("worker %s: its last horse %s", worker.name, how)
        while not stop.wait(pause):
            try:
                worker.connection.ping()
                # Its record would refuse a new worker of the same name as still alive.
                worker.register_death()
                log.info("worker %s: Redis answers again", worker.name)
                return True
            except (redis.ConnectionError, redis.TimeoutError):
                log.info(
                    "worker %s: Redis still unreachable; next try in %.1f s",
                    worker.name,
                    min(pause * 2, MOST_RECONNECT),
                )
                pause = min(pause * 2, MOST_RECONNECT)
        return False
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
