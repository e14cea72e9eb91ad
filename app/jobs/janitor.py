"""The janitor: jobs of dead workers are re-queued (up to max_attempts) or failed with the reason.

A worker whose machine dies (kill -9, power, network) leaves its job `running` with a heartbeat
that stops moving. Every conditional UPDATE here re-checks the heartbeat, so several janitors
(one per API process) can sweep at once: one of them wins each job, and a job that beat in
the meantime is left alone.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from app.core.config import Settings
from app.db.engine import session_scope
from app.db.tables import utcnow
from app.jobs import outcomes
from app.jobs import service as jobs
from app.jobs.periodic import Periodic, supervisor_lock

log = logging.getLogger("tickercast.janitor")
# Queued jobs checked against the queue per sweep.
REPAIR_BATCH = 1000


@dataclass
class Sweep:
    """What one pass did, by job id."""

    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    resubmitted: list[str] = field(default_factory=list)


class Janitor:
    """Sweeps a backend's jobs every `janitor_interval_seconds` in a thread."""

    def __init__(
        self,
        settings: Settings,
        *,
        backend: str,
        submit: Callable[[str], None],
        pending: Callable[[list[str]], set[str]],
    ) -> None:
        self.settings = settings
        self.url = settings.resolved_database_url()
        self.backend = backend
        self.submit = submit
        # Which of these queued ids the queue still holds (or runs).
        self.pending = pending
        self._thread = Periodic(
            "tickercast-janitor",
            settings.janitor_interval_seconds,
            self.sweep,
            log,
            host_lock=supervisor_lock(settings),
        )

    def start(self) -> None:
        """Start sweeping in a thread (idempotent)."""
        self._thread.start()

    def stop(self) -> None:
        """Stop sweeping."""
        self._thread.stop()

    def sweep(self) -> Sweep:
        """One pass: re-queue or fail jobs without a heartbeat, put back jobs the queue lost."""
        result = Sweep()
        cutoff = utcnow() - dt.timedelta(seconds=self.settings.heartbeat_timeout_seconds)
        with session_scope(self.url) as session:
            for job in jobs.stale_running(session, older_than=cutoff, backend=self.backend):
                death = outcomes.Death(
                    outcomes.Cause.LOST, job.worker or "?", outcomes.silent_for(self.settings)
                )
                settled = outcomes.settle(
                    session,
                    job_id=job.id,
                    attempts=job.attempts,
                    death=death,
                    settings=self.settings,
                    stale_before=cutoff,
                )
                if settled is outcomes.Settled.REQUEUED:
                    result.requeued.append(job.id)
                elif settled is outcomes.Settled.FAILED:
                    result.failed.append(job.id)
        for job_id in result.requeued:
            log.warning("job %s re-queued: its worker stopped sending heartbeats", job_id)
            self.submit(job_id)
        for job_id in result.failed:
            log.warning("job %s failed: its worker stopped sending heartbeats", job_id)

        with session_scope(self.url) as session:
            queued = jobs.next_queued(session, backend=self.backend, limit=REPAIR_BATCH)
        if queued:
            waiting = self.pending(queued)
            for job_id in queued:
                if job_id not in waiting:
                    # Redis restarted empty, or was down when the job was submitted.
                    log.warning(
                        "job %s is queued but not on the queue: submitting it again", job_id
                    )
                    self.submit(job_id)
                    result.resubmitted.append(job_id)
        return result
