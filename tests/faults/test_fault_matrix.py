"""The fault matrix: real servers and processes through a locked SQLite, a PostgreSQL outage,
a Redis outage, a SIGTERM mid-request or with slow clients, workers killed and a model blob
altered in the database, each asserting what was lost (the goal is nothing).

Kept small and fast: one-layer nets of 8 units on three years of the sample, a 1 s SQLite
busy timeout and a few seconds of database retries. An outage lasts until the process under
test says it met it (a retry, giving up, Redis unreachable): no fixed sleep that a slow
machine could outrun or a fast one wait out for nothing. The kill -9 rows of the matrix are
tests/e2e/test_train_and_forecast.py (a training process) and tests/e2e/test_rq_scale_out.py
(a worker and its horse).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.core.errors import ModelNotFound
from app.db.engine import session_scope
from app.jobs.local import settings_env
from app.prices import store
from app.registry.versions import list_versions
from models.config import ModelType
from tests.backing_services import POSTGRES_ENV, PostgresServer, service_url
from tests.conftest import SAMPLE_CSV, TINY_REQUEST, WAIT_SECONDS
from tests.e2e.live import LiveService, running
from tests.e2e.test_rq_scale_out import child_pids, spawn, stop
from tests.registry.test_blob_checksums import flip_bits
from tests.tcp_proxy import TcpProxy, free_port

CSV = {"Content-Type": "text/csv"}
SAMPLE_ROWS = 5031
# A fault starting at epoch 1 meets the progress write of a later epoch end, at least.
TRAINING = {**TINY_REQUEST, "start": "2016-01-01", "epochs": 12, "patience": 12}
RETRY_SECONDS = 4  # TICKERCAST_DB_RETRY_SECONDS of these services
CONNECT_TIMEOUT = 2  # TICKERCAST_DB_CONNECT_TIMEOUT_SECONDS of the PostgreSQL service
# What a job's log says once a write met the outage and will try again (outlasted), and once
# a write gave up (app/db/outages.py:outlast).
RETRIED = "; trying again"
GAVE_UP = "gave up after"
SQL_WORDS = ("SELECT", "UPDATE", "INSERT", "[SQL", "parameters", "Traceback", "/")


def finished(job: dict[str, Any]) -> bool:
    return job["status"] in ("succeeded", "failed", "cancelled")


def training(job: dict[str, Any]) -> bool:
    return job["status"] == "running" and (job["progress"].get("epoch") or 0) >= 1


def wait_for(
    http: httpx.Client,
    job_id: str,
    done: Callable[[dict[str, Any]], bool],
    seconds: float = WAIT_SECONDS,
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(httpx.TransportError):
            resp = http.get(f"/jobs/{job_id}")
            if resp.status_code == 200 and done(resp.json()):
                return resp.json()  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"job {job_id} did not get there in {seconds} s"
        time.sleep(0.2)


def train(http: httpx.Client, **changes: Any) -> str:
    resp = http.post("/train", json={"ticker": "^GSPC", **TRAINING, **changes})
    assert resp.status_code == 202, resp.text
    return str(resp.json()["id"])


def versions(service: LiveService) -> list[int]:
    """The network versions of ^GSPC: what training jobs registered (a baseline made champion
    beside a network is the gate's, tests/training/test_baseline_champion.py)."""
    with session_scope(service.settings.resolved_database_url()) as session:
        try:
            rows = list_versions(session, ticker="^GSPC")
        except ModelNotFound:
            return []
        return sorted(v.version for v in rows if not ModelType(v.model_type).is_baseline)


def assert_unavailable(resp: httpx.Response) -> None:
    """503, Retry-After, the request id and the one error body, naming no internals."""
    assert resp.status_code == 503, resp.text
    assert int(resp.headers["retry-after"]) > 0
    assert resp.headers["x-request-id"]
    body = resp.json()
    assert body["code"] == "unavailable"
    assert "database is busy or unreachable" in body["detail"]
    assert not any(word in body["detail"] for word in SQL_WORDS)


def job_log(service: LiveService, job_id: str) -> str:
    return (service.settings.data_dir / "logs" / f"job-{job_id}.log").read_text(errors="replace")


def until_logged(log: Callable[[], str], words: str, seconds: float = WAIT_SECONDS) -> None:
    """Wait until a process has written `words` to its log: the outage has been met."""
    deadline = time.monotonic() + seconds
    while words not in log():
        assert time.monotonic() < deadline, f"{words!r} not logged in {seconds} s:\n{log()}"
        time.sleep(0.1)


# --- SQLite locked for longer than its busy timeout ---------------------------------------


@contextlib.contextmanager
def sqlite_locked(path: Path) -> Iterator[None]:
    """Hold SQLite's write lock from another connection for the block."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


@pytest.fixture(scope="module")
def sqlite_service(
    tmp_path_factory: pytest.TempPathFactory, migrated_template: Path
) -> Iterator[LiveService]:
    data_dir = tmp_path_factory.mktemp("locked")
    # pysqlite's `timeout`: the service waits 1 s for a lock, not 30.
    url = f"sqlite:///{data_dir / 'tickercast.db'}?timeout=1"
    with running(
        data_dir, migrated_template, database_url=url, db_retry_seconds=RETRY_SECONDS
    ) as service:
        yield service


def test_import_while_sqlite_is_locked_is_503_then_stored_whole_without_a_restart(
    sqlite_service: LiveService,
) -> None:
    db = sqlite_service.settings.data_dir / "tickercast.db"
    with httpx.Client(base_url=sqlite_service.url, timeout=30) as http:
        with sqlite_locked(db):
            assert_unavailable(
                http.put("/prices/LOCKED", content=SAMPLE_CSV.read_bytes(), headers=CSV)
            )
            assert http.get("/prices/LOCKED").status_code == 404  # nothing half-written
        resp = http.put("/prices/LOCKED", content=SAMPLE_CSV.read_bytes(), headers=CSV)
        assert resp.status_code == 200, resp.text
        assert resp.json()["stored_rows"] == SAMPLE_ROWS


def test_training_job_outlasts_a_sqlite_lock_longer_than_the_busy_timeout(
    sqlite_service: LiveService,
) -> None:
    db = sqlite_service.settings.data_dir / "tickercast.db"
    before = versions(sqlite_service)
    with httpx.Client(base_url=sqlite_service.url, timeout=30) as http:
        job_id = train(http, seed=101)
        wait_for(http, job_id, training)
        with sqlite_locked(db):
            until_logged(lambda: job_log(sqlite_service, job_id), RETRIED)
        job = wait_for(http, job_id, finished)
    assert job["status"] == "succeeded", job
    assert job["error"] is None
    assert versions(sqlite_service) == [*before, job["model_version"]]
    assert "the database was locked by another writer; trying again" in job_log(
        sqlite_service, job_id
    )


def test_training_job_locked_out_past_its_retries_fails_saying_so_and_registers_nothing(
    sqlite_service: LiveService,
) -> None:
    db = sqlite_service.settings.data_dir / "tickercast.db"
    before = versions(sqlite_service)
    with httpx.Client(base_url=sqlite_service.url, timeout=30) as http:
        job_id = train(http, seed=102)
        wait_for(http, job_id, training)
        with sqlite_locked(db):
            until_logged(lambda: job_log(sqlite_service, job_id), GAVE_UP)
        job = wait_for(http, job_id, finished)
    assert job["status"] == "failed", job
    assert "locked" in job["error"] and "TICKERCAST_DB_RETRY_SECONDS" in job["error"]
    assert not any(word in job["error"] for word in SQL_WORDS), job["error"]
    assert versions(sqlite_service) == before
    # The details stay in the job's log.
    assert "database is locked" in job_log(sqlite_service, job_id)


# --- PostgreSQL unreachable (a proxy cut between the service and the shared server) --------


@pytest.fixture(scope="module")
def pg_proxy() -> Iterator[TcpProxy]:
    url = make_url(service_url(POSTGRES_ENV, "PostgreSQL"))
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.start()
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def pg_service(
    tmp_path_factory: pytest.TempPathFactory,
    migrated_template: Path,
    postgres_server: PostgresServer,
    postgres_template: str,
    pg_proxy: TcpProxy,
) -> Iterator[LiveService]:
    name = postgres_server.new_name("outage")
    direct = make_url(postgres_server.create(name, template=postgres_template))
    proxied = direct.set(host="127.0.0.1", port=pg_proxy.port).render_as_string(hide_password=False)
    try:
        with running(
            tmp_path_factory.mktemp("pg-outage"),
            migrated_template,
            database_url=proxied,
            db_retry_seconds=RETRY_SECONDS,
            db_connect_timeout_seconds=CONNECT_TIMEOUT,
        ) as service:
            yield service
    finally:
        pg_proxy.restore()
        postgres_server.drop(name)


def test_every_data_route_answers_503_while_postgresql_is_unreachable_then_recovers(
    pg_service: LiveService, pg_proxy: TcpProxy
) -> None:
    with httpx.Client(base_url=pg_service.url, timeout=30) as http:
        assert http.get("/prices/^GSPC").status_code == 200
        with pg_proxy.outage():
            assert_unavailable(http.get("/prices/^GSPC"))
            assert_unavailable(http.get("/jobs"))
            assert_unavailable(http.get("/models"))
            assert_unavailable(http.post("/train", json={"ticker": "^GSPC", **TRAINING}))
            assert_unavailable(
                http.put("/prices/DOWN", content=SAMPLE_CSV.read_bytes(), headers=CSV)
            )
            # The forecast routes read the serving token straight from the pool's connection:
            # its driver's error is an outage like any other.
            forecast = http.get("/forecast/^GSPC", headers={"X-Request-ID": "outage-forecast"})
            assert_unavailable(forecast)
            assert forecast.headers["x-request-id"] == "outage-forecast"
            assert_unavailable(http.post("/forecasts", json={"tickers": ["^GSPC", "AAPL"]}))
            ready = http.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["database"] == "error: the database was unreachable"
            assert http.get("/healthz").status_code == 200
        # The same process answers again: its pool drops the dead connections.
        assert http.get("/prices/^GSPC").status_code == 200
        assert http.get("/readyz").status_code == 200
        assert http.get("/prices/DOWN").status_code == 404
        assert http.get("/jobs").json() == []


def test_a_black_holed_postgresql_is_503_within_the_connect_timeout_not_a_hang(
    pg_service: LiveService, pg_proxy: TcpProxy
) -> None:
    limit = pg_service.settings.db_connect_timeout_seconds
    with httpx.Client(base_url=pg_service.url, timeout=60) as http:
        assert http.get("/prices/^GSPC").status_code == 200
        with pg_proxy.black_hole():
            for method, path, body in (
                ("GET", "/prices/^GSPC", None),
                ("GET", "/forecast/^GSPC", None),
                ("POST", "/forecasts", {"tickers": ["^GSPC"]}),
                ("GET", "/jobs", None),
            ):
                started = time.monotonic()
                resp = http.request(method, path, json=body)
                took = time.monotonic() - started
                assert_unavailable(resp)
                # The connect timeout, plus a little for a busy machine; before it, 20 s.
                assert took < limit + 3, f"{method} {path} took {took:.1f} s"
                print(f"black hole: {method} {path} answered 503 in {took:.2f} s")
        assert http.get("/prices/^GSPC").status_code == 200


def test_training_job_outlasts_a_short_postgresql_outage(
    pg_service: LiveService, pg_proxy: TcpProxy
) -> None:
    with httpx.Client(base_url=pg_service.url, timeout=30) as http:
        job_id = train(http, seed=201)
        wait_for(http, job_id, training)
        with pg_proxy.outage():
            until_logged(lambda: job_log(pg_service, job_id), RETRIED)
        job = wait_for(http, job_id, finished)
    assert job["status"] == "succeeded", job
    assert versions(pg_service) == [job["model_version"]]
    assert "the database was unreachable; trying again" in job_log(pg_service, job_id)


def test_training_job_through_a_long_postgresql_outage_fails_with_the_true_reason(
    pg_service: LiveService, pg_proxy: TcpProxy
) -> None:
    before = versions(pg_service)
    with httpx.Client(base_url=pg_service.url, timeout=30) as http:
        job_id = train(http, seed=202)
        wait_for(http, job_id, training)
        with pg_proxy.outage():
            until_logged(lambda: job_log(pg_service, job_id), GAVE_UP)
        job = wait_for(http, job_id, finished)
    assert job["status"] == "failed", job
    assert "unreachable" in job["error"] and "TICKERCAST_DB_RETRY_SECONDS" in job["error"]
    assert "restarted" not in job["error"]
    assert not any(word in job["error"] for word in SQL_WORDS), job["error"]
    assert versions(pg_service) == before


# --- Redis killed while a worker trains ----------------------------------------------------


class RedisServer:
    """A private redis-server without persistence: killing it loses everything it held."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            cwd=self.data_dir,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError):
                with socket_to(self.port):
                    return
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)


