"""The janitor: a job whose worker went silent is re-queued once, then failed with the reason."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from pydantic import ValidationError
from sqlalchemy import update

from app.core.config import Settings
from app.db.engine import session_scope
from app.db.tables import TrainingJob, utcnow
from app.jobs import service as jobs
from app.jobs.heartbeat import Heartbeat
from app.jobs.janitor import Janitor
from app.jobs.status import JobStatus


def running_job(
    db_url: str,
    *,
    beat_seconds_ago: float,
    attempts: int = 1,
    backend: str = "rq",
    ticker: str = "AAA",
) -> str:
    """A job claimed by worker `w1:42` whose last heartbeat was that long ago."""
    with session_scope(db_url) as s:
        job, _ = jobs.create_job(s, ticker=ticker, config={"epochs": 1}, backend=backend)
        assert jobs.claim(s, job_id=job.id, worker="w1:42", pid=42)
        s.execute(
            update(TrainingJob)
            .where(TrainingJob.id == job.id)
            .values(
                attempts=attempts,
                heartbeat_at=utcnow() - dt.timedelta(seconds=beat_seconds_ago),
            )
        )
        return job.id


def janitor(settings: Settings, submitted: list[str], pending: set[str] | None = None) -> Janitor:
    return Janitor(
        settings.model_copy(update={"heartbeat_timeout_seconds": 60, "max_attempts": 2}),
        backend="rq",
        submit=submitted.append,
        pending=lambda ids: set(ids) if pending is None else pending & set(ids),
    )


def test_job_of_a_silent_worker_is_requeued_and_submitted_again(
    settings: Settings, db_url: str
) -> None:
    job_id = running_job(db_url, beat_seconds_ago=61)
    submitted: list[str] = []
    sweep = janitor(settings, submitted).sweep()
    assert sweep.requeued == [job_id] and submitted == [job_id]
    with session_scope(db_url) as s:
        job = jobs.get_job(s, job_id=job_id)
        assert job.status == "queued"
        assert job.worker is None and job.attempts == 1
        assert "attempt 1 of 2 was lost" in (job.message or "")
        assert "w1:42 sent no heartbeat for over 60 s" in (job.message or "")


def test_job_out_of_attempts_is_failed_naming_the_worker_and_the_setting(
    settings: Settings, db_url: str
) -> None:
    job_id = running_job(db_url, beat_seconds_ago=61, attempts=2)
    submitted: list[str] = []
    sweep = janitor(settings, submitted).sweep()
    assert sweep.failed == [job_id] and submitted == []
    with session_scope(db_url) as s:
        job = jobs.get_job(s, job_id=job_id)
        assert job.status == "failed"
        assert job.finished_at is not None
        assert "w1:42 sent no heartbeat" in (job.error or "")
        assert "Gave up after 2 attempt(s) (TICKERCAST_MAX_ATTEMPTS=2)" in (job.error or "")


def test_live_jobs_and_local_jobs_are_left_alone(settings: Settings, db_url: str) -> None:
    live = running_job(db_url, beat_seconds_ago=5)
    local = running_job(db_url, beat_seconds_ago=600, backend="local", ticker="BBB")
    submitted: list[str] = []
    sweep = janitor(settings, submitted).sweep()
    assert (sweep.requeued, sweep.failed, submitted) == ([], [], [])
    with session_scope(db_url) as s:
        assert jobs.get_job(s, job_id=live).status == "running"
        assert jobs.get_job(s, job_id=local).status == "running"


def test_janitors_sweeping_at_once_requeue_a_job_once(settings: Settings, db_url: str) -> None:
    job_id = running_job(db_url, beat_seconds_ago=61)
    submitted: list[str] = []
    sweepers = [janitor(settings, submitted) for _ in range(4)]
    start = threading.Barrier(len(sweepers))
    results: list[list[str]] = []

    def sweep(j: Janitor) -> None:
        start.wait()
        results.append(j.sweep().requeued)

    threads = [threading.Thread(target=sweep, args=(j,)) for j in sweepers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [[], [], [], [job_id]]
    assert submitted == [job_id]


def test_a_job_that_beats_after_the_look_is_not_requeued(settings: Settings, db_url: str) -> None:
    job_id = running_job(db_url, beat_seconds_ago=61)
    cutoff = utcnow() - dt.timedelta(seconds=60)
    with session_scope(db_url) as s:
        jobs.beat(s, job_id=job_id)
    with session_scope(db_url) as s:
        assert not jobs.requeue(s, job_id=job_id, reason="x", older_than=cutoff)
        assert not jobs.finish(
            s, job_id=job_id, status=JobStatus.FAILED, error="x", stale_before=cutoff
        )
        assert jobs.get_job(s, job_id=job_id).status == "running"


def test_queued_job_the_queue_lost_is_submitted_again(settings: Settings, db_url: str) -> None:
    with session_scope(db_url) as s:
        lost, _ = jobs.create_job(s, ticker="AAA", config={"epochs": 1}, backend="rq")
        waiting, _ = jobs.create_job(s, ticker="BBB", config={"epochs": 1}, backend="rq")
        ids = (lost.id, waiting.id)
    submitted: list[str] = []
    sweep = janitor(settings, submitted, pending={ids[1]}).sweep()
    assert sweep.resubmitted == [ids[0]] and submitted == [ids[0]]


def test_heartbeat_thread_keeps_a_job_busy_between_epochs_alive(
    settings: Settings, db_url: str
) -> None:
    job_id = running_job(db_url, beat_seconds_ago=61)
    with Heartbeat(db_url, job_id, interval=0.1):
        time.sleep(0.5)  # one long epoch: no epoch-end heartbeat
    assert janitor(settings, []).sweep().requeued == []


def test_settings_refuse_a_heartbeat_interval_near_the_timeout() -> None:
    with pytest.raises(ValidationError, match="at most half of TICKERCAST_HEARTBEAT_TIMEOUT"):
        Settings(heartbeat_timeout_seconds=10, heartbeat_interval_seconds=6)
