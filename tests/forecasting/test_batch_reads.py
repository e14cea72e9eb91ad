"""A cold batch reads what its tickers share once: their champions in one query and their
live-accuracy records written in one statement, so that each further cold ticker costs only
the reads that are its own (its bars, and its ONNX graph when no session is kept); and every
item is still what GET /forecast answers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.db.engine import get_engine
from app.db.tables import ForecastRecord, PriceBar
from app.main import create_app
from app.prices import store
from app.training.gate import PromoteMode
from app.training.pipeline import Prices, build_version, gate_and_register
from app.training.spec import TrainingSpec
from models.features import Bars
from tests.conftest import TINY_REQUEST

TICKERS = [f"B{i}" for i in range(6)]


def register(session: Session, frame: pd.DataFrame, result: Any, ticker: str, mode: str) -> None:
    store.ensure_ticker(session, ticker=ticker, calendar="XNYS", source="csv")
    store.upsert_bars(session, ticker=ticker, frame=frame)
    spec = TrainingSpec.from_dict({**TINY_REQUEST, "promote": mode})
    prices = Prices(frame, "XNYS", None)
    gate_and_register(
        session,
        new=build_version(ticker, spec, prices, result, job_id=None),
        result=result,
        prices=prices,
        mode=PromoteMode(mode),
        alpha=0.10,
        baseline_champion=False,
    )
    session.commit()


def new_bar(session: Session, frame: pd.DataFrame, tickers: list[str], day: dt.date) -> None:
    """The last bar again on `day`, for each ticker: their cached answers go stale."""
    last = frame.iloc[[-1]].set_axis(pd.DatetimeIndex([pd.Timestamp(day)]))
    for ticker in tickers:
        store.upsert_bars(session, ticker=ticker, frame=last)
    session.commit()


@pytest.fixture
def executed(db_url: str) -> Iterator[list[str]]:
    """Every statement SQLAlchemy sends for the app's engine (an executemany counts once)."""
    seen: list[str] = []
    engine = get_engine(db_url)

    def trace(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", trace)
    yield seen
    event.remove(engine, "before_cursor_execute", trace)


def test_a_cold_batch_reads_champions_once_and_writes_its_records_together(
    settings: Settings,
    session: Session,
    sample_frame: pd.DataFrame,
    tiny_result: Any,
    executed: list[str],
) -> None:
    for i, ticker in enumerate(TICKERS):
        register(session, sample_frame * (1 + i / 100), tiny_result, ticker, "always")
    # One ticker without a champion (served its latest version, with a note) and an unknown
    # one: the batch still answers each as GET /forecast does.
    register(session, sample_frame, tiny_result, "NOCHAMP", "never")
    asked = [*TICKERS, "NOCHAMP", "NOPE"]
    with TestClient(create_app(settings)) as first:
        batch = first.post("/forecasts", json={"tickers": asked, "horizon": 3})
    assert batch.status_code == 200, batch.text
    with TestClient(create_app(settings)) as fresh:  # nothing cached: each computed alone
        for ticker, item in zip(asked, batch.json()["results"], strict=True):
            single = fresh.get(f"/forecast/{ticker}?horizon=3")
            assert item["status"] == single.status_code, (ticker, item)
            if single.status_code == 200:
                assert item["forecast"] == single.json()
            else:
                assert item["error"]["code"] == single.json()["code"]
    assert "no champion" in batch.json()["results"][-2]["forecast"]["warning"]
    recorded = session.scalar(select(func.count()).select_from(ForecastRecord))
    assert recorded == len(TICKERS) + 1  # one per ticker served, the unknown one none

    with TestClient(create_app(settings)) as client:
        client.post("/forecasts", json={"tickers": TICKERS}).raise_for_status()  # sessions built
        counts = []
        for size, day in ((2, dt.date(2019, 1, 2)), (len(TICKERS), dt.date(2019, 1, 3))):
            new_bar(session, sample_frame, TICKERS, day)
            executed.clear()
            resp = client.post("/forecasts", json={"tickers": TICKERS[:size]})
            assert resp.status_code == 200 and resp.json()["failed"] == 0, resp.text
            assert all(
                item["forecast"]["data_as_of"] == day.isoformat() for item in resp.json()["results"]
            )
            champions = [s for s in executed if "JOIN model_alias ON" in s]
            inserts = [s for s in executed if s.lstrip().upper().startswith("INSERT")]
            assert len(champions) == 1 and len(inserts) == 1, executed
            counts.append(len(executed))
    # Each further cold ticker reads its own bars, and nothing else, once its session is kept.
    assert counts[1] - counts[0] == len(TICKERS) - 2, counts


def test_last_bars_are_the_frames_bars_without_the_frame(
    session: Session, sample_frame: pd.DataFrame
) -> None:
    store.ensure_ticker(session, ticker="^GSPC", calendar="XNYS", source="csv")
    frame = sample_frame.copy()
    frame.iloc[-3, frame.columns.get_loc("volume")] = np.nan  # a bar without its volume
    store.upsert_bars(session, ticker="^GSPC", frame=frame)
    # A quarantined bar is left out by both.
    session.execute(
        update(PriceBar)
        .where(PriceBar.ticker == "^GSPC", PriceBar.day == frame.index[-2].date())
        .values(quarantined=True)
    )
    session.commit()
    got = store.last_bars(session, ticker="^GSPC", last=70)
    want = Bars.from_frame(store.load_bars(session, ticker="^GSPC", last=70))
    for name in ("close", "open", "high", "low", "volume", "day"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    assert got.volume is not None and np.isnan(got.volume).sum() == 1 and len(got.close) == 70