@contextlib.contextmanager
def socket_to(port: int) -> Iterator[None]:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        yield


def test_worker_outlives_redis_killed_mid_job_and_trains_the_jobs_queued_meanwhile(
    tmp_path: Path, migrated_template: Path
) -> None:
    redis = RedisServer(tmp_path)
    redis.start()
    worker: subprocess.Popen[bytes] | None = None
    try:
        with (
            running(
                tmp_path,
                migrated_template,
                queue="rq",
                redis_url=redis.url,
                rq_queue_name=f"faults-{uuid.uuid4().hex[:8]}",
                janitor_interval_seconds=1.0,
                heartbeat_interval_seconds=1.0,
                heartbeat_timeout_seconds=30,
            ) as service,
            httpx.Client(base_url=service.url, timeout=30) as http,
        ):
            worker_log = tmp_path / "worker.log"
            worker = spawn(["worker", "--name", "faults"], service.settings, worker_log)
            first = train(http, seed=301)
            wait_for(http, first, training)
            redis.kill()
            ready = http.get("/readyz")
            assert ready.status_code == 503
            assert "Redis unreachable" in ready.json()["queue"]
            # Queued in the table while Redis is down; the janitor puts it on the queue later.
            second = train(http, seed=302, epochs=2, patience=2)
            # The horse needs only the database; its worker meets the outage when it records
            # the result in Redis, which is where RQ's loop used to end and the process exit.
            done = wait_for(http, first, finished)
            assert done["status"] == "succeeded"
            until_logged(worker_log.read_text, "Redis is unreachable")
            redis.start()
            later = wait_for(http, second, finished)
            assert later["status"] == "succeeded"
            assert worker.poll() is None, worker_log.read_text()
            assert http.get("/readyz").status_code == 200
            assert versions(service) == [done["model_version"], later["model_version"]]
            assert "Redis answers again" in worker_log.read_text()
    finally:
        if worker is not None:
            stop(worker)
        if redis.process is not None and redis.process.poll() is None:
            redis.kill()


