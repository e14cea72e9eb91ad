"""A large CSV import is parsed and written in a worker thread: the event loop goes on
answering everyone else meanwhile."""

from __future__ import annotations

import datetime as dt
import statistics
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.live import running

# It times /healthz during an upload: alone, or it measures the other tests.
pytestmark = pytest.mark.serial

# About 6 MB of CSV, seconds of parsing, checking and writing; from 1900-01-01, one bar a day
# ends in 2173, before the last day the service holds.
ROWS = 100_000


def big_csv() -> bytes:
    lines = ["Date,Open,High,Low,Close,Adj Close,Volume"]
    day = dt.date(1900, 1, 1)
    for i in range(ROWS):
        close = 100 + (i % 500) / 10
        lines.append(f"{day + dt.timedelta(days=i)},{close},{close + 1},{close - 1},{close},,1000")
    return ("\n".join(lines) + "\n").encode()


def healthz_delays(url: str, until: threading.Event | None, count: int) -> list[float]:
    """Seconds each /healthz took, one after another."""
    delays: list[float] = []
    with httpx.Client(base_url=url, timeout=30) as http:
        while len(delays) < count and not (until is not None and until.is_set()):
            started = time.perf_counter()
            assert http.get("/healthz").status_code == 200
            delays.append(time.perf_counter() - started)
            time.sleep(0.01)
    return delays


def test_a_large_csv_upload_does_not_hold_up_healthz(
    tmp_path: Path, migrated_template: Path
) -> None:
    body = big_csv()
    with running(tmp_path, migrated_template, sample=False) as service:
        idle = healthz_delays(service.url, None, 50)
        done = threading.Event()
        took: list[float] = []

        def upload() -> None:
            started = time.perf_counter()
            resp = httpx.put(
                f"{service.url}/prices/BIG?strict=false",
                content=body,
                headers={"Content-Type": "text/csv"},
                timeout=300,
            )
            took.append(time.perf_counter() - started)
            done.set()
            assert resp.status_code == 200, resp.text

        thread = threading.Thread(target=upload)
        thread.start()
        busy = healthz_delays(service.url, done, 100_000)
        thread.join()
    assert took and len(busy) >= 10, f"the upload took {took}, {len(busy)} probes"
    slowest = max(busy)
    # Were the loop blocked, a probe would wait for the whole import (seconds).
    assert slowest < min(0.5, took[0] / 4), (slowest, took)
    extra = statistics.median(busy) - statistics.median(idle)
    print(
        f"upload {took[0]:.2f} s; healthz median +{extra * 1000:.1f} ms, "
        f"max {slowest * 1000:.1f} ms"
    )
    assert extra < 0.010, f"healthz was {extra * 1000:.1f} ms slower at the median"
