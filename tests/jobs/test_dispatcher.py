"""The local dispatcher: it starts at most the allowed processes, and every dead or overdue job
ends the way outcomes.settle decides, with the reason."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from sqlalchemy import update

from app.core.config import Settings
from app.db.engine import session_scope
from app.db.tables import TrainingJob, utcnow
from app.jobs import service as jobs
from app.jobs.local import LocalDispatcher, _Child
from tests.processes import dead_pid


def running_job(db_url: str, worker: str, attempts: int = 1, ticker: str = "AAA") -> str:
    with session_scope(db_url) as s:
        job, _ = jobs.create_job(s, ticker=ticker, config={"epochs": 1}, backend="local")
        jobs.claim(s, job_id=job.id, worker=worker, pid=None)
        s.execute(update(TrainingJob).where(TrainingJob.id == job.id).values(attempts=attempts))
        return job.id


def test_job_of_a_process_gone_after_a_restart_is_requeued_then_failed(
    settings: Settings, db_url: str
) -> None:
    worker = f"{socket.gethostname()}:{dead_pid()}"
    first, last = running_job(db_url, worker), running_job(db_url, worker, attempts=2, ticker="BBB")
    LocalDispatcher(settings)._fail_orphans_and_timeouts()
    with session_scope(db_url) as s:
        requeued = jobs.get_job(s, job_id=first)
        assert requeued.status == "queued" and requeued.worker is None
        assert f"attempt 1 of 2 was lost (worker {worker} is gone" in (requeued.message or "")
        failed = jobs.get_job(s, job_id=last)
        assert failed.status == "failed"
        assert "Gave up after 2 attempt(s) (TICKERCAST_MAX_ATTEMPTS=2)" in (failed.error or "")


def test_running_job_of_a_live_process_is_left_alone(settings: Settings, db_url: str) -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        job_id = running_job(db_url, f"{socket.gethostname()}:{sleeper.pid}")
        LocalDispatcher(settings)._fail_orphans_and_timeouts()
        with session_scope(db_url) as s:
            assert jobs.get_job(s, job_id=job_id).status == "running"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_overdue_job_is_killed_and_failed_as_timed_out(
    settings: Settings, db_url: str, tmp_path: Path
) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    job_id = running_job(db_url, f"{socket.gethostname()}:{sleeper.pid}")
    with session_scope(db_url) as s:
        long_ago = utcnow().replace(year=2020)
        s.execute(update(TrainingJob).where(TrainingJob.id == job_id).values(started_at=long_ago))
    dispatcher = LocalDispatcher(settings)
    log_path = tmp_path / "job.log"
    dispatcher.children[job_id] = _Child(sleeper, log_path, log_path.open("ab"))
    dispatcher._fail_orphans_and_timeouts()
    assert sleeper.wait(timeout=10) < 0  # killed
    with session_scope(db_url) as s:
        job = jobs.get_job(s, job_id=job_id)
        assert job.status == "failed"
        assert job.error == "timed out after 3600 s (TICKERCAST_JOB_TIMEOUT_SECONDS)"


def test_dispatcher_starts_no_more_than_max_training_jobs(settings: Settings, db_url: str) -> None:
    with session_scope(db_url) as s:
        for ticker in ("AAA", "BBB", "CCC"):
            jobs.create_job(s, ticker=ticker, config={"epochs": 1}, backend="local")
    dispatcher = LocalDispatcher(settings.model_copy(update={"max_training_jobs": 2}))
    dispatcher.log_dir.mkdir(parents=True, exist_ok=True)
    try:
        dispatcher._start_queued()
        dispatcher._start_queued()  # a second look starts nothing while two run
        with session_scope(db_url) as s:
            assert jobs.count_running(s, backend="local") == 2
            assert len(jobs.next_queued(s, backend="local", limit=10)) == 1
        assert len(dispatcher.children) == 2
    finally:
        for child in dispatcher.children.values():
            child.process.kill()
            child.process.wait()
            child.log_file.close()
