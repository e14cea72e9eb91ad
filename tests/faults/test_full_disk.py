"""The fault matrix's full disk: `tickercast serve` (two API workers) and a training process
with their data directory, SQLite database included, on a 30 MB tmpfs that the test fills.

Issue 19 found that a full data disk killed both API workers with SIGBUS in a loop (the
metrics' memory-mapped files lived on it), that every write was then a 500 while `/readyz`
said ready, and that a job kept running for minutes writing thousands of log lines. Mounting
a tmpfs needs root (or CAP_SYS_ADMIN); without it these tests are skipped, saying so.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import SAMPLE_CSV
from tests.e2e.live import LiveService, running
from tests.faults.test_fault_matrix import (
    CSV,
    SAMPLE_ROWS,
    SQL_WORDS,
    finished,
    job_log,
    train,
    training,
    wait_for,
)

DISK_MB = 30
FILLER = "filler"


@pytest.fixture(scope="module")
def small_disk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A 30 MB tmpfs, unmounted at the end."""
    where = tmp_path_factory.mktemp("small-disk")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture(scope="module")
def full_disk_service(
    small_disk: Path, migrated_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveService]:
    with running(
        small_disk,
        migrated_template,
        # The service's own output off the small disk, so that what it writes can be counted.
        log_dir=tmp_path_factory.mktemp("full-disk-logs"),
        workers=2,
        db_retry_seconds=4,
        min_free_disk_mb=1,
        heartbeat_interval_seconds=2,
        heartbeat_timeout_seconds=60,
    ) as service:
        yield service


def fill(disk: Path) -> None:
    """Fill the disk, with SQLite's write-ahead log emptied first, so that the next write
    transaction needs space that is not there (a WAL of earlier writes would take a few)."""
    conn = sqlite3.connect(disk / "tickercast.db", timeout=10)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        conn.close()
    with open(disk / FILLER, "ab", buffering=0) as out:
        for size in (65536, 512):
            with contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * size)


def free(disk: Path) -> None:
    (disk / FILLER).unlink(missing_ok=True)


def lines(path: Path) -> int:
    return len(path.read_text(errors="replace").splitlines())


def assert_disk_full(resp: httpx.Response, disk: Path) -> None:
    """507, Retry-After, one sentence naming the disk, no internals."""
    assert resp.status_code == 507, resp.text
    assert int(resp.headers["retry-after"]) > 0
    body = resp.json()
    assert body["code"] == "insufficient_storage"
    assert body["detail"] == (
        f"The disk holding the database ({disk}) is full; nothing was changed. "
        "Free space there, then try again."
    )
    assert "x-request-id" in resp.headers


def wait_ready(http: httpx.Client, status: int, seconds: float = 60) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        resp = http.get("/readyz")
        if resp.status_code == status:
            return resp
        assert time.monotonic() < deadline, f"/readyz stayed {resp.status_code}: {resp.text}"
        time.sleep(0.5)


def test_full_disk_is_507_and_not_ready_with_every_worker_alive_then_writes_again(
    full_disk_service: LiveService, small_disk: Path
) -> None:
    service = full_disk_service
    metrics = service.settings.resolved_metrics_dir()
    assert not metrics.is_relative_to(small_disk), "the metrics live off the data disk"
    with httpx.Client(base_url=service.url, timeout=60) as http:
        # A champion to forecast with (a baseline: no TensorFlow, a few seconds).
        job_id = train(http, model_type="naive", promote="always")
        assert wait_for(http, job_id, finished)["status"] == "succeeded"
        assert http.get("/readyz").status_code == 200
        fill(small_disk)
        try:
            # The first forecasts of the champion, whose live-accuracy record cannot be written:
            # served all the same, by both workers (before the imports: a failed import leaves
            # room in SQLite's write-ahead log that a small write could use).
            for level in (50, 60, 70, 90):
                resp = http.get("/forecast/^GSPC", params={"level": level})
                assert resp.status_code == 200, resp.text
            for attempt in range(4):  # both workers meet it
                assert_disk_full(
                    http.put(
                        f"/prices/FULL{attempt}", content=SAMPLE_CSV.read_bytes(), headers=CSV
                    ),
                    small_disk,
                )
            ready = wait_ready(http, 503)
            assert "is full" in ready.json()["disk"], ready.text
            # Reads and liveness go on: no worker died.
            assert http.get("/healthz").status_code == 200
            assert http.get("/prices/^GSPC").status_code == 200
            assert service.process.poll() is None
            assert "died" not in service.tail(100_000), service.tail()
        finally:
            free(small_disk)
        wait_ready(http, 200)
        resp = http.put("/prices/FULL0", content=SAMPLE_CSV.read_bytes(), headers=CSV)
        assert resp.status_code == 200, resp.text
        assert resp.json()["stored_rows"] == SAMPLE_ROWS
        for attempt in range(1, 4):  # nothing of the refused imports was stored
            assert http.get(f"/prices/FULL{attempt}").status_code == 404
    assert "SIGBUS" not in service.tail(100_000)


