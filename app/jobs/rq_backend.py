"""The RQ backend: job ids go on a Redis queue; `tickercast worker` processes run them.

Redis only carries the id. The `training_job` table stays the truth: a worker claims the job
there (atomically), so an id delivered twice trains once, and a job Redis lost is put back
by the janitor.
"""

from __future__ import annotations

import logging

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from app.core.config import Settings
from app.jobs.janitor import Janitor

log = logging.getLogger("tickercast.rq")
BACKEND = "rq"
# The task a work-horse runs, by dotted path: the API never imports the training code.
TASK = "app.jobs.tasks.run_training_job"
# How long RQ keeps its own record of a job (seconds); the SQL row keeps the history.
RESULT_TTL = 24 * 3600
FAILURE_TTL = 7 * 24 * 3600
# RQ states in which a job will still be run (or is being run) by some worker.
PENDING = {
    JobStatus.CREATED,
    JobStatus.QUEUED,
    JobStatus.STARTED,
    JobStatus.DEFERRED,
    JobStatus.SCHEDULED,
}


def redis_connection(settings: Settings) -> Redis:
    """A client for TICKERCAST_REDIS_URL (it connects on first use)."""
    return Redis.from_url(settings.redis_url)


def training_queue(settings: Settings, connection: Redis) -> Queue:
    """The queue named by TICKERCAST_RQ_QUEUE_NAME; JSON, so no pickles cross machines."""
    return Queue(settings.rq_queue_name, connection=connection, serializer=JSONSerializer)


def enqueue(queue: Queue, *, job_id: str, timeout: int) -> None:
    """Put a training job id on the queue, under the same id as its SQL row."""
    # A re-queued job reuses its id: drop what RQ remembers of the attempt that died.
    try:
        Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer).delete()
    except NoSuchJobError:
        pass
    queue.enqueue(
        TASK,
        job_id,
        job_id=job_id,
        job_timeout=timeout,
        result_ttl=RESULT_TTL,
        failure_ttl=FAILURE_TTL,
        description=f"tickercast training job {job_id}",
    )


def pending_ids(queue: Queue, job_ids: list[str]) -> set[str]:
    """Those of the ids that RQ will still run, or is running."""
    found = Job.fetch_many(job_ids, connection=queue.connection, serializer=queue.serializer)
    return {job.id for job in found if job is not None and job.get_status(refresh=False) in PENDING}


class RqBackend:
    """Enqueues job ids on Redis; the API process runs the janitor."""

    name = BACKEND

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.queue = training_queue(settings, redis_connection(settings))
        self.janitor = Janitor(
            settings,
            backend=BACKEND,
            submit=self.submit,
            pending=lambda ids: pending_ids(self.queue, ids),
        )

    def start(self) -> None:
        self.janitor.start()

    def stop(self) -> None:
        self.janitor.stop()

    def submit(self, job_id: str) -> None:
        try:
            enqueue(self.queue, job_id=job_id, timeout=self.settings.job_timeout_seconds)
        except RedisError as exc:
            # The job is queued in the table, which is the truth: the janitor puts it on the
            # queue once Redis answers again. The caller already has its 202.
            log.warning("job %s stays queued in the table until Redis answers: %s", job_id, exc)

    def queue_status(self) -> str | None:
        try:
            self.queue.connection.ping()
        except RedisError as exc:
            log.warning("Redis at %s does not answer: %s", self.settings.redis_url, exc)
            return f"Redis unreachable ({type(exc).__name__}); queued jobs wait in the table"
        return "ok"

    def cancel(self, job_id: str) -> None:
        # A running job stops at its next epoch end through the table; a queued one is
        # already cancelled there, and taking it off the queue saves a worker the look.
        try:
            job = Job.fetch(job_id, connection=self.queue.connection, serializer=JSONSerializer)
            if job.get_status() == JobStatus.QUEUED:
                job.cancel()
        except NoSuchJobError:
            return
        except RedisError as exc:  # the worker that takes it finds it cancelled in the table
            log.warning("job %s: could not take it off the queue: %s", job_id, exc)
