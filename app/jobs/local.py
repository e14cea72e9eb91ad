"""The embedded backend: a dispatcher thread in the API process that spawns one process per job.

TensorFlow is not fork-safe, so each job gets a fresh interpreter (`python -m app.jobs.runner`).
Jobs wait in the table, so a restart loses none; a job whose process died is marked failed.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from app.core.config import Settings
from app.db.engine import session_scope
from app.db.tables import utcnow
from app.jobs import service as jobs
from app.jobs.periodic import Periodic

log = logging.getLogger("tickercast.dispatcher")
BACKEND = "local"
# Lines of a dead job's log quoted in its error.
LOG_TAIL_LINES = 15
SPAWN_GRACE = dt.timedelta(seconds=60)


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a child process the same settings as this one."""
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        env[f"TICKERCAST_{name.upper()}"] = str(value)
    env["TICKERCAST_DATABASE_URL"] = settings.resolved_database_url()
    # TensorFlow's C++ start-up chatter is noise in the job logs.
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
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


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


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
        self.host = socket.gethostname()
        self.children: dict[str, _Child] = {}
        self.log_dir = settings.data_dir / "logs"
        self._thread = Periodic(
            "tickercast-dispatcher", settings.dispatch_interval_seconds, self.tick, log
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
            child.log_file.close()
            del self.children[job_id]
            if code == 0:
                reason = "training process exited before recording a result"
            elif code < 0:
                reason = f"training process was killed by signal {signal.Signals(-code).name}"
            else:
                reason = f"training process exited with code {code}"
            tail = _tail(child.log_path)
            with session_scope(self.url) as session:
                if jobs.finish(
                    session,
                    job_id=job_id,
                    status=jobs.FAILED,
                    error=f"{reason}. Last log lines ({child.log_path}):\n{tail}"
                    if tail
                    else reason,
                ):
                    log.warning("job %s: %s", job_id, reason)

    def _fail_orphans_and_timeouts(self) -> None:
        now = utcnow()
        timeout = dt.timedelta(seconds=self.settings.job_timeout_seconds)
        with session_scope(self.url) as session:
            for job in jobs.running_jobs(session, backend=BACKEND):
                child = self.children.get(job.id)
                if child is not None:
                    if job.started_at is not None and now - job.started_at > timeout:
                        child.process.kill()
                        jobs.finish(
                            session,
                            job_id=job.id,
                            status=jobs.FAILED,
                            error=f"timed out after {self.settings.job_timeout_seconds} s "
                            "(TICKERCAST_JOB_TIMEOUT_SECONDS)",
                        )
                    continue
                # Not ours: started by an earlier run of the service, or by another instance.
                host, _, pid = (job.worker or "").rpartition(":")
                if host == self.host and pid.isdigit() and pid_alive(int(pid)):
                    continue
                if pid == "?" and job.started_at and now - job.started_at < SPAWN_GRACE:
                    continue  # claimed by another instance that is spawning its process now
                if host == self.host or self._heartbeat_stale(job.heartbeat_at, now):
                    jobs.finish(
                        session,
                        job_id=job.id,
                        status=jobs.FAILED,
                        error=f"training process {job.worker or '?'} died "
                        "(the service or machine restarted while it ran)",
                    )

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
                if not jobs.claim(session, job_id=job_id, worker=f"{self.host}:?", pid=None):
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
                    status=jobs.FAILED,
                    error=f"could not start the training process: {exc}",
                )
            return
        self.children[job_id] = _Child(process=process, log_path=log_path, log_file=log_file)
        with session_scope(self.url) as session:
            jobs.set_pid(session, job_id=job_id, pid=process.pid)
            jobs.set_worker(session, job_id=job_id, worker=f"{self.host}:{process.pid}")
        log.info("job %s started in process %d", job_id, process.pid)
