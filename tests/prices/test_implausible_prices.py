"""Prices beyond belief are refused, or quarantined with strict=false, and a forecast or a live
score made from a bar that is gone no longer counts (issue 19: a bar at 1e308 was imported
with `implausible: 0`, the forecast answered `"upper": null`, and live accuracy stayed at an
MAE of about 5e307 after the bar was deleted)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.prices import store
from app.prices.service import refresh
from app.prices.sources import FetchResult

CSV = {"Content-Type": "text/csv"}
HEADER = "Date,Open,High,Low,Close,Adj Close,Volume\n"
HUGE = "2018-12-03,1e308,1e308,1e308,1e308,1e308,1000\n"
# 2018-06-15 of the sample, every price ten times over (a unit error).
TENFOLD = "2018-06-15,27779.9,27822.1,27640.8,27797.9,27797.9,5428790000\n"


def import_csv(client: TestClient, body: str, **params: str) -> Any:
    return client.put("/prices/^GSPC", content=HEADER + body, headers=CSV, params=params)


def keep_until(session: Session, day: str) -> None:
    store.delete_bars(session, ticker="^GSPC", start=dt.date.fromisoformat(day), end=None)
    session.commit()


def test_a_bar_at_1e308_is_refused_naming_its_line_and_nothing_is_stored(
    client: TestClient, sample_csv_text: str
) -> None:
    assert client.put("/prices/^GSPC", content=sample_csv_text, headers=CSV).status_code == 200
    resp = import_csv(client, HUGE.replace("2018-12-03", "2019-01-02"))
    assert resp.status_code == 422, resp.text
    assert "line 2: Open 1e+308 is above 1e+09" in resp.json()["detail"]
    assert "strict=false" in resp.json()["detail"]
    last = client.get("/prices/^GSPC", params={"start": "2019-01-01"}).json()
    assert last["bars"] == []


def test_a_tenfold_bar_is_refused_then_quarantined_with_strict_false(
    client: TestClient, sample_csv_text: str
) -> None:
    assert client.put("/prices/^GSPC", content=sample_csv_text, headers=CSV).status_code == 200
    refused = import_csv(client, TENFOLD)
    assert refused.status_code == 422
    assert (
        "Close 27797.9 is more than 5 times away from the close(s) beside it"
        in (refused.json()["detail"])
    )
    kept = import_csv(client, TENFOLD, strict="false")
    assert kept.status_code == 200, kept.text
    assert (kept.json()["implausible"], kept.json()["quarantined"]) == (1, 1)
    # Stored, counted, but read by nothing: the day is missing from the series.
    days = client.get("/prices/^GSPC", params={"start": "2018-06-14", "end": "2018-06-18"})
    assert [bar["date"] for bar in days.json()["bars"]] == ["2018-06-14", "2018-06-18"]
    assert kept.json()["stored_rows"] == 5031
    # The right prices again: the bar is an ordinary one once more.
    fixed = import_csv(client, "2018-06-15,2777.78,2782.81,2761.73,2779.66,2779.66,5428790000\n")
    assert (fixed.json()["implausible"], fixed.json()["quarantined"]) == (0, 0)
    days = client.get("/prices/^GSPC", params={"start": "2018-06-14", "end": "2018-06-18"})
    assert len(days.json()["bars"]) == 3


def test_a_split_is_not_taken_for_a_typo(client: TestClient) -> None:
    """A level shift that the next bars confirm is judged against the bar after it: kept."""
    rows = [
        "2018-06-11,100,101,99,100,100,1000",
        "2018-06-12,100,101,99,100,100,1000",
        "2018-06-13,10,10.1,9.9,10,10,1000",
        "2018-06-14,10,10.1,9.9,10,10,1000",
    ]
    resp = client.put("/prices/SPLIT", content=HEADER + "\n".join(rows) + "\n", headers=CSV)
    assert resp.status_code == 200, resp.text
    assert resp.json()["quarantined"] == 0


def test_a_quarantined_1e308_bar_leaves_the_forecast_finite(
    client: TestClient, session: Session, register_tiny: Callable[..., Any]
) -> None:
    register_tiny("always")
    keep_until(session, "2018-12-01")
    resp = import_csv(client, HUGE, strict="false")
    assert resp.status_code == 200, resp.text
    assert resp.json()["quarantined"] == 1
    forecast = client.get("/forecast/^GSPC")
    assert forecast.status_code == 200, forecast.text
    body = forecast.json()
    assert body["data_as_of"] == "2018-11-30"
    figures = [p["value"] for p in body["points"]] + [
        bound
        for p in body["points"]
        for interval in p["intervals"]
        for bound in (interval["lower"], interval["upper"])
    ]
    assert all(v is not None and math.isfinite(v) and 1000 < v < 5000 for v in figures), figures


def test_deleting_the_bar_a_forecast_was_made_from_rescores_live_accuracy(
    client: TestClient,
    session: Session,
    sample_frame: pd.DataFrame,
    register_tiny: Callable[..., Any],
) -> None:
    register_tiny("always")
    keep_until(session, "2018-12-01")
    # A bar ten times over stored as a source refresh stores it (unchecked), then forecast from.
    bad = sample_frame.loc["2018-11-30":"2018-11-30"] * 10
    bad.index = pd.to_datetime(["2018-12-03"])
    store.upsert_bars(session, ticker="^GSPC", frame=bad)
    session.commit()
    assert client.get("/forecast/^GSPC").json()["data_as_of"] == "2018-12-03"
    # The true bars of December arrive, the bad one among them left as it is.
    store.upsert_bars(session, ticker="^GSPC", frame=sample_frame.loc["2018-12-04":])
    session.commit()
    poisoned = client.get("/models/^GSPC/live-accuracy").json()
    assert (poisoned["recorded"], poisoned["scored"]) == (1, 1)
    assert poisoned["mae"][0] > 10_000  # scored from a close ten times over
    resp = client.delete("/prices/^GSPC", params={"start": "2018-12-03", "end": "2018-12-03"})
    assert resp.status_code == 200, resp.text
    rescored = client.get("/models/^GSPC/live-accuracy").json()
    assert (rescored["recorded"], rescored["scored"]) == (1, 0)
    assert rescored["mae"] == [] and rescored["skill_vs_naive"] is None
    print("\nlive accuracy before the delete:", poisoned["mae"], "after:", rescored["mae"])


@dataclass
class OneBadTick:
    """A price source whose newest bar is a thousand times over (a bad tick)."""

    frame: pd.DataFrame
    name: str = "fake"

    def fetch(self, ticker: str, start: dt.date | None, end: dt.date | None) -> FetchResult:
        return FetchResult(self.frame, "XNYS", "America/New_York", self.name)


def test_a_bad_tick_from_the_price_source_is_quarantined(
    client: TestClient,
    session: Session,
    sample_frame: pd.DataFrame,
    register_tiny: Callable[..., Any],
) -> None:
    register_tiny("always")
    keep_until(session, "2018-12-01")
    tick = sample_frame.loc["2018-12-03":"2018-12-03"] * 1000
    fresh = pd.concat([sample_frame.loc["2018-11-26":"2018-11-30"], tick])
    summary = refresh(session, ticker="^GSPC", source=OneBadTick(fresh))
    session.commit()
    assert summary.fetched == 6
    body = client.get("/forecast/^GSPC").json()
    assert body["data_as_of"] == "2018-11-30"
    assert all(1000 < p["value"] < 5000 for p in body["points"])
