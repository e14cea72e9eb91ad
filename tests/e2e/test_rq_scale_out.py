"""End to end on the real parts: the API on PostgreSQL with TICKERCAST_QUEUE=rq, two
`tickercast worker` processes on Redis, real training, a worker killed mid-job."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from rq import Worker
from rq.job import Job

from app.core.config import Settings
from app.db.engine import session_scope
from app.jobs import service as jobs
from app.jobs.local import settings_env
from app.jobs.rq_backend import RqBackend, redis_connection, training_queue
from app.prices.service import import_csv
from app.registry.versions import list_version_numbers
from tests.backing_services import PostgresServer, delete_queue, run_burst_worker
from tests.conftest import SAMPLE_CSV, TINY_REQUEST, WAIT_SECONDS

NEXT_NYSE_SESSIONS = ["2019-01-02", "2019-01-03", "2019-01-04", "2019-01-07", "2019-01-08"]
LONG = {**TINY_REQUEST, "epochs": 1000, "patience": 1000}
# Short on purpose: a killed worker's job must be noticed within seconds here.
HEARTBEAT_TIMEOUT = 8  # seconds
JANITOR_INTERVAL = 1.0  # seconds
# What `docker compose stop` waits for before it kills (docker-compose.yml's grace period).
STOP_SECONDS = 15


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    """The API and the workers as processes, and an HTTP client on the API."""

    settings: Settings
    http: httpx.Client
    api: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def job(self, job_id: str) -> dict[str, Any]:
        resp = self.http.get(f"/jobs/{job_id}")
        assert resp.status_code == 200, resp.text
        return resp.json()  # type: ignore[no-any-return]

    def wait_for(
        self, job_id: str, done: Callable[[dict[str, Any]], bool], seconds: float = WAIT_SECONDS
    ) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while True:
            job = self.job(job_id)
            if done(job):
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job did not get there in {seconds} s: {job}\n{self.tails()}")
            time.sleep(0.2)

    def tails(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.logs
        )


def finished(job: dict[str, Any]) -> bool:
    return job["status"] in ("succeeded", "failed", "cancelled")


def started_epochs(job: dict[str, Any]) -> bool:
    return job["status"] == "running" and (job["progress"].get("epoch") or 0) >= 1


def horse_of(job: dict[str, Any]) -> tuple[int, int]:
    """The pid of the work-horse training a job, and of the worker that forked it."""
    host, _, pid = job["worker"].rpartition(":")
    assert host == socket.gethostname()
    status = Path(f"/proc/{pid}/status").read_text()
    ppid = next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:"))
    return int(pid), int(ppid)


def spawn(cmd: list[str], settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    out: IO[bytes] = log.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", *cmd],
        env=settings_env(settings),
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def child_pids(pid: int) -> list[int]:
    """Processes whose parent is `pid` (a worker's work-horse)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def stop(process: subprocess.Popen[bytes]) -> None:
    """Kill a process and its children: a horse is in a process group of its own and would
    otherwise go on training after the test."""
    if process.poll() is None:
        for child in child_pids(process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        process.kill()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: PostgresServer,
    postgres_template: str,
    redis_url: str,
) -> Iterator[Cluster]:
    data_dir = tmp_path_factory.mktemp("rq-e2e")
    db_name = postgres_server.new_name("rq_e2e")
    settings = Settings(
        data_dir=data_dir,
        # The metrics and rate-limit counts beside the data, not left behind in /dev/shm.
        host_dir=str(data_dir / "host"),
        database_url=postgres_server.create(db_name, template=postgres_template),
        price_source="none",
        queue="rq",
        redis_url=redis_url,
        # A queue of this run's own, so that jobs of other runs on this Redis stay out of it.
        rq_queue_name=f"tickercast-e2e-{uuid.uuid4().hex[:12]}",
        job_supervisor=True,
        heartbeat_timeout_seconds=HEARTBEAT_TIMEOUT,
        heartbeat_interval_seconds=1,
        janitor_interval_seconds=JANITOR_INTERVAL,
        max_attempts=2,
    )
    port = free_port()
    api_log = data_dir / "api.log"
    api = spawn(["serve", "--port", str(port), "--no-migrate"], settings, api_log)
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    cluster = Cluster(settings=settings, http=http, api=api, logs=[api_log])
    try:
        for i in range(2):
            log = data_dir / f"worker-{i}.log"
            cluster.logs.append(log)
            cluster.workers.append(spawn(["worker", "--name", f"e2e-{i}-{port}"], settings, log))
        queue = training_queue(settings, redis_connection(settings))
        deadline = time.monotonic() + 60
        while True:
            try:
                up = http.get("/healthz").status_code == 200
            except httpx.TransportError:
                up = False
            if up and len(Worker.all(queue=queue)) == 2:
                break
            assert time.monotonic() < deadline, f"cluster did not start\n{cluster.tails()}"
            assert api.poll() is None, cluster.tails()
            time.sleep(0.3)
        csv = SAMPLE_CSV.read_bytes()
        for ticker in ("^GSPC", "GSPC2"):
            resp = http.put(f"/prices/{ticker}", content=csv, headers={"Content-Type": "text/csv"})
            assert resp.status_code == 200, resp.text
        yield cluster
    finally:
        http.close()
        for process in [*cluster.workers, api]:
            stop(process)
        delete_queue(settings)
        postgres_server.drop(db_name)


@pytest.fixture(scope="module")
def trained_pair(cluster: Cluster) -> list[dict[str, Any]]:
    ids = []
    for ticker in ("^GSPC", "GSPC2"):
        resp = cluster.http.post("/train", json={"ticker": ticker, **TINY_REQUEST})
        assert resp.status_code == 202, resp.text
        ids.append(resp.json()["id"])
    return [cluster.wait_for(job_id, finished) for job_id in ids]


def test_two_workers_train_two_tickers_at_once(
    cluster: Cluster, trained_pair: list[dict[str, Any]]
) -> None:
    for job in trained_pair:
        assert job["status"] == "succeeded", (job["error"], cluster.tails())
        assert job["model_version"] == 1 and job["attempts"] == 1
    first, second = trained_pair
    # One worker runs one job at a time, so two at once means on both workers.
    assert first["started_at"] < second["finished_at"]
    assert second["started_at"] < first["finished_at"]
    queue = training_queue(cluster.settings, redis_connection(cluster.settings))
    ran_on = {
        Job.fetch(j["id"], connection=queue.connection, serializer=queue.serializer).worker_name
        for j in trained_pair
    }
    assert len(ran_on) == 2


def test_both_tickers_forecast_the_next_nyse_sessions(
    cluster: Cluster, trained_pair: list[dict[str, Any]]
) -> None:
    for ticker in ("^GSPC", "GSPC2"):
        # Version 1, the network its worker trained (a baseline may be champion beside it).
        resp = cluster.http.get(f"/forecast/{ticker}", params={"horizon": 5, "version": 1})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["ticker"] == ticker and body["model_version"] == 1
        assert [p["date"] for p in body["points"]] == NEXT_NYSE_SESSIONS


def test_worker_parent_processes_never_load_tensorflow(
    cluster: Cluster, trained_pair: list[dict[str, Any]]
) -> None:
    # Their horses trained (and so loaded TensorFlow); the parents that forked them did not.
    for worker in cluster.workers:
        maps = Path(f"/proc/{worker.pid}/maps").read_text()
        assert "site-packages/tensorflow" not in maps
        assert "site-packages/pandas" in maps  # the job code is preloaded: the check can see


def test_cancel_reaches_a_job_running_on_a_worker(
    cluster: Cluster, trained_pair: list[dict[str, Any]]
) -> None:
    resp = cluster.http.post("/train", json={"ticker": "GSPC2", **LONG, "seed": 21})
    job_id = resp.json()["id"]
    cluster.wait_for(job_id, started_epochs)
    assert cluster.http.delete(f"/jobs/{job_id}").status_code == 200
    job = cluster.wait_for(job_id, finished, seconds=60)
    assert job["status"] == "cancelled"
    assert job["progress"]["epoch"] < 1000 and job["model_version"] is None


def test_stopped_worker_hands_its_job_back_at_once_and_it_is_not_an_attempt(
    cluster: Cluster, trained_pair: list[dict[str, Any]]
) -> None:
    # SIGTERM in the middle of a job, as `docker compose stop` sends it: the worker kills its
    # horse, puts the job back on the queue and exits within seconds, and the other worker
    # trains the job as its first attempt.
    resp = cluster.http.post("/train", json={"ticker": "GSPC2", **LONG, "seed": 23})
    job_id = resp.json()["id"]
    horse, parent = horse_of(cluster.wait_for(job_id, started_epochs))
    index = next(i for i, w in enumerate(cluster.workers) if w.pid == parent)
    stopped = cluster.workers[index]
    began = time.monotonic()
    stopped.send_signal(signal.SIGTERM)
    assert stopped.wait(timeout=STOP_SECONDS) == 0, cluster.tails()
    print(f"the worker stopped {time.monotonic() - began:.1f} s after SIGTERM")
    assert not Path(f"/proc/{horse}").exists(), "its horse was killed and reaped"
    job = cluster.wait_for(job_id, lambda j: started_epochs(j) and horse_of(j)[1] != parent)
    assert job["attempts"] == 1, job
    assert cluster.http.delete(f"/jobs/{job_id}").status_code == 200
    assert cluster.wait_for(job_id, finished, seconds=60)["status"] == "cancelled"
    # A worker in the stopped one's place, for the tests that follow.
    again = ["worker", "--name", f"e2e-{index}-again"]
    cluster.workers[index] = spawn(again, cluster.settings, cluster.logs[index + 1])
    queue = training_queue(cluster.settings, redis_connection(cluster.settings))
    deadline = time.monotonic() + 60
    while len(Worker.all(queue=queue)) < 2:
        assert time.monotonic() < deadline, cluster.tails()
        time.sleep(0.3)


def test_killed_worker_job_is_requeued_once_then_failed_never_stuck_running(
    cluster: Cluster, trained_pair: list[dict[str, Any]]
) -> None:
    resp = cluster.http.post("/train", json={"ticker": "^GSPC", **LONG, "seed": 22})
    job_id = resp.json()["id"]
    job = cluster.wait_for(job_id, started_epochs)
    pids = {w.pid for w in cluster.workers}
    for attempt in (1, 2):
        horse, worker = horse_of(job)
        assert worker in pids, "the job runs in a horse of one of our workers"
        # The machine dies: the worker and its horse at once, nothing gets to clean up.
        os.kill(horse, signal.SIGKILL)
        os.kill(worker, signal.SIGKILL)
        pids.discard(worker)
        if attempt == 1:
            job = cluster.wait_for(job_id, lambda j: j["attempts"] == 2 and started_epochs(j))
            assert horse_of(job)[1] in pids, "re-queued onto the surviving worker"
        else:
            # Settled by the heartbeat's silence (the error below says so), however long the
            # janitor's passes take on a busy machine.
            job = cluster.wait_for(job_id, finished)
    assert job["status"] == "failed"
    assert "sent no heartbeat for over 8 s" in job["error"]
    assert "Gave up after 2 attempt(s)" in job["error"]
    assert job["model_version"] is None
    assert cluster.http.get("/jobs", params={"status": "running"}).json() == []
    # The killed job registered nothing: the one network is the earlier job's.
    versions = cluster.http.get("/models/^GSPC").json()["versions"]
    assert [v["version"] for v in versions if not v["baseline"]] == [1]


@pytest.mark.parametrize("database_backend", ["postgresql"])
def test_job_past_its_timeout_fails_saying_timed_out(
    rq_settings: Settings, sample_csv_text: str
) -> None:
    settings = rq_settings.model_copy(update={"job_timeout_seconds": 10})
    url = settings.resolved_database_url()
    with session_scope(url) as s:
        import_csv(s, ticker="^GSPC", text=sample_csv_text, calendar="XNYS")
        job, _ = jobs.create_job(s, ticker="^GSPC", config=LONG, backend="rq")
        job_id = job.id
    RqBackend(settings).submit(job_id)
    proc = run_burst_worker(settings)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with session_scope(url) as s:
        job = jobs.get_job(s, job_id=job_id)
        assert job.status == "failed", (job.error, proc.stderr[-5000:])
        assert job.error == "timed out after 10 s (TICKERCAST_JOB_TIMEOUT_SECONDS)"
        assert list_version_numbers(s, ticker="^GSPC") == []
