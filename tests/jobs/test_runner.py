"""The training process's job handling: failures end the job with a reason a user can act on."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.db.engine import session_scope
from app.jobs import service as jobs
from app.jobs.local import settings_env
from app.jobs.runner import run_job
from app.prices.service import import_csv
from app.registry.versions import list_version_numbers
from tests.conftest import SQLITE_ONLY, WAIT_SECONDS

TINY = {
    "model_type": "gru",
    "lookback": 10,
    "horizon": 3,
    "layers": [4],
    "epochs": 1,
    "seed": 1,
    "ensemble": 1,
}


def queue(db_url: str, ticker: str, config: dict[str, object]) -> str:
    with session_scope(db_url) as s:
        job, _ = jobs.create_job(s, ticker=ticker, config=config, backend="local")
        return job.id


def queue_sample_job(session: Session, db_url: str, csv_text: str) -> str:
    """Store the sample's bars and queue a tiny job on its last three years."""
    import_csv(session, ticker="^GSPC", text=csv_text, calendar="XNYS")
    session.commit()
    return queue(db_url, "^GSPC", {**TINY, "start": "2016-01-01"})


@SQLITE_ONLY  # dialect-independent
def test_job_without_any_stored_prices_fails_naming_both_ways_in(
    settings: Settings, db_url: str
) -> None:
    job_id = queue(db_url, "NODATA", TINY)
    assert run_job(job_id, settings) == "failed"
    with session_scope(db_url) as s:
        job = jobs.get_job(s, job_id=job_id)
        assert job.status == "failed"
        assert "PUT /prices/NODATA" in (job.error or "")
        assert "tickercast prices import NODATA" in (job.error or "")
        assert job.finished_at is not None


@SQLITE_ONLY  # dialect-independent
def test_job_for_a_range_without_bars_fails_naming_the_stored_range(
    settings: Settings, db_url: str, session: Session, sample_csv_text: str
) -> None:
    import_csv(session, ticker="^GSPC", text=sample_csv_text, calendar="XNYS")
    session.commit()
    job_id = queue(db_url, "^GSPC", {**TINY, "start": "2030-01-01", "end": "2030-06-01"})
    assert run_job(job_id, settings) == "failed"
    with session_scope(db_url) as s:
        error = jobs.get_job(s, job_id=job_id).error or ""
    assert "1999-01-04 to 2018-12-31" in error


def test_cancelled_job_is_not_run(settings: Settings, db_url: str) -> None:
    job_id = queue(db_url, "AAA", TINY)
    with session_scope(db_url) as s:
        jobs.request_cancel(s, job_id=job_id)
    assert run_job(job_id, settings) == "cancelled"


@pytest.mark.training
def test_model_failing_onnx_parity_is_not_registered_and_job_says_why(
    settings: Settings, db_url: str, session: Session, sample_csv_text: str
) -> None:
    job_id = queue_sample_job(session, db_url, sample_csv_text)
    with session_scope(db_url) as s:
        assert jobs.claim(s, job_id=job_id, worker="test", pid=None)
    # No real graph differs from Keras by less than zero: the check must refuse it.
    strict = settings.model_copy(update={"parity_tolerance": 0.0})
    proc = subprocess.run(
        [sys.executable, "-m", "app.jobs.runner", job_id],
        env=settings_env(strict),
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    with session_scope(db_url) as s:
        job = jobs.get_job(s, job_id=job_id)
        assert job.status == "failed"
        assert "ONNX outputs differ from Keras" in (job.error or "")
        assert job.model_version_id is None
        assert list_version_numbers(s, ticker="^GSPC") == []


@pytest.mark.training
def test_a_worker_that_lost_its_job_registers_nothing(
    settings: Settings, db_url: str, session: Session, sample_csv_text: str
) -> None:
    """A worker that froze past its heartbeat, while the job went to another, must not register."""
    job_id = queue_sample_job(session, db_url, sample_csv_text)
    with session_scope(db_url) as s:
        # The job is running, but another worker holds it now.
        assert jobs.claim(s, job_id=job_id, worker="elsewhere:4242", pid=4242)
    assert run_job(job_id, settings) == "running"
    with session_scope(db_url) as s:
        job = jobs.get_job(s, job_id=job_id)
        assert (job.status, job.worker, job.model_version_id) == ("running", "elsewhere:4242", None)
        assert list_version_numbers(s, ticker="^GSPC") == []


@SQLITE_ONLY  # dialect-independent
def test_job_rechecks_the_cost_on_the_bars_it_trains_on(
    settings: Settings, db_url: str, session: Session, sample_csv_text: str
) -> None:
    job_id = queue_sample_job(session, db_url, sample_csv_text)
    strict = settings.model_copy(update={"max_epoch_windows": 10})
    assert run_job(job_id, strict) == "failed"
    with session_scope(db_url) as s:
        error = jobs.get_job(s, job_id=job_id).error or ""
        assert list_version_numbers(s, ticker="^GSPC") == []
    assert "over the limit of 10 (TICKERCAST_MAX_EPOCH_WINDOWS)" in error
