"""What operators and dashboards rely on: request ids, one log line per request, CORS for
reads, /metrics with the job table's figures, and the ticker listing the page searches."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.db.tables import TrainingJob
from app.main import create_app
from app.observability.logs import JsonFormatter, RequestIdFilter
from tests.conftest import SQLITE_ONLY

CSV = "Date,Open,High,Low,Close\n2020-01-02,10,11,9,10.5\n2020-01-03,10,11,9,10.6\n"


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text answer, keyed by name and labels."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@SQLITE_ONLY  # dialect-independent
def test_every_answer_carries_a_request_id_and_an_incoming_one_is_kept(
    client: TestClient,
) -> None:
    made = client.get("/healthz").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert client.get("/healthz").headers["X-Request-ID"] != made
    kept = client.get("/healthz", headers={"X-Request-ID": "dash-7f3a:42"})
    assert kept.headers["X-Request-ID"] == "dash-7f3a:42"
    # An id that would corrupt log lines is replaced, not echoed.
    forged = client.get("/healthz", headers={"X-Request-ID": "x" * 200})
    assert re.fullmatch(r"[0-9a-f]{32}", forged.headers["X-Request-ID"])
    assert client.get("/no/such/route").headers["X-Request-ID"]


@SQLITE_ONLY  # dialect-independent
def test_one_log_line_per_request_names_route_status_and_id(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="tickercast.request"):
        client.get("/forecast/NOPE", headers={"X-Request-ID": "trace-1"})
    lines = [r for r in caplog.records if r.name == "tickercast.request"]
    assert len(lines) == 1
    record = lines[0]
    assert record.getMessage().startswith("GET /forecast/NOPE 404 ")
    assert record.request_id == "trace-1"  # type: ignore[attr-defined]
    assert record.route == "/forecast/{ticker}"  # type: ignore[attr-defined]


def test_json_log_lines_carry_the_request_id_and_the_request_fields() -> None:
    record = logging.LogRecord(
        "tickercast.request", logging.INFO, __file__, 1, "GET / 200", (), None
    )
    record.method, record.status, record.duration_ms = "GET", 200, 1.5
    RequestIdFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "info" and line["logger"] == "tickercast.request"
    assert line["message"] == "GET / 200"
    assert line["request_id"] == "-"  # outside any request
    assert (line["method"], line["status"], line["duration_ms"]) == ("GET", 200, 1.5)
    assert dt.datetime.fromisoformat(line["time"]).tzinfo is not None


@SQLITE_ONLY  # dialect-independent
def test_cors_is_off_by_default(client: TestClient) -> None:
    resp = client.get("/healthz", headers={"Origin": "https://dash.example"})
    assert "access-control-allow-origin" not in resp.headers


@SQLITE_ONLY  # dialect-independent
def test_cors_allows_reads_from_the_configured_origins_only(settings: Settings) -> None:
    cors = settings.model_copy(update={"cors_origins": "https://dash.example, https://b.example"})
    with TestClient(create_app(cors)) as client:
        read = client.get("/healthz", headers={"Origin": "https://b.example"})
        assert read.headers["access-control-allow-origin"] == "https://b.example"
        assert "X-Request-ID" in read.headers["access-control-expose-headers"]
        other = client.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        preflight = {"Origin": "https://dash.example", "Access-Control-Request-Method": "GET"}
        assert client.options("/forecast/X", headers=preflight).status_code == 200
        # A dashboard in the browser revalidates too: it may send If-None-Match, read ETag.
        conditional = {**preflight, "Access-Control-Request-Headers": "if-none-match"}
        assert client.options("/forecast/X", headers=conditional).status_code == 200
        assert "ETag" in read.headers["access-control-expose-headers"]
        write = {**preflight, "Access-Control-Request-Method": "POST"}
        assert client.options("/train", headers=write).status_code == 400


@SQLITE_ONLY  # dialect-independent
def test_metrics_count_requests_per_route_template(client: TestClient) -> None:
    def count() -> float:
        key = (
            "tickercast_http_request_duration_seconds_count",
            frozenset({("method", "GET"), ("route", "/prices/{ticker}"), ("status", "404")}),
        )
        return samples(client.get("/metrics").text).get(key, 0.0)

    before = count()
    for ticker in ("AAA", "BBB", "CCC"):
        assert client.get(f"/prices/{ticker}").status_code == 404
    assert count() == before + 3
    assert client.get("/metrics").headers["content-type"].startswith("text/plain")


@pytest.fixture
def finished_jobs(session: Session) -> Iterator[None]:
    """Jobs as training processes leave them: queued, running, and finished after 20-400 s."""
    start = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
    rows = [
        ("queued", "lstm", None, None),
        ("queued", "gru", None, None),
        ("running", "lstm", start, None),
        ("succeeded", "lstm", start, 20.0),
        ("succeeded", "lstm", start, 400.0),
        ("failed", "gru", start, 50.0),
        ("cancelled", "lstm", None, None),  # cancelled while queued: no duration
    ]
    for status, model_type, started, seconds in rows:
        session.add(
            TrainingJob(
                id=str(uuid.uuid4()),
                ticker="^GSPC",
                config={"model_type": model_type},
                config_hash=uuid.uuid4().hex,
                status=status,
                progress={},
                backend="local",
                started_at=started,
                finished_at=started + dt.timedelta(seconds=seconds)
                if started and seconds
                else (start if status == "cancelled" else None),
            )
        )
    session.commit()
    yield


def test_metrics_read_queue_depth_outcomes_and_durations_from_the_job_table(
    client: TestClient, finished_jobs: None
) -> None:
    got = samples(client.get("/metrics").text)

    def value(name: str, **labels: str) -> float:
        return got[(name, frozenset(labels.items()))]

    assert value("tickercast_job_table_up") == 1
    assert value("tickercast_training_queue_depth", backend="local") == 2
    assert value("tickercast_training_jobs", status="running", model_type="lstm", backend="local")
    finished = "tickercast_training_jobs_finished_total"
    assert value(finished, status="succeeded", model_type="lstm") == 2
    assert value(finished, status="failed", model_type="gru") == 1
    assert value(finished, status="cancelled", model_type="lstm") == 1
    hist = "tickercast_training_job_duration_seconds"
    ok = {"status": "succeeded", "model_type": "lstm"}
    assert value(f"{hist}_count", **ok) == 2
    assert value(f"{hist}_sum", **ok) == pytest.approx(420.0, abs=0.01)
    assert value(f"{hist}_bucket", le="15", **ok) == 0
    assert value(f"{hist}_bucket", le="30", **ok) == 1
    assert value(f"{hist}_bucket", le="300", **ok) == 1
    assert value(f"{hist}_bucket", le="600", **ok) == 2
    assert value(f"{hist}_bucket", le="+Inf", **ok) == 2
    assert value(f"{hist}_bucket", le="60", status="failed", model_type="gru") == 1
    # Never started, so not in the histogram.
    never_started = frozenset({("status", "cancelled"), ("model_type", "lstm")})
    assert (f"{hist}_count", never_started) not in got


def test_tickers_are_listed_with_their_range_and_searched(client: TestClient) -> None:
    for ticker in ("ABC", "XABD", "QQQ"):
        resp = client.put(f"/prices/{ticker}", content=CSV, headers={"Content-Type": "text/csv"})
        assert resp.status_code == 200
    every = client.get("/tickers").json()
    assert [t["ticker"] for t in every] == ["ABC", "QQQ", "XABD"]
    assert every[0] == {
        "ticker": "ABC",
        "calendar": "XNYS",
        "source": "csv",
        "first": "2020-01-02",
        "last": "2020-01-03",
        "bars": 2,
    }
    assert [t["ticker"] for t in client.get("/tickers", params={"q": "ab"}).json()] == [
        "ABC",
        "XABD",
    ]
    assert [t["ticker"] for t in client.get("/tickers?limit=1&offset=1").json()] == ["QQQ"]
    too_many = client.get("/tickers", params={"limit": 5000})
    assert too_many.status_code == 422 and "limit" in too_many.text
