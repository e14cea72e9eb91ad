"""The local dispatcher: jobs whose process is gone end failed with the reason."""

from __future__ import annotations

import socket
import subprocess

from app.core.config import Settings
from app.db.engine import session_scope
from app.jobs import service as jobs
from app.jobs.local import LocalDispatcher


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_running_job_of_a_dead_process_on_this_host_is_marked_failed(
    settings: Settings, db_url: str
) -> None:
    with session_scope(db_url) as s:
        job, _ = jobs.create_job(s, ticker="AAA", config={"epochs": 1}, backend="local")
        jobs.claim(s, job_id=job.id, worker=f"{socket.gethostname()}:{dead_pid()}", pid=None)
        job_id = job.id
    dispatcher = LocalDispatcher(settings.model_copy(update={"max_training_jobs": 1}))
    dispatcher._fail_orphans_and_timeouts()
    with session_scope(db_url) as s:
        job = jobs.get_job(s, job_id=job_id)
        assert job.status == "failed"
        assert "died" in (job.error or "")


def test_running_job_of_a_live_process_is_left_alone(settings: Settings, db_url: str) -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        with session_scope(db_url) as s:
            job, _ = jobs.create_job(s, ticker="AAA", config={"epochs": 1}, backend="local")
            jobs.claim(s, job_id=job.id, worker=f"{socket.gethostname()}:{sleeper.pid}", pid=None)
            job_id = job.id
        LocalDispatcher(settings)._fail_orphans_and_timeouts()
        with session_scope(db_url) as s:
            assert jobs.get_job(s, job_id=job_id).status == "running"
    finally:
        sleeper.kill()
        sleeper.wait()
