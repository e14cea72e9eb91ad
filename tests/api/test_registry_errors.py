"""What a user meets at the edges of the registry and the forecast: clear answers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.db.tables import ModelVersion, PriceBar
from app.main import create_app
from tests.conftest import SQLITE_ONLY


def test_unknown_ticker_and_version_are_404_saying_what_to_do(
    client: TestClient, register_tiny: Callable[..., Any]
) -> None:
    unknown = client.get("/models/NOPE")
    assert unknown.status_code == 404
    assert "'NOPE'" in unknown.json()["detail"] and "POST /train" in unknown.json()["detail"]
    register_tiny("never")
    missing = client.get("/models/^GSPC/versions/7")
    assert missing.status_code == 404
    assert "known versions: [1]" in missing.json()["detail"]
    assert client.get("/forecast/NOPE").status_code == 404


def test_backtest_of_a_version_without_one_is_404_saying_retrain(
    client: TestClient, session: Session, register_tiny: Callable[..., Any]
) -> None:
    register_tiny("never")
    session.execute(update(ModelVersion).values(backtest=None))
    session.commit()
    resp = client.get("/models/^GSPC/versions/1/backtest")
    assert resp.status_code == 404
    assert "has no stored backtest" in resp.json()["detail"]


def test_forecast_with_too_few_stored_bars_is_422_naming_the_need(
    client: TestClient, session: Session, register_tiny: Callable[..., Any]
) -> None:
    register_tiny("never")  # lookback 20, and its intervals' 60-day volatility: 61 closes
    keep = session.scalars(
        PriceBar.__table__.select().with_only_columns(PriceBar.day).order_by(PriceBar.day.desc())
    ).all()[:10]
    session.execute(delete(PriceBar).where(PriceBar.day.not_in(keep)))
    session.commit()
    resp = client.get("/forecast/^GSPC")
    assert resp.status_code == 422
    assert resp.json()["detail"].startswith("^GSPC has 10 stored bars; version 1 needs the last 61")


@SQLITE_ONLY
def test_csv_over_the_upload_limit_is_413_and_nothing_is_stored(
    settings: Settings, sample_csv_text: str
) -> None:
    small = settings.model_copy(update={"max_upload_bytes": 4096})
    with TestClient(create_app(small)) as client:
        resp = client.put(
            "/prices/^GSPC", content=sample_csv_text, headers={"Content-Type": "text/csv"}
        )
        assert resp.status_code == 413
        assert "TICKERCAST_MAX_UPLOAD_BYTES" in resp.json()["detail"]
        assert client.get("/prices/^GSPC").status_code == 404


def test_readyz_is_503_while_the_database_is_unreachable(tmp_path: Path) -> None:
    # Nothing listens on port 1: the driver's connection is refused at once.
    settings = Settings(
        data_dir=tmp_path,
        database_url="postgresql+psycopg://postgres@127.0.0.1:1/none",
        job_supervisor=False,
    )
    with TestClient(create_app(settings)) as client:
        resp = client.get("/readyz")
        assert resp.status_code == 503
        assert resp.json()["status"] == "unavailable"
        assert client.get("/healthz").status_code == 200


def test_a_statement_the_database_refuses_is_a_500_not_a_503(tmp_path: Path) -> None:
    # An empty SQLite file: every table is missing, which no retry will mend.
    settings = Settings(
        data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'empty.db'}", job_supervisor=False
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        resp = client.get("/jobs")
    assert resp.status_code == 500
    assert resp.json()["code"] == "internal_error"
    assert "training_job" not in resp.text  # no SQL in the answer
