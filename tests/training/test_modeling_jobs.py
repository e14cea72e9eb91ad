"""Training jobs with the modeling options, run by the job runner as a worker runs them."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.db.engine import session_scope
from app.jobs import service as jobs
from app.jobs.runner import run_job
from app.prices.service import import_csv
from app.registry import versions
from models.metrics import VersionMetrics
from tests.conftest import SQLITE_ONLY

# Each job trains, as a training process does.
pytestmark = pytest.mark.training

TINY = {
    "model_type": "gru",
    "lookback": 10,
    "horizon": 3,
    "layers": [4],
    "epochs": 1,
    "seed": 1,
    "ensemble": 1,
    "start": "2016-01-01",
}
TINY_SEARCH = {
    "trials": 2,
    "trial_epochs": 1,
    "timeout_s": 600,
    "space": {
        "model_type": ["gru", "rnn"],
        "lookback": {"low": 10, "high": 20, "step": 10},
        "layers": {"low": 1, "high": 1},
        "units": [4],
    },
}


def run(settings: Settings, ticker: str, config: dict[str, object]) -> str:
    """Queue a job and run it here; its final status."""
    with session_scope(settings.resolved_database_url()) as s:
        job, _ = jobs.create_job(s, ticker=ticker, config=config, backend="local")
        job_id = job.id
    return job_id if run_job(job_id, settings) == "succeeded" else f"not succeeded: {job_id}"


def error_of(settings: Settings, job_id: str) -> str:
    with session_scope(settings.resolved_database_url()) as s:
        return jobs.get_job(s, job_id=job_id).error or ""


@SQLITE_ONLY
def test_a_search_job_registers_the_chosen_config_with_its_search_record(
    settings: Settings, session: Session, sample_csv_text: str
) -> None:
    import_csv(session, ticker="^GSPC", text=sample_csv_text, calendar="XNYS")
    session.commit()
    job_id = run(settings, "^GSPC", {**TINY, "search": TINY_SEARCH})
    assert not job_id.startswith("not"), error_of(settings, job_id.split()[-1])
    with session_scope(settings.resolved_database_url()) as s:
        row = versions.get_version(s, ticker="^GSPC", version=1)
        metrics = VersionMetrics.model_validate(row.metrics)
        record = metrics.search
        assert record is not None
        assert [t.number for t in record.trials] == [0, 1]
        best = record.best_params
        # The version is the best trial's configuration, trained with the request's epochs.
        assert (row.config["lookback"], row.config["model_type"]) == (
            best["lookback"],
            best["model_type"],
        )
        assert row.model_type == best["model_type"]
        assert row.config["epochs"] == TINY["epochs"]
        assert metrics.timings is not None and metrics.timings.search_seconds is not None
        # It went through the same backtest and gate as any version.
        assert metrics.test.n_windows > 0 and metrics.promotion is not None


@SQLITE_ONLY
def test_a_warm_start_job_from_another_ticker_records_its_lineage(
    settings: Settings, session: Session, sample_csv_text: str
) -> None:
    import_csv(session, ticker="^GSPC", text=sample_csv_text, calendar="XNYS")
    import_csv(session, ticker="SPY", text=sample_csv_text, calendar="XNYS")
    session.commit()
    assert not run(settings, "^GSPC", TINY).startswith("not")
    parent = {"ticker": "^GSPC", "version": 1}
    assert not run(settings, "SPY", {**TINY, "parent_version": parent}).startswith("not")
    assert not run(
        settings, "SPY", {**TINY, "parent_version": {"ticker": "SPY", "version": 1}}
    ).startswith("not")
    with session_scope(settings.resolved_database_url()) as s:
        # The newest network (a baseline may have become SPY's champion in between).
        child = versions.latest_network(s, ticker="SPY")
        assert child is not None and child.version > 1
        assert (child.parent_ticker, child.parent_version) == ("SPY", 1)
        chain = versions.lineage(s, row=child)
        assert [(a.ticker, a.version) for a in chain] == [("SPY", 1), ("^GSPC", 1)]


@SQLITE_ONLY
def test_a_volume_feature_on_bars_without_volume_fails_the_job_naming_it(
    settings: Settings, session: Session, sample_csv_text: str
) -> None:
    # The same bars from a CSV that has no volume column.
    lines = sample_csv_text.splitlines()
    without = "\n".join(",".join(line.split(",")[:-1]) for line in lines) + "\n"
    import_csv(session, ticker="NOVOL", text=without, calendar="XNYS")
    session.commit()
    outcome = run(settings, "NOVOL", {**TINY, "features": ["volume"]})
    assert outcome.startswith("not succeeded")
    error = error_of(settings, outcome.split()[-1])
    assert "feature volume needs the volume" in error
