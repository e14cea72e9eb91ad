"""Live accuracy: a served forecast is remembered once and scored when its actual bars arrive."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.tables import ForecastRecord
from app.prices import store


def keep_until(session: Session, day: str) -> None:
    """Forget the stored bars after `day` (as if they had not been fetched yet)."""
    store.delete_bars(
        session, ticker="^GSPC", start=pd.Timestamp(day).date() + dt.timedelta(1), end=None
    )
    session.commit()


def test_live_accuracy_scores_a_forecast_once_its_actual_bars_exist(
    client: TestClient,
    session: Session,
    sample_frame: pd.DataFrame,
    register_tiny: Callable[..., Any],
) -> None:
    register_tiny("always")
    keep_until(session, "2018-11-30")
    for _ in range(3):  # served three times, remembered once
        assert client.get("/forecast/^GSPC").status_code == 200
    before = client.get("/models/^GSPC/live-accuracy").json()
    assert (before["recorded"], before["scored"]) == (1, 0)
    assert before["skill_vs_naive"] is None
    # The December bars arrive: the forecast made on 2018-11-30 is scored, step by step.
    store.upsert_bars(session, ticker="^GSPC", frame=sample_frame.loc["2018-12-01":])
    session.commit()
    after = client.get("/models/^GSPC/live-accuracy").json()
    assert (after["recorded"], after["scored"]) == (1, 1)
    assert after["points_scored"] == [1, 1, 1, 1, 1]
    record = session.scalars(select(ForecastRecord).order_by(ForecastRecord.origin)).first()
    assert record is not None and record.dates[0] == "2018-12-03"
    actual = sample_frame.loc["2018-12-03", "close"]
    assert after["mae"][0] == pytest.approx(abs(record.values[0] - actual))
    assert after["mae_naive"][0] == pytest.approx(abs(record.last_close - actual))
    assert set(after["coverage"]) == {"80", "95"}
