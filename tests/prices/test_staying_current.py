"""Refresh on demand: POST /prices/{ticker}/refresh fetches the bars since the newest stored
one. Yahoo is faked at its HTTP layer with the recorded chart body (24 bars, 2018-11-26 to
2018-12-31). The scheduled refreshes are tests/scheduling/test_scheduler.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.main import create_app
from app.prices import store
from tests.yahoo import FakeResponse, FakeYahoo

AFTER_CLOSE = dt.datetime(2019, 1, 2, 23, 0, tzinfo=dt.UTC)  # 2019-01-02's NYSE session closed


@pytest.fixture
def online(settings: Settings) -> Settings:
    # Rate-limit retries as the service makes them, without their 30 s of waiting.
    return settings.model_copy(update={"price_source": "yfinance", "source_backoff_seconds": 0.01})


@pytest.fixture
def online_client(online: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(online)) as client:
        yield client


def keep_until(session: Session, day: str) -> None:
    """Forget the stored bars after `day` (as if they had not been fetched yet)."""
    store.delete_bars(
        session, ticker="^GSPC", start=pd.Timestamp(day).date() + dt.timedelta(1), end=None
    )
    session.commit()


def test_refresh_fetches_the_bars_since_the_newest_and_moves_the_forecast(
    online_client: TestClient,
    session: Session,
    register_tiny: Callable[..., Any],
    yahoo: FakeYahoo,
) -> None:
    register_tiny("always")
    keep_until(session, "2018-11-30")
    assert online_client.get("/forecast/^GSPC").json()["data_as_of"] == "2018-11-30"
    resp = online_client.post("/prices/^GSPC/refresh")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["source"] == "yfinance" and body["fetched"] == 24
    # December 2018's 19 sessions (the NYSE shut on the 5th for a state funeral, and the 25th).
    assert body["added"] == 19 and body["last"] == "2018-12-31"
    assert online_client.get("/forecast/^GSPC").json()["data_as_of"] == "2018-12-31"


def test_refresh_without_a_source_or_with_a_failing_one_says_so(
    client: TestClient, online_client: TestClient, yahoo: FakeYahoo
) -> None:
    offline = client.post("/prices/^GSPC/refresh")
    assert offline.status_code == 409 and "TICKERCAST_PRICE_SOURCE=none" in offline.json()["detail"]
    yahoo.queued = [FakeResponse(None, status_code=429)] * 10
    limited = online_client.post("/prices/^GSPC/refresh")
    assert limited.status_code in (429, 502, 503)
    assert "Yahoo" in limited.json()["detail"]


def test_a_rate_limited_refresh_is_asked_again_as_often_as_the_settings_say(
    online: Settings, yahoo: FakeYahoo
) -> None:
    settings = online.model_copy(update={"source_retries": 2})
    yahoo.queued = [FakeResponse(None, status_code=429)] * 10
    with TestClient(create_app(settings)) as client:
        assert client.post("/prices/^GSPC/refresh").status_code in (429, 502, 503)
    # The first request and two retries, none more.
    assert len(yahoo.history_requests) == 3
