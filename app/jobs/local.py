"""The embedded backend: a dispatcher thread in the API process that spawns one process per job.

TensorFlow is not fork-safe, so each job gets a fresh interpreter (`python -m app.jobs.runner`).
Jobs wait in the table, so a restart loses none; a job whose process died is marked failed.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from app.core.config import Settings
from app.db.engine import session_scope
from app.db.tables import utcnow
from app.jobs import outcomes
from app.jobs import service as jobs
from app.jobs.periodic import Periodic, supervisor_lock
from app.jobs.status import JobStatus

log = logging.getLogger("tickercast.dispatcher")
BACKEND = "local"
SPAWN_GRACE = dt.timedelta(seconds=60)


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a child process the same settings as this one."""
    env = dict(os.environ)
    # Keys stay out: a training process takes no requests (the environment still holds them).
    for name, value in settings.model_dump(exclude={"api_keys"}).items():
        env[f"TICKERCAST_{name.upper()}"] = str(value)
    env["TICKERCAST_DATABASE_URL"] = settings.resolved_database_url()
    return env


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class RunningRow:
    """What the dispatcher needs of a running job's row, read in one short session."""

    id: str
    worker: str | None
    attempts: int
    started_at: dt.datetime | None
    heartbeat_at: dt.datetime | None


@dataclass
class _Child:
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]
    started: dt.datetime = field(default_factory=utcnow)


class LocalDispatcher:
    """Polls the jobs table, starts at most `max_training_jobs` processes, reaps the dead."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = settings.resolved_database_url()
        self.children: dict[str, _Child] = {}
        self.log_dir = settings.data_dir / "logs"
        self._thread = Periodic(
            "tickercast-dispatcher",
            settings.dispatch_interval_seconds,
            self.tick,
            log,
            host_lock=supervisor_lock(settings),
        )

    def start(self) -> None:
        """Start the dispatcher thread (idempotent)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._thread.start()

    def wake(self) -> None:
        """Look at the queue now rather than at the next tick."""
        self._thread.wake()

    def stop(self) -> None:
        """Stop dispatching; running training processes go on and finish their jobs."""
        self._thread.stop()

    def tick(self) -> None:
        """One pass: reap finished children, fail orphans and timeouts, start queued jobs."""
        self._reap()
        self._fail_orphans_and_timeouts()
        self._start_queued()

    def _reap(self) -> None:
        for job_id, child in list(self.children.items()):
            code = child.process.poll()
            if code is None:
                continue
            death = outcomes.Death(
                outcomes.Cause.CRASHED,
                jobs.process_name(child.process.pid),
                outcomes.exit_description(returncode=code),
            )
            # A runner that recorded its result has already moved the job out of `running`.
            # Forgotten only once settled: through a database outage the child stays known and
            # is settled at a later tick, rather than taken for an orphan of a restart.
            self._settle(job_id, death, log_path=child.log_path)
            child.log_file.close()
            del self.children[job_id]

    def _fail_orphans_and_timeouts(self) -> None:
        now = utcnow()
        for job in self._running():
            child = self.children.get(job.id)
            if child is not None:
                if outcomes.is_overdue(job.started_at, self.settings, now):
                    child.process.kill()
                    death = outcomes.Death(outcomes.Cause.TIMED_OUT, job.worker or "?")
                    self._settle(job.id, death, attempts=job.attempts, log_path=child.log_path)
                continue
            # Not ours: started by an earlier run of the service, or by another instance.
            host, pid = jobs.split_process_name(job.worker)
            here = host == socket.gethostname()
            if here and pid is not None and pid_alive(pid):
                continue
            unstarted = (job.worker or "").endswith(f":{jobs.NO_PID}")
            if unstarted and job.started_at and now - job.started_at < SPAWN_GRACE:
                continue  # claimed by another instance that is spawning its process now
            if here:
                how = "is gone: the service or machine restarted while it ran"
            elif self._heartbeat_stale(job.heartbeat_at, now):
                how = outcomes.silent_for(self.settings)
            else:
                continue
            death = outcomes.Death(outcomes.Cause.LOST, job.worker or "?", how)
            self._settle(job.id, death, attempts=job.attempts)

    def _running(self) -> list[RunningRow]:
        with session_scope(self.url) as session:
            return [
                RunningRow(j.id, j.worker, j.attempts, j.started_at, j.heartbeat_at)
                for j in jobs.running_jobs(session, backend=BACKEND)
            ]

    def _settle(
        self,
        job_id: str,
        death: outcomes.Death,
        *,
        attempts: int | None = None,
        log_path: Path | None = None,
    ) -> None:
        with session_scope(self.url) as session:
            if attempts is None:
                attempts = jobs.get_job(session, job_id=job_id).attempts
            settled = outcomes.settle(
                session, job_id=job_id, attempts=attempts, death=death, settings=self.settings
            )
        if settled is not outcomes.Settled.UNCHANGED:
            where = f"; its log is {log_path}" if log_path else ""
            log.warning(
                "job %s %s: %s%s", job_id, settled, outcomes.reason(death, self.settings), where
            )
            self.wake()

    def _heartbeat_stale(self, beat: dt.datetime | None, now: dt.datetime) -> bool:
        limit = dt.timedelta(seconds=self.settings.heartbeat_timeout_seconds)
        return beat is None or now - beat > limit

    def _start_queued(self) -> None:
        free = self.settings.max_training_jobs - len(self.children)
        if free <= 0:
            return
        with session_scope(self.url) as session:
            # Other service instances on this database may run jobs too.
            free = min(
                free, self.settings.max_training_jobs - jobs.count_running(session, backend=BACKEND)
            )
            candidates = jobs.next_queued(session, backend=BACKEND, limit=max(free, 0))
        for job_id in candidates:
            with session_scope(self.url) as session:
                if not jobs.claim(
                    session, job_id=job_id, worker=jobs.unstarted_process_name(), pid=None
                ):
                    continue
            self._spawn(job_id)

    def _spawn(self, job_id: str) -> None:
        log_path = self.log_dir / f"job-{job_id}.log"
        log_file = log_path.open("ab")
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "app.jobs.runner", job_id],
                env=settings_env(self.settings),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        except OSError as exc:
            log_file.close()
            with session_scope(self.url) as session:
                jobs.finish(
                    session,
                    job_id=job_id,
                    status=JobStatus.FAILED,
                    error=f"could not start the training process: {exc.strerror or exc}",
                )
            return
        self.children[job_id] = _Child(process=process, log_path=log_path, log_file=log_file)
        with session_scope(self.url) as session:
            jobs.set_pid(session, job_id=job_id, pid=process.pid)
            jobs.set_worker(session, job_id=job_id, worker=jobs.process_name(process.pid))
        log.info("job %s started in process %d", job_id, process.pid)
