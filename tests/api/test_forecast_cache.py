"""Forecasts computed once: a repeated request runs no model and one SQL read, and any write
that changes the answer (a bar, a champion, an alias) is seen by every app on its next request."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from app.core.config import Settings
from app.db.engine import get_engine
from app.forecasting.cache import Answer, ForecastCache, ForecastRequest
from app.jobs.local import settings_env
from app.main import create_app
from app.schemas.forecast import MAX_BATCH_INTERVALS, MAX_BATCH_TICKERS, MAX_HORIZON
from models.predictor import OnnxPredictor
from tests.conftest import SQLITE_ONLY

NEW_BAR = (
    "Date,Open,High,Low,Close,Adj Close,Volume\n"
    "2019-01-02,2476.96,2519.49,2467.47,2510.03,2510.03,3733160000\n"
)
LATER_BAR = (
    "Date,Open,High,Low,Close,Adj Close,Volume\n"
    "2019-01-03,2491.92,2493.14,2443.96,2447.89,2447.89,3822860000\n"
)


@pytest.fixture
def onnx_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per ONNX Runtime run, in any app of this process."""
    runs: list[int] = []
    predict = OnnxPredictor.predict

    def counted(self: OnnxPredictor, x: Any) -> Any:
        runs.append(len(x))
        return predict(self, x)

    monkeypatch.setattr(OnnxPredictor, "predict", counted)
    return runs


@pytest.fixture
def statements(db_url: str) -> Iterator[list[str]]:
    """Every SQL statement SQLite runs for the app's engine, whatever layer sent it (the
    freshness read goes to the driver directly, past SQLAlchemy's events)."""
    seen: list[str] = []
    engine = get_engine(db_url)
    engine.dispose()  # so that every connection is made, and traced, from here on

    def trace(dbapi_connection: Any, _record: Any) -> None:
        assert isinstance(dbapi_connection, sqlite3.Connection)
        dbapi_connection.set_trace_callback(seen.append)

    event.listen(engine, "connect", trace)
    yield seen
    event.remove(engine, "connect", trace)
    engine.dispose()


@SQLITE_ONLY
def test_a_repeated_forecast_runs_no_model_and_one_sql_read(
    client: TestClient,
    register_tiny: Callable[..., Any],
    onnx_runs: list[int],
    statements: list[str],
) -> None:
    register_tiny("always")
    first = client.get("/forecast/^GSPC?horizon=3&level=90")
    assert first.status_code == 200 and onnx_runs == [1]
    for path in ("/forecast/^GSPC?horizon=3&level=90", "/forecast/%5Egspc?level=90&horizon=3"):
        statements.clear()
        again = client.get(path)
        assert again.content == first.content
        assert onnx_runs == [1], "the model ran again"
        assert [s for s in statements if not s.startswith("PRAGMA")] == [
            "SELECT ticker, token FROM serving_state WHERE ticker IN ('^GSPC')"
        ]
    # What the cache answers is what the route renders: warning and accuracy included.
    body = first.json()
    assert body["warning"] and body["accuracy"]["backtest_windows"] > 0
    assert len(body["points"]) == 3 and [iv["level"] for iv in body["points"][0]["intervals"]] == [
        90
    ]


def test_new_bars_a_new_champion_and_a_moved_alias_reach_another_app_at_once(
    settings: Settings, register_tiny: Callable[..., Any], tmp_path: Path
) -> None:
    register_tiny("always")
    with (
        TestClient(create_app(settings)) as reader,
        TestClient(create_app(settings)) as writer,
    ):

        def served() -> dict[str, Any]:
            resp = reader.get("/forecast/^GSPC")
            assert resp.status_code == 200, resp.text
            return resp.json()  # type: ignore[no-any-return]

        before = served()
        assert before["data_as_of"] == "2018-12-31" and before["model_version"] == 1
        assert served() == before

        # A bar imported through the other app.
        resp = writer.put("/prices/^GSPC", content=NEW_BAR, headers={"Content-Type": "text/csv"})
        assert resp.status_code == 200, resp.text
        after_bar = served()
        assert after_bar["data_as_of"] == "2019-01-02"
        assert after_bar["last_close"] == pytest.approx(2510.03)

        # A new champion registered as a training process does, on its own connection.
        register_tiny("always")
        assert served()["model_version"] == 2

        # The alias moved back by hand through the other app.
        resp = writer.put("/models/^GSPC/aliases/champion", json={"version": 1})
        assert resp.status_code == 200, resp.text
        assert served()["model_version"] == 1
        resp = writer.delete("/models/^GSPC/aliases/champion")
        assert resp.status_code == 204, resp.text
        unchampioned = served()
        assert unchampioned["model_version"] == 2 and unchampioned["champion"] is False

        import_in_another_process(settings, tmp_path, LATER_BAR)
        assert served()["data_as_of"] == "2019-01-03"


