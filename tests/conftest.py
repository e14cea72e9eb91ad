"""Shared fixtures: settings on a temporary data dir and a SQLite file built by the migrations;
the suite's tiers (the markers in pyproject.toml, README "Tests")."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.db import migrate
from app.db.engine import session_scope
from app.main import create_app
from app.prices.csv_format import parse_price_csv
from models.backtest import score_forecasts
from models.windows import split_bounds

# The real backing services: every database test runs on SQLite and on PostgreSQL.
pytest_plugins = ["tests.backing_services", "tests.yahoo"]

REPO = Path(__file__).resolve().parents[1]
# For tests of request validation and other behaviour that no database changes: run them once.
SQLITE_ONLY = pytest.mark.parametrize("database_backend", ["sqlite"])
SAMPLE_CSV = REPO / "app" / "data" / "GSPC.csv"
# Seconds a test waits for a job, a process or a log line before it calls them stuck: a
# detector of hangs, never a measure of speed. Under four engineers' suites on two cores a
# tiny training job took over four minutes (it takes 15 s on an idle machine).
WAIT_SECONDS = 900.0
# Folders whose every test runs real service processes (marked `live` at collection).
LIVE_FOLDERS = ("e2e", "faults")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--databases",
        choices=("both", "sqlite"),
        default="both",
        help="run the database tests on SQLite and PostgreSQL (both), or on SQLite only",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests of the live folders; with --databases=sqlite, drop PostgreSQL variants."""
    tests = Path(__file__).parent
    for item in items:
        if item.path.relative_to(tests).parts[0] in LIVE_FOLDERS:
            item.add_marker(pytest.mark.live)
    if config.getoption("databases") == "both":
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        params = getattr(item, "callspec", None)
        backend = params.params.get("database_backend") if params is not None else None
        (drop if backend == "postgresql" else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the migration head, copied for each test (migrating is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings for one test: its own database (one run on each kind), no network, no dispatcher."""
    return Settings(
        data_dir=tmp_path,
        host_dir=str(tmp_path / "host"),
        database_url=database_url,
        price_source="none",
        job_supervisor=False,
        dispatch_interval_seconds=0.2,
    )


@pytest.fixture
def db_url(settings: Settings) -> str:
    return settings.resolved_database_url()


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    """A session whose work is committed at the end of the test's block."""
    with session_scope(db_url) as s:
        yield s


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="session")
def sample_csv_text() -> str:
    return SAMPLE_CSV.read_text()


TINY_REQUEST = {
    "model_type": "lstm",
    "lookback": 20,
    "horizon": 5,
    "layers": [8],
    "epochs": 2,
    "batch_size": 64,
    "seed": 11,
    # One network: the ensembles are tested in tests/models and end to end.
    "ensemble": 1,
}


@pytest.fixture(scope="session")
def sample_frame() -> pd.DataFrame:
    """The bundled S&P 500 sample as a price frame."""
    return parse_price_csv(SAMPLE_CSV.read_bytes())


@pytest.fixture(scope="session")
def tiny_result(sample_frame: pd.DataFrame) -> Any:
    """A tiny LSTM really trained (in this process) on the whole sample, once per session."""
    from models.config import TrainingConfig
    from models.train import train

    config = TrainingConfig.from_dict(TINY_REQUEST)
    return train(sample_frame["close"].to_numpy(), config)


@pytest.fixture
def register_tiny(
    session: Session, sample_frame: pd.DataFrame, tiny_result: Any
) -> Callable[..., Any]:
    """Store the sample's bars and register the tiny model through the pipeline's own steps."""
    from app.prices import store
    from app.training.gate import PromoteMode
    from app.training.pipeline import Prices, build_version, gate_and_register
    from app.training.spec import TrainingSpec

    store.ensure_ticker(session, ticker="^GSPC", calendar="XNYS", source="csv")
    store.upsert_bars(session, ticker="^GSPC", frame=sample_frame)
    prices = Prices(sample_frame, "XNYS", None)

    def register(
        promote: str = "auto", result: Any = None, *, baseline_champion: bool = False
    ) -> Any:
        """Register a version; with baseline_champion, as the service's default does."""
        result = result or tiny_result
        spec = TrainingSpec.from_dict({**TINY_REQUEST, "promote": promote})
        new = build_version("^GSPC", spec, prices, result, job_id=None)
        registered = gate_and_register(
            session,
            new=new,
            result=result,
            prices=prices,
            mode=PromoteMode(promote),
            alpha=0.10,
            baseline_champion=baseline_champion,
        )
        session.commit()
        return registered.version, registered.decision

    return register


@pytest.fixture(scope="session")
def winning_result(sample_frame: pd.DataFrame, tiny_result: Any) -> Any:
    """The tiny model's result with forecasts halfway to the actuals: it beats both baselines
    at every step (the served graph stays the tiny one; only the evidence differs)."""
    backtest = tiny_result.backtest
    forecasts = 0.5 * backtest.model + 0.5 * backtest.actual
    closes = sample_frame["close"].to_numpy()
    train_end, _ = split_bounds(len(closes), 0.70, 0.15)
    summary = score_forecasts(closes, backtest.origins, forecasts, train_end=train_end)
    summary = summary.model_copy(update={"coverage": tiny_result.metrics.test.coverage})
    assert summary.beats_baselines()
    return dataclasses.replace(
        tiny_result,
        backtest=dataclasses.replace(backtest, model=forecasts, metrics=summary),
        metrics=tiny_result.metrics.model_copy(update={"test": summary}),
    )