def test_training_job_that_meets_a_full_disk_stops_at_once_in_one_line(
    full_disk_service: LiveService, small_disk: Path
) -> None:
    service = full_disk_service
    with httpx.Client(base_url=service.url, timeout=60) as http:
        job_id = train(http, seed=201, epochs=400, patience=400)
        job = wait_for(http, job_id, training)
        pid = int(job["worker"].rsplit(":", 1)[1])
        serve_lines = lines(service.log)
        job_lines = lines(service.settings.data_dir / "logs" / f"job-{job_id}.log")
        fill(small_disk)
        filled = time.monotonic()
        try:
            while _alive(pid):
                assert time.monotonic() - filled < 60, "the job went on training on a full disk"
                time.sleep(0.1)
            stopped = time.monotonic() - filled
            time.sleep(5)  # the dispatcher ticks 25 times meanwhile, unable to write its end
            serve_more = lines(service.log) - serve_lines
            job_text = job_log(service, job_id)
        finally:
            free(small_disk)
        job = wait_for(http, job_id, finished, seconds=60)
    job_more = lines(service.settings.data_dir / "logs" / f"job-{job_id}.log") - job_lines
    print(
        f"\njob stopped {stopped:.1f} s after the disk filled; lines written meanwhile: "
        f"serve {serve_more}, job {job_more}"
    )
    assert job["status"] == "failed", job
    assert "full" in job["error"] and "disk" in job["error"], job["error"]
    assert not any(word in job["error"] for word in SQL_WORDS if word != "/"), job["error"]
    assert stopped < 30
    # One record for the dispatcher's failing ticks (with its traceback), not one a tick.
    assert service.tail(100_000).count("tick failed") <= 1
    assert job_text.count("full disk") <= 2, job_text[-3000:]
    assert serve_more < 150


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


METRICS_ON_A_FULL_DISK = """
import os, sys
os.environ["PROMETHEUS_MULTIPROC_DIR"] = sys.argv[1]
if sys.argv[2] == "service":
    from app.observability.metrics import REQUEST_LATENCY as metric
else:
    from prometheus_client import Histogram
    metric = Histogram("plain", "prometheus_client as it comes", ["method", "route", "status"])
filler = open(os.path.join(sys.argv[1], "filler"), "wb", buffering=0)
try:
    while True:
        filler.write(b"\\0" * 4096)
except OSError:
    pass
for i in range(3000):  # new series: the file must grow
    metric.labels("GET", f"/route/{i}", "200").observe(0.1)
print("alive")
"""


def test_metrics_on_a_full_disk_never_kill_the_process(tmp_path: Path) -> None:
    """prometheus_client's sparse mmap files die of SIGBUS on a full disk; the service's
    preallocated ones keep the values in memory and go on."""
    exits = {}
    for kind in ("plain", "service"):
        where = tmp_path / kind
        where.mkdir()
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(where)],
            capture_output=True,
            text=True,
        )
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
        try:
            run = subprocess.run(
                [sys.executable, "-c", METRICS_ON_A_FULL_DISK, str(where), kind],
                capture_output=True,
                text=True,
                timeout=120,
            )
        finally:
            subprocess.run(["umount", str(where)], check=False)
        exits[kind] = (run.returncode, run.stdout, run.stderr)
    assert exits["plain"][0] == -signal.SIGBUS, exits["plain"]
    code, out, err = exits["service"]
    assert (code, out.strip()) == (0, "alive"), err
    assert err.count("cannot") == 1, err  # said once, not once a series
