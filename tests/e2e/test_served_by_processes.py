"""The service as processes: /metrics adds up two API workers, logs are JSON lines with the
request id, and event streams end cleanly when their client leaves or the server stops."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.core.config import Settings
from tests.conftest import TINY_REQUEST, WAIT_SECONDS
from tests.e2e.live import LiveService, running, start
from tests.e2e.test_rq_scale_out import stop

FORECASTS_AT_MOST = 400  # requests, a bound on the loop that waits for both workers to serve


def wait_until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"{what} within {seconds} s"
        time.sleep(0.1)


def histogram_pids(metrics_dir: Path) -> set[str]:
    """The processes that recorded a request, from prometheus_client's file names."""
    return {p.stem.rsplit("_", 1)[1] for p in metrics_dir.glob("histogram_*.db")}


def count(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


@pytest.mark.parametrize("database_backend", ["sqlite"])
def test_metrics_add_up_two_api_workers_and_logs_are_json_with_request_ids(
    settings: Settings, register_tiny: Callable[..., Any], session: Any
) -> None:
    register_tiny()
    session.close()
    served = settings.model_copy(update={"log_format": "json"})
    service = start(served, settings.data_dir, extra_args=["--workers", "2"])
    metrics_dir = served.resolved_metrics_dir()
    try:
        route = {"method": "GET", "route": "/forecast/{ticker}", "status": "200"}
        sent = 0
        with ThreadPoolExecutor(8) as pool:

            def forecast(_: int) -> int:
                # A new connection each time, so that either worker may accept it.
                return httpx.get(f"{service.url}/forecast/%5EGSPC", timeout=30).status_code

            while len(histogram_pids(metrics_dir)) < 2 and sent < FORECASTS_AT_MOST:
                assert set(pool.map(forecast, range(16))) == {200}
                sent += 16
        assert len(histogram_pids(metrics_dir)) == 2, "one worker answered every request"
        print(f"{sent} forecasts before both workers had answered")
        for _ in range(4):  # whichever worker answers the scrape, it adds up both
            text = httpx.get(f"{service.url}/metrics", timeout=30).text
            name = "tickercast_http_request_duration_seconds_count"
            assert count(text, name, **route) == sent
            misses = count(text, "tickercast_forecast_cache_requests_total", result="miss")
            hits = count(text, "tickercast_forecast_cache_requests_total", result="hit")
            # Each worker builds its own ONNX session: at least one miss each (more when
            # its first requests arrive together, as the cache builds outside its lock).
            assert misses + hits == sent and 2 <= misses < sent

        traced = httpx.get(
            f"{service.url}/forecast/%5EGSPC", headers={"X-Request-ID": "trace-me"}, timeout=30
        )
        assert traced.headers["X-Request-ID"] == "trace-me"

        def logged() -> list[dict[str, Any]]:
            lines = service.log.read_text().splitlines()
            return [json.loads(line) for line in lines if line.startswith("{")]

        wait_until(
            lambda: any(e.get("request_id") == "trace-me" for e in logged()),
            WAIT_SECONDS,
            "a log line",
        )
        line = next(e for e in logged() if e.get("request_id") == "trace-me")
        assert line["route"] == "/forecast/{ticker}" and line["status"] == 200
        assert line["logger"] == "tickercast.request" and line["message"].startswith("GET ")
        requests = [e for e in logged() if e["logger"] == "tickercast.request"]
        assert len(requests) >= sent + 5
    finally:
        stop(service.process)


@pytest.fixture(scope="module")
def quiet_service(tmp_path_factory: pytest.TempPathFactory, migrated_template: Path) -> Any:
    """A service without a dispatcher: jobs stay queued, so their streams stay open."""
    with running(
        tmp_path_factory.mktemp("quiet"), migrated_template, sample=False, embedded_dispatcher=False
    ) as service:
        yield service


def queue_job(service: LiveService, seed: int) -> str:
    body = {"ticker": "^GSPC", **TINY_REQUEST, "seed": seed}
    resp = httpx.post(f"{service.url}/train", json=body, timeout=30)
    assert resp.status_code == 202, resp.text
    return str(resp.json()["id"])


def test_a_stream_whose_client_leaves_ends_on_the_server(quiet_service: LiveService) -> None:
    job_id = queue_job(quiet_service, 101)
    path = f"/jobs/{job_id}/events"
    with httpx.stream("GET", f"{quiet_service.url}{path}", timeout=30) as resp:
        first = next(resp.iter_lines())
        assert first.startswith("id: 1") or first.startswith("event: status"), first
    # The request's log line is written when the stream ends on the server.
    wait_until(lambda: f"GET {path} 200" in quiet_service.tail(), WAIT_SECONDS, "the stream to end")


def test_open_streams_end_and_the_server_exits_on_sigterm(
    tmp_path: Path, migrated_template: Path
) -> None:
    with running(tmp_path, migrated_template, sample=False, embedded_dispatcher=False) as service:
        job_id = queue_job(service, 102)
        lines: list[str] = []

        def listen() -> None:
            with httpx.stream("GET", f"{service.url}/jobs/{job_id}/events", timeout=60) as r:
                lines.extend(r.iter_lines())

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        wait_until(
            lambda: any(line.startswith("event: status") for line in lines), WAIT_SECONDS, "open"
        )
        stopped = time.monotonic()
        os.kill(service.process.pid, signal.SIGTERM)
        service.process.wait(timeout=15)
        listener.join(timeout=5)
        assert not listener.is_alive(), "the stream stayed open after the server stopped"
        assert time.monotonic() - stopped < 10, service.tail()
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert service.process.returncode in (0, -signal.SIGTERM), service.tail()
        assert "Application shutdown complete" in service.tail()
