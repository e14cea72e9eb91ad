"""The rq backend on a real Redis: what POST /train and DELETE /jobs put on the queue, what a
worker does with ids it should not train, and how a dead work-horse is recorded."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from rq.job import Job, JobStatus

from app.core.config import Settings
from app.db.engine import session_scope
from app.jobs import service as jobs
from app.jobs.rq_backend import TASK, RqBackend, pending_ids
from app.jobs.worker import record_dead_horse
from app.main import create_app
from tests.backing_services import run_burst_worker
from tests.processes import killed_status


@pytest.fixture
def rq_client(rq_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(rq_settings)) as c:
        yield c


@pytest.fixture
def backend(rq_settings: Settings) -> RqBackend:
    return RqBackend(rq_settings)


def queue_sql_job(settings: Settings, ticker: str = "AAA") -> str:
    with session_scope(settings.resolved_database_url()) as s:
        job, _ = jobs.create_job(s, ticker=ticker, config={"epochs": 1}, backend="rq")
        return job.id


def test_post_train_puts_the_job_id_on_the_queue_with_the_job_timeout(
    rq_client: TestClient, backend: RqBackend, rq_settings: Settings
) -> None:
    resp = rq_client.post("/train", json={"ticker": "AAA", "epochs": 1})
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["id"]
    assert backend.queue.job_ids == [job_id]
    rq_job = Job.fetch(
        job_id, connection=backend.queue.connection, serializer=backend.queue.serializer
    )
    assert rq_job.func_name == TASK
    assert rq_job.args == [job_id]
    assert rq_job.timeout == rq_settings.job_timeout_seconds
    assert rq_client.get(f"/jobs/{job_id}").json()["status"] == "queued"


def test_cancelling_a_queued_job_takes_it_off_the_queue(
    rq_client: TestClient, backend: RqBackend
) -> None:
    job_id = rq_client.post("/train", json={"ticker": "AAA", "epochs": 1}).json()["id"]
    resp = rq_client.delete(f"/jobs/{job_id}")
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    assert backend.queue.job_ids == []
    rq_job = Job.fetch(
        job_id, connection=backend.queue.connection, serializer=backend.queue.serializer
    )
    assert rq_job.get_status() == JobStatus.CANCELED


def test_submitting_again_leaves_one_entry_and_pending_tells_lost_ids(
    backend: RqBackend, rq_settings: Settings
) -> None:
    job_id = queue_sql_job(rq_settings)
    backend.submit(job_id)
    backend.submit(job_id)
    assert backend.queue.job_ids == [job_id]
    assert pending_ids(backend.queue, [job_id, "never-submitted"]) == {job_id}


@pytest.mark.live  # a `tickercast worker --burst` process
def test_worker_trains_neither_a_cancelled_job_nor_one_running_elsewhere(
    backend: RqBackend, rq_settings: Settings
) -> None:
    url = rq_settings.resolved_database_url()
    cancelled = queue_sql_job(rq_settings, "AAA")
    elsewhere = queue_sql_job(rq_settings, "BBB")
    with session_scope(url) as s:
        jobs.request_cancel(s, job_id=cancelled)
        assert jobs.claim(s, job_id=elsewhere, worker="other-host:7", pid=7)
    # Both ids reach the worker, as after a cancel Redis missed or a duplicate delivery.
    backend.submit(cancelled)
    backend.submit(elsewhere)
    proc = run_burst_worker(rq_settings)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = {
        job_id: Job.fetch(
            job_id, connection=backend.queue.connection, serializer=backend.queue.serializer
        ).return_value()
        for job_id in (cancelled, elsewhere)
    }
    assert results == {cancelled: "cancelled", elsewhere: "running"}
    with session_scope(url) as s:
        assert jobs.get_job(s, job_id=cancelled).started_at is None
        assert jobs.get_job(s, job_id=elsewhere).worker == "other-host:7"


def test_dead_horse_fails_its_own_job_but_not_one_requeued_to_another_worker(
    backend: RqBackend, rq_settings: Settings
) -> None:
    url = rq_settings.resolved_database_url()
    host = socket.gethostname()
    pid, status = killed_status()
    mine, theirs = queue_sql_job(rq_settings, "AAA"), queue_sql_job(rq_settings, "BBB")
    with session_scope(url) as s:
        assert jobs.claim(s, job_id=mine, worker=f"{host}:{pid}", pid=pid)
        # Re-queued after the old horse went silent, and claimed by another worker since.
        assert jobs.claim(s, job_id=theirs, worker="other-host:7", pid=7)
    for job_id in (mine, theirs):
        backend.submit(job_id)
        rq_job = Job.fetch(
            job_id, connection=backend.queue.connection, serializer=backend.queue.serializer
        )
        record_dead_horse(rq_settings, rq_job, pid, status, None)
    with session_scope(url) as s:
        failed = jobs.get_job(s, job_id=mine)
        assert failed.status == "failed"
        assert f"{host}:{pid} was killed by signal SIGKILL" in (failed.error or "")
        assert jobs.get_job(s, job_id=theirs).status == "running"