# --- SIGTERM of the API in the middle of a request ----------------------------------------


def test_sigterm_mid_import_lets_the_request_finish_and_stores_it_whole(
    tmp_path: Path, migrated_template: Path
) -> None:
    csv = SAMPLE_CSV.read_bytes()
    sent = threading.Event()

    def slow_body() -> Iterator[bytes]:
        step = len(csv) // 8
        for i in range(0, len(csv), step):
            yield csv[i : i + step]
            if i >= 2 * step:
                sent.set()  # a quarter in: the request is in flight
            time.sleep(0.2)

    with running(tmp_path, migrated_template, sample=False) as service:
        answer: dict[str, Any] = {}

        def put() -> None:
            try:
                answer["resp"] = httpx.put(
                    f"{service.url}/prices/TERM", content=slow_body(), headers=CSV, timeout=60
                )
            except httpx.TransportError as exc:
                answer["error"] = exc

        client = threading.Thread(target=put)
        client.start()
        assert sent.wait(30)
        os.kill(service.process.pid, signal.SIGTERM)
        client.join(timeout=60)
        # uvicorn finishes the requests in flight, shuts the app down, then re-raises the
        # signal so that its exit status says what stopped it.
        assert service.process.wait(timeout=60) == -signal.SIGTERM
        assert "Application shutdown complete" in service.tail()
        with session_scope(service.settings.resolved_database_url()) as session:
            stored = store.count_bars(session, ticker="TERM")
    # Either the whole file or none of it; here uvicorn lets the request finish.
    assert answer["resp"].status_code == 200, answer
    assert stored == SAMPLE_ROWS