def import_in_another_process(settings: Settings, tmp_path: Path, csv_text: str) -> None:
    """Import bars of ^GSPC with the command line, a process of its own."""
    csv = tmp_path / "bars.csv"
    csv.write_text(csv_text)
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "prices", "import", "^GSPC", str(csv)],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_a_cached_refusal_is_refused_again_until_the_ticker_changes(
    client: TestClient, register_tiny: Callable[..., Any]
) -> None:
    for _ in range(2):
        resp = client.get("/forecast/^GSPC")
        assert resp.status_code == 404 and resp.json()["code"] == "not_found"
    register_tiny("always")
    assert client.get("/forecast/^GSPC").status_code == 200


@SQLITE_ONLY
def test_a_batch_answers_every_ticker_inline_and_one_bad_ticker_fails_only_itself(
    client: TestClient, register_tiny: Callable[..., Any]
) -> None:
    register_tiny("always")
    resp = client.post("/forecasts", json={"tickers": ["^GSPC", "NOPE", "^gspc"], "level": [50]})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["count"] == 3 and body["failed"] == 1
    good, bad, again = body["results"]
    single = client.get("/forecast/^GSPC?level=50").json()
    assert good == {"ticker": "^GSPC", "status": 200, "forecast": single, "error": None}
    assert again == good
    assert bad["ticker"] == "NOPE" and bad["status"] == 404 and bad["forecast"] is None
    assert bad["error"]["code"] == "not_found" and "NOPE" in bad["error"]["detail"]
    assert bad["error"]["request_id"] == resp.headers["X-Request-ID"]

    # A horizon past the version's trained one fails that ticker alone, with the reason.
    long = client.post("/forecasts", json={"tickers": ["^GSPC"], "horizon": 6}).json()
    (item,) = long["results"]
    assert item["status"] == 422 and "horizon must be between 1 and 5" in item["error"]["detail"]


@SQLITE_ONLY
def test_a_batch_over_the_limit_is_refused_naming_it(client: TestClient) -> None:
    tickers = [f"T{i}" for i in range(MAX_BATCH_TICKERS + 1)]
    resp = client.post("/forecasts", json={"tickers": tickers})
    assert resp.status_code == 422
    body = resp.json()
    assert body["errors"][0]["loc"] == ["body", "tickers"]
    assert str(MAX_BATCH_TICKERS) in body["detail"] and "tickers" in body["detail"]
    ok = client.post("/forecasts", json={"tickers": tickers[:MAX_BATCH_TICKERS]})
    assert ok.status_code == 200 and ok.json()["count"] == MAX_BATCH_TICKERS


@SQLITE_ONLY
def test_the_batch_is_documented_with_an_example(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    post = schema["paths"]["/forecasts"]["post"]
    assert post["operationId"] == "forecast_batch"
    assert "422" in post["responses"] and "200" in post["responses"]
    out = schema["components"]["schemas"]["ForecastBatchOut"]
    assert out["examples"][0]["results"][1]["status"] == 404


@SQLITE_ONLY
def test_the_onnx_sessions_kept_never_pass_the_setting(
    settings: Settings, register_tiny: Callable[..., Any]
) -> None:
    register_tiny("always")
    register_tiny("never")
    with TestClient(create_app(settings.model_copy(update={"onnx_cache_size": 1}))) as c:
        for version in (1, 2, 1):
            assert c.get(f"/forecast/^GSPC?version={version}").status_code == 200
            assert len(c.app.state.predictors) == 1  # type: ignore[attr-defined]


def test_the_answer_cache_evicts_the_least_recently_used() -> None:
    cache = ForecastCache(capacity=2)
    keys = [ForecastRequest(ticker=t, levels=(80, 95)) for t in ("A", "B", "C")]
    for key in keys[:2]:
        cache.put(key, 1, Answer(body=key.ticker.encode()))
    assert cache.get(keys[0], 1) is not None  # A is now the most recent
    cache.put(keys[2], 1, Answer(body=b"C"))  # evicts B
    assert len(cache) == 2
    assert cache.get(keys[1], 1) is None and cache.get(keys[0], 1) is not None
    assert cache.get(keys[0], 2) is None, "an answer under another token is not current"


def test_a_batch_whose_answer_would_be_too_large_is_refused_naming_the_product(
    client: TestClient,
) -> None:
    """500 tickers fit with the default levels; with 99 levels they would make an answer 50
    times larger: refused, naming tickers, steps and levels, until the product fits."""
    tickers = [f"T{i}" for i in range(MAX_BATCH_TICKERS)]
    levels = list(range(1, 100))
    resp = client.post("/forecasts", json={"tickers": tickers, "level": levels})
    assert resp.status_code == 422, resp.text
    detail = resp.json()["detail"]
    assert f"{MAX_BATCH_TICKERS} tickers x {MAX_HORIZON} steps x 99 levels" in detail
    assert str(MAX_BATCH_INTERVALS) in detail
    fits = MAX_BATCH_INTERVALS // (MAX_HORIZON * 99)
    ok = client.post("/forecasts", json={"tickers": tickers[:fits], "level": levels})
    assert ok.status_code == 200 and ok.json()["count"] == fits
