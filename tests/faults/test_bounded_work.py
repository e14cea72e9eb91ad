"""The fault matrix's bounded work, on real `tickercast serve` processes: concurrent CSV
imports take turns (the rest are told when to come back), and the API workers of one host
share one rate limit (issue 19: 16 imports of 2 million rows at once cost +3.8 GB; 90 bad
imports with a limit of 30 a minute let 60 through, counted per worker)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.e2e.live import LiveService, running
from tests.e2e.test_served_by_processes import histogram_pids
from tests.faults.test_fault_matrix import CSV

IMPORTS = 8
ROWS = 60_000


@pytest.fixture(scope="module")
def big_csv() -> bytes:
    """ROWS weekdays from 1900 of a gentle random walk (valid bars; holidays among them are
    only implausible, so they go in with strict=false)."""
    days = np.busday_offset("1900-01-01", np.arange(ROWS), roll="forward")
    rng = np.random.default_rng(19)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, ROWS)))
    lines = ["Date,Open,High,Low,Close,Adj Close,Volume"]
    for day, price in zip(days.astype(dt.date), close, strict=True):
        lines.append(f"{day},{price:.4f},{price * 1.01:.4f},{price * 0.99:.4f},{price:.4f},,1000")
    return ("\n".join(lines) + "\n").encode()


def kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def import_at_once(service: LiveService, body: bytes) -> list[httpx.Response]:
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        resp = httpx.put(
            f"{service.url}/prices/BIG{i}",
            content=body,
            headers=CSV,
            params={"strict": "false"},
            timeout=300,
        )
        with lock:
            answers.append(resp)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(IMPORTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


@pytest.fixture
def one_worker(
    tmp_path: Path, migrated_template: Path, request: pytest.FixtureRequest
) -> Iterator[LiveService]:
    with running(
        tmp_path, migrated_template, sample=False, **request.param, import_rate_limit="100/minute"
    ) as service:
        yield service


@pytest.mark.parametrize(
    "one_worker",
    [{"max_concurrent_imports": 2, "import_queue_seconds": 2}],
    indirect=True,
)
def test_concurrent_imports_take_turns_and_the_rest_are_told_when_to_come_back(
    one_worker: LiveService, big_csv: bytes
) -> None:
    service = one_worker
    before = kib(service.process.pid, "VmRSS")
    answers = import_at_once(service, big_csv)
    peak = kib(service.process.pid, "VmHWM")
    statuses = sorted(r.status_code for r in answers)
    grew = (peak - before) / 1024
    print(f"\n{IMPORTS} imports of {ROWS} rows, 2 turns: {statuses}; peak +{grew:.0f} MiB")
    assert set(statuses) <= {200, 429}, [r.text for r in answers]
    assert statuses.count(200) >= 2
    refused = [r for r in answers if r.status_code == 429]
    assert refused, "eight imports of this size cannot all fit in two turns and 2 s"
    for resp in refused:
        assert int(resp.headers["retry-after"]) >= 1
        assert "nothing was read or stored" in resp.json()["detail"]
        ticker = resp.request.url.path.rsplit("/", 1)[1]
        assert httpx.get(f"{service.url}/prices/{ticker}").status_code == 404
    for resp in answers:
        if resp.status_code == 200:
            assert resp.json()["rows"] == ROWS


@pytest.mark.parametrize("one_worker", [{"max_concurrent_imports": IMPORTS}], indirect=True)
def test_the_same_imports_without_turns_for_comparison(
    one_worker: LiveService, big_csv: bytes
) -> None:
    """The figure the turns are compared with: every import at once (all 200)."""
    service = one_worker
    before = kib(service.process.pid, "VmRSS")
    answers = import_at_once(service, big_csv)
    peak = kib(service.process.pid, "VmHWM")
    print(f"\n{IMPORTS} imports of {ROWS} rows at once: peak +{(peak - before) / 1024:.0f} MiB")
    assert [r.status_code for r in answers] == [200] * IMPORTS


def test_the_workers_of_one_host_share_one_rate_limit(
    tmp_path: Path, migrated_template: Path
) -> None:
    with running(
        tmp_path, migrated_template, sample=False, workers=2, import_rate_limit="10/minute"
    ) as service:
        metrics = service.settings.resolved_metrics_dir()
        statuses = []
        # A new connection each, which the kernel hands to either worker, until both have
        # answered (each worker's request histogram is a file named for its pid).
        while len(statuses) < 30 or len(histogram_pids(metrics)) < 2:
            assert len(statuses) < 200, "one worker took every connection"
            resp = httpx.put(f"{service.url}/prices/BAD", content=b"not a csv", headers=CSV)
            statuses.append(resp.status_code)
            if resp.status_code == 429:
                assert int(resp.headers["retry-after"]) >= 1
    print(
        f"\n{len(statuses)} bad imports, limit 10/minute, 2 workers: "
        f"{statuses.count(422)} went through"
    )
    assert statuses.count(422) == 10
    assert statuses.count(429) == len(statuses) - 10