def test_sigterm_with_slow_clients_ends_within_the_shutdown_timeout(
    tmp_path: Path, migrated_template: Path
) -> None:
    """Clients that send a body a byte at a time, or their headers never whole, cannot keep a
    stopping service alive past TICKERCAST_SHUTDOWN_TIMEOUT_SECONDS."""
    limit = 3
    with running(tmp_path, migrated_template, sample=False, shutdown_timeout_seconds=limit) as svc:
        port = int(svc.url.rsplit(":", 1)[1])
        clients: list[socket.socket] = []
        for i in range(50):
            conn = socket.create_connection(("127.0.0.1", port), timeout=10)
            if i % 2:  # a request whose body trickles
                conn.sendall(
                    b"PUT /prices/SLOW HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
                    b"Content-Length: 1000000\r\n\r\nDate,Open"
                )
            else:  # headers that never end
                conn.sendall(b"GET /prices/SLOW HTTP/1.1\r\nHost: x\r\n")
            clients.append(conn)
        # The trickling requests are in the app, waiting for their bodies.
        time.sleep(1)
        started = time.monotonic()
        os.kill(svc.process.pid, signal.SIGTERM)
        svc.process.wait(timeout=120)
        took = time.monotonic() - started
        for conn in clients:
            conn.close()
        print(f"SIGTERM with 50 slow clients: exited in {took:.1f} s (limit {limit} s)")
        # The limit, then the app's own shutdown (its threads, the dispatcher) on a busy machine.
        assert took < limit + 10, svc.tail()
        assert "timeout graceful shutdown exceeded" in svc.tail()


