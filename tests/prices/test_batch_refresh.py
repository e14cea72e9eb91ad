"""Batch refresh: many tickers in one yfinance call (`yf.download` with a list), each one the
batch could not read asked alone, one bad ticker failing only itself. Yahoo is faked at its
HTTP layer: every symbol is answered with the recorded chart body (24 bars, 2018-11-26 to
2018-12-31) under its own name and scale, so yfinance's own download and parser run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import NoPriceData
from app.db.engine import session_scope
from app.db.tables import TickerInfo
from app.main import create_app
from app.prices import store
from app.prices.sources import Wanted, YFinanceSource, fetch_many
from app.scheduling.scheduler import Scheduler
from tests.yahoo import FakeResponse, FakeYahooMany, at_utc, symbol_chart

AFTER_CLOSE = dt.datetime(2019, 1, 2, 23, 0, tzinfo=dt.UTC)  # 2019-01-02's NYSE session closed
NY = "America/New_York"


def source() -> YFinanceSource:
    return YFinanceSource(sleep=lambda _s: None, now=at_utc("2019-01-02T12:00:00"))


@pytest.fixture
def online(settings: Settings) -> Settings:
    # Rate-limit retries as the service makes them, without their 30 s of waiting.
    return settings.model_copy(update={"price_source": "yfinance", "source_backoff_seconds": 0.01})


def store_until(session: Session, frame: pd.DataFrame, ticker: str, day: str) -> None:
    store.ensure_ticker(session, ticker=ticker, calendar="XNYS", source="csv", timezone=NY)
    store.upsert_bars(session, ticker=ticker, frame=frame.loc[:day])


def test_one_call_reads_every_ticker_it_can_and_a_bad_one_is_asked_alone(
    yahoo_many: FakeYahooMany,
) -> None:
    yahoo_many.charts = {"AAA": symbol_chart("AAA", 0.5), "^GSPC": symbol_chart("^GSPC", 1.0)}
    wanted = [
        Wanted("AAA", dt.date(2018, 12, 1), "XNYS", NY),
        Wanted("BAD", dt.date(2018, 12, 1), "XNYS", NY),
        Wanted("^GSPC", dt.date(2018, 12, 20), "XNYS", NY),
    ]
    got = fetch_many(source(), wanted, end=None, batch_size=50)
    assert (got.batches, got.from_batches, got.alone) == (1, 2, 1)
    aaa, gspc = got.results["AAA"].frame, got.results["^GSPC"].frame
    # Each ticker from its own start to the last bar, with its own prices.
    assert (aaa.index[0], aaa.index[-1]) == (pd.Timestamp("2018-12-03"), pd.Timestamp("2018-12-31"))
    assert (gspc.index[0], len(gspc)) == (pd.Timestamp("2018-12-20"), 7)
    assert aaa.loc["2018-12-31", "close"] == pytest.approx(gspc.loc["2018-12-31", "close"] / 2)
    assert got.results["AAA"].calendar == "XNYS" and got.results["AAA"].timezone == NY
    # BAD: unreadable in the batch, then asked alone, whose error says what is wrong.
    assert isinstance(got.errors["BAD"], NoPriceData)
    assert "'BAD'" in got.errors["BAD"].message
    assert set(got.results) == {"AAA", "^GSPC"}


def test_batches_hold_at_most_the_batch_size(yahoo_many: FakeYahooMany) -> None:
    names = [f"T{i}" for i in range(5)]
    yahoo_many.charts = {n: symbol_chart(n, 1 + i / 10) for i, n in enumerate(names)}
    wanted = [Wanted(n, dt.date(2018, 12, 1), "XNYS", NY) for n in names]
    got = fetch_many(source(), wanted, end=None, batch_size=2)
    assert (got.batches, got.from_batches, got.alone) == (3, 5, 0)
    assert all(yahoo_many.history_requests(n) == 1 for n in names)


def test_a_ticker_rate_limited_in_the_batch_is_fetched_alone_with_its_own_retries(
    yahoo_many: FakeYahooMany,
) -> None:
    yahoo_many.charts = {"AAA": symbol_chart("AAA", 0.5), "BBB": symbol_chart("BBB", 2.0)}
    # yfinance retries a 429 once itself; then the single fetch's own backoff takes over.
    yahoo_many.queued = {"BBB": [FakeResponse(None, status_code=429)] * 3}
    sleeps: list[float] = []
    single = YFinanceSource(sleep=sleeps.append, now=at_utc("2019-01-02T12:00:00"))
    wanted = [Wanted(t, dt.date(2018, 12, 1), "XNYS", NY) for t in ("AAA", "BBB")]
    got = fetch_many(single, wanted, end=None, batch_size=50)
    assert (got.from_batches, got.alone) == (1, 1)
    assert set(got.results) == {"AAA", "BBB"} and got.errors == {}
    assert sleeps == [2.0, 4.0]  # the single fetch's backoff, as for any refresh
    assert yahoo_many.history_requests("BBB") == 4  # 1 in the batch, 3 alone


@pytest.fixture
def online_client(online: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(online)) as client:
        yield client


def test_post_prices_refresh_stores_every_good_ticker_and_says_why_a_bad_one_failed(
    online_client: TestClient,
    session: Session,
    sample_frame: pd.DataFrame,
    yahoo_many: FakeYahooMany,
) -> None:
    for ticker in ("AAA", "BBB", "BAD"):
        store_until(session, sample_frame, ticker, "2018-11-30")
    session.commit()
    yahoo_many.charts = {"AAA": symbol_chart("AAA", 1.0), "BBB": symbol_chart("BBB", 1.0)}
    resp = online_client.post("/prices/refresh", json={"tickers": ["AAA", "BAD", "BBB", "AAA"]})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [item["ticker"] for item in body["results"]] == ["AAA", "BAD", "BBB"]
    assert (body["count"], body["failed"], body["batches"]) == (3, 1, 1)
    assert (body["from_batches"], body["alone"]) == (2, 1)
    good = {item["ticker"]: item for item in body["results"] if item["status"] == 200}
    for ticker in ("AAA", "BBB"):
        assert good[ticker]["refresh"]["last"] == "2018-12-31"
        assert good[ticker]["refresh"]["added"] == 19  # the sessions of 2018-12-03 to 12-31
    [bad] = [item for item in body["results"] if item["ticker"] == "BAD"]
    assert bad["status"] == 404 and "'BAD'" in bad["error"]["detail"]
    with session_scope(online_client.app.state.database_url) as s:  # type: ignore[attr-defined]
        assert store.bar_range(s, ticker="AAA")[1] == dt.date(2018, 12, 31)  # type: ignore[index]
        assert store.bar_range(s, ticker="BAD")[1] == dt.date(2018, 11, 30)  # type: ignore[index]


def test_post_prices_refresh_refuses_more_tickers_than_the_limit(
    online_client: TestClient,
) -> None:
    resp = online_client.post("/prices/refresh", json={"tickers": [f"T{i}" for i in range(501)]})
    assert resp.status_code == 422
    assert "tickers" in resp.text


def test_the_scheduler_refreshes_in_one_batch_and_backs_off_only_the_bad_ticker(
    online: Settings, session: Session, sample_frame: pd.DataFrame, yahoo_many: FakeYahooMany
) -> None:
    for ticker in ("AAA", "BBB", "BAD"):
        store_until(session, sample_frame, ticker, "2018-11-30")
    session.commit()
    yahoo_many.charts = {"AAA": symbol_chart("AAA", 1.0), "BBB": symbol_chart("BBB", 3.0)}
    scheduler = Scheduler(
        online, source=YFinanceSource(sleep=lambda _s: None, now=lambda: AFTER_CLOSE)
    )
    first = scheduler.tick(AFTER_CLOSE)
    assert sorted(first.refreshed) == ["AAA", "BBB"] and list(first.failed) == ["BAD"]
    assert (first.batches, first.alone) == (1, 1)
    with session_scope(online.resolved_database_url()) as s:
        bad = s.get(TickerInfo, "BAD")
        assert bad is not None and bad.refresh_failures == 1
        assert bad.next_refresh_at == AFTER_CLOSE + dt.timedelta(seconds=900)
        for good in ("AAA", "BBB"):
            info = s.get(TickerInfo, good)
            assert info is not None and info.refresh_failures == 0
            assert store.bar_range(s, ticker=good)[1] == dt.date(2018, 12, 31)  # type: ignore[index]
    # Within BAD's backoff nothing is asked for it; after it, it is asked again (alone: a
    # batch of one still goes through the batch call first).
    asked = yahoo_many.history_requests("BAD")
    assert scheduler.tick(AFTER_CLOSE + dt.timedelta(seconds=60)).failed == {}
    assert yahoo_many.history_requests("BAD") == asked
    later = scheduler.tick(AFTER_CLOSE + dt.timedelta(seconds=901))
    assert list(later.failed) == ["BAD"]
    with session_scope(online.resolved_database_url()) as s:
        bad = s.get(TickerInfo, "BAD")
        assert bad is not None and bad.refresh_failures == 2
        assert bad.next_refresh_at == AFTER_CLOSE + dt.timedelta(seconds=901 + 1800)