def api_workers(parent: int) -> list[int]:
    """The uvicorn worker processes under `tickercast serve`."""
    return [
        pid
        for pid in child_pids(parent)
        if b"multiprocessing.spawn" in Path(f"/proc/{pid}/cmdline").read_bytes()
        and b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def test_both_api_workers_killed_are_replaced_in_seconds(
    tmp_path: Path, migrated_template: Path
) -> None:
    with running(tmp_path, migrated_template, sample=False, workers=2) as service:
        gaps = []
        for _ in range(3):
            workers = api_workers(service.process.pid)
            assert len(workers) == 2, workers
            for pid in workers:
                os.kill(pid, signal.SIGKILL)
            started = time.monotonic()
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{service.url}/healthz", timeout=2).status_code == 200:
                        break
                assert time.monotonic() - started < WAIT_SECONDS
                time.sleep(0.05)
            gaps.append(time.monotonic() - started)
            # Both replacements up before the next round (one answering is not both).
            deadline = time.monotonic() + WAIT_SECONDS
            while len(set(api_workers(service.process.pid)) - set(workers)) < 2:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        print("both workers killed: answering again after " + ", ".join(f"{g:.1f}" for g in gaps))
        # A replacement imports the app (3-6 s on a busy two-core machine); never the 60 s ping.
        assert max(gaps) < 30, gaps


# --- A model blob altered in the database --------------------------------------------------


def test_bits_flipped_in_a_served_onnx_graph_are_a_500_naming_the_version_never_numbers(
    tmp_path: Path,
    migrated_template: Path,
    settings: Settings,
    register_tiny: Callable[..., Any],
) -> None:
    """On each database: a live service asked for the forecast of a version whose graph was
    altered answers a 500 that names the version and the damage, and `tickercast registry
    verify` (a real process) names it and exits 1."""
    row, _ = register_tiny(promote="always")
    url = settings.resolved_database_url()
    flip_bits(url, ticker="^GSPC", version=row.version, column="onnx_model")
    (tmp_path / "live").mkdir()
    with (
        running(tmp_path / "live", migrated_template, sample=False, database_url=url) as svc,
        httpx.Client(base_url=svc.url, timeout=60) as http,
    ):
        resp = http.get("/forecast/^GSPC")
        assert resp.status_code == 500, resp.text
        assert resp.json()["code"] == "model_corrupted"
        assert f"Model version {row.version} of '^GSPC' is corrupted" in resp.json()["detail"]
        assert resp.headers["x-request-id"]
        batch = http.post("/forecasts", json={"tickers": ["^GSPC"]})
        assert batch.status_code == 200, batch.text  # the damage is that ticker's answer
        (item,) = batch.json()["results"]
        assert (item["status"], item["error"]["code"]) == (500, "model_corrupted")
        verify = subprocess.run(
            [sys.executable, "-m", "app.cli", "registry", "verify"],
            env=settings_env(svc.settings),
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert verify.returncode == 1, verify.stdout + verify.stderr
    lines = verify.stdout.splitlines()
    assert lines[0].startswith(f"^GSPC version {row.version}: its ONNX graph (")
    assert lines[-1] == "checked 2 blob(s): 1 damaged"


def test_a_body_that_stops_arriving_is_a_408_after_the_read_timeout(
    tmp_path: Path, migrated_template: Path
) -> None:
    limit = 1.0
    with running(
        tmp_path, migrated_template, sample=False, body_read_timeout_seconds=limit
    ) as service:
        port = int(service.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            conn.sendall(
                b"PUT /prices/STALL HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
                b"Content-Length: 100000\r\n\r\nDate,Open,High"
            )
            started = time.monotonic()
            answer = conn.recv(65536)
            took = time.monotonic() - started
            while chunk := conn.recv(65536):  # the body, then the close
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b"TICKERCAST_BODY_READ_TIMEOUT_SECONDS" in answer
        assert took < limit + 5, took
        print(f"stalled body: 408 after {took:.2f} s (limit {limit} s)")
        assert httpx.get(f"{service.url}/prices/STALL").status_code == 404
