"""Issue 19's two largest probes, rerun at the issue's size against a real `tickercast serve`
(`python -m bench.reliability_probes`, `make bench-reliability`; README, Reliability).

imports: 16 simultaneous `PUT /prices/BIGn?strict=false` of one large CSV made from the shipped
^GSPC bars repeated, one calendar day each from 1900-01-01, with the default
TICKERCAST_MAX_CONCURRENT_IMPORTS. Three rounds: the issue's 2,000,000 rows (more than the
200,000 rows and the days to 2199-12-31 the service takes, so the best answer is a refusal
naming the line), first with the default upload limit (50 MiB, less than the file), then with
the limit raised to fit it; and the largest file that is valid, every day from 1900-01-01 to
2199-12-31 (limit raised too). Meanwhile /proc is read every 50 ms for the resident memory of the
serve process and its children (summed), and /healthz is asked every 25 ms. Afterwards the
database is read directly: a ticker holds all of its file's bars or none.

streams: 1,000 `GET /jobs/ID/events` of one queued job held open (the job supervisor off, so
the job stays queued and its streams stay open), then `GET /jobs/ID` asked 200 times, 50 ms
apart; on SQLite and on a fresh PostgreSQL database (created on the server of
--postgres-admin-url, dropped at the end), whose connections are counted in pg_stat_activity.

Each probe starts its own service (2 API workers by default) on a temporary data directory
and host directory, and removes them. Prints the figures; writes nothing in the repository.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event, Semaphore
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.core.types import FIRST_DAY, LAST_DAY

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "app" / "data" / "GSPC.csv"
TICKERCAST = Path(sys.executable).parent / "tickercast"
CSV = {"Content-Type": "text/csv"}
DEFAULT_UPLOAD = 50 * 1024 * 1024  # bytes: TICKERCAST_MAX_UPLOAD_BYTES's default
DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# A job that is never run here (the supervisor is off): it only has to be accepted.
TRAINING = {"model_type": "lstm", "lookback": 20, "horizon": 5, "layers": [8], "epochs": 1}


# The service and what it is made of.


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    """`pid` and every process below it."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            # The field after the parenthesised name: state, then the parent's pid.
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


def rss_mib(pids: list[int]) -> float:
    """The resident memory of these processes, summed (MiB)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


@dataclass
class Service:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    database_url: str

    def errors_in_log(self) -> int:
        return self.log.read_text(errors="replace").count("Traceback")


@contextlib.contextmanager
def serving(work: Path, database_url: str, workers: int, env: dict[str, str]) -> Iterator[Service]:
    """`tickercast serve` on a free port with its own data and host directories."""
    port = free_port()
    values = {
        **os.environ,
        "TICKERCAST_DATA_DIR": str(work / "data"),
        "TICKERCAST_HOST_DIR": str(work / "host"),
        "TICKERCAST_DATABASE_URL": database_url,
        "TICKERCAST_PRICE_SOURCE": "none",
        **env,
    }
    (work / "data").mkdir(exist_ok=True)
    if make_url(database_url).get_backend_name() != "sqlite":  # serve migrates SQLite itself
        subprocess.run([str(TICKERCAST), "db", "upgrade"], env=values, check=True)
    log = work / "serve.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(TICKERCAST), "serve", "--port", str(port), "--workers", str(workers)],
            env=values,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    service = Service(f"http://127.0.0.1:{port}", process, log, database_url)
    try:
        deadline = time.monotonic() + 180
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{service.url}/healthz", timeout=5).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        # Until every worker has imported the app: its memory is the baseline.
        time.sleep(5)
        yield service
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            for pid in children(process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            process.wait(timeout=30)


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh database on the server of `admin_url`, dropped afterwards."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"tickercast_probe_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# Measuring while something else happens.


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _watch(url: str, pid: int, every: float, stop: Event, out: Queue[Any]) -> None:
    """In a process of its own, so that the clients' threads (16 uploads of 155 MiB) do not
    delay the probes: /healthz every `every` seconds and the memory of `pid` and its children
    every 50 ms, until `stop`; then the figures on `out`."""
    probes: list[float] = []
    failures: Counter[str] = Counter()
    peak = rss_mib(children(pid))
    out.put(peak)  # the baseline, and the sign that probing starts

    def health() -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            while not stop.is_set():
                began = time.perf_counter()
                try:
                    status = http.get("/healthz").status_code
                    if status != 200:
                        failures[str(status)] += 1
                except httpx.HTTPError as exc:
                    failures[type(exc).__name__] += 1
                probes.append(time.perf_counter() - began)
                stop.wait(every)

    prober = threading.Thread(target=health)
    prober.start()
    pids = children(pid)
    rounds = 0
    while not stop.is_set():
        rounds += 1
        if rounds % 20 == 0:  # a replaced worker is a new pid
            pids = children(pid)
        peak = max(peak, rss_mib(pids))
        stop.wait(0.05)
    prober.join()
    out.put((probes, dict(failures), peak))


@dataclass
class Watch:
    """/healthz every `every` seconds and the service's memory (its processes' resident memory,
    summed) every 50 ms, from another process."""

    service: Service
    every: float = 0.025  # seconds
    probes: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    baseline: float = 0.0  # MiB
    peak: float = 0.0  # MiB

    def __enter__(self) -> Watch:
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._out: Queue[Any] = context.Queue()
        self._process = context.Process(
            target=_watch,
            args=(self.service.url, self.service.process.pid, self.every, self._stop, self._out),
        )
        self._process.start()
        self.baseline = self._out.get(timeout=120)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.probes, self.failures, self.peak = self._out.get(timeout=120)
        self._process.join()

    def summary(self) -> str:
        p = self.probes
        return (
            f"serve RSS (all its processes) {self.baseline:.0f} MiB before, peak "
            f"{self.peak:.0f} MiB (+{self.peak - self.baseline:.0f} MiB); /healthz {len(p)} "
            f"probes, p50 {quantile(p, 0.5) * 1000:.1f} ms, p99 {quantile(p, 0.99) * 1000:.1f} "
            f"ms, max {max(p) * 1000:.1f} ms, failures {self.failures or 'none'}"
        )


# Probe 1: concurrent imports of a large CSV.


def write_csv(path: Path, rows: int) -> int:
    """The sample's bars in order, repeated, one calendar day each from FIRST_DAY; its size."""
    header, *bars = SAMPLE.read_text().splitlines()
    prices = [bar.split(",", 1)[1] for bar in bars]
    with path.open("w") as out:
        out.write(header + "\n")
        day = FIRST_DAY
        for i in range(rows):
            out.write(f"{day.isoformat()},{prices[i % len(prices)]}\n")
            day += dt.timedelta(days=1)
    return path.stat().st_size


def stored_bars(database_url: str, tickers: list[str]) -> dict[str, int]:
    """How many bars the database holds for each ticker (read directly, quarantined too)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            counts: dict[str, int] = dict(
                conn.execute(text("SELECT ticker, count(*) FROM price_bar GROUP BY ticker")).all()
            )
    finally:
        engine.dispose()
    return {t: int(counts.get(t, 0)) for t in tickers}


def import_round(work: Path, args: argparse.Namespace, rows: int, label: str, *, fit: bool) -> None:
    """One round; `fit`: the upload limit raised to the file's size (else the default)."""
    path = work / f"bars-{rows}.csv"
    size = write_csv(path, rows)
    body = path.read_bytes()
    env = {"TICKERCAST_MAX_UPLOAD_BYTES": str(max(DEFAULT_UPLOAD, size + 2**20))} if fit else {}
    database_url = f"sqlite:///{work / 'data' / 'tickercast.db'}"
    tickers = [f"BIG{i}" for i in range(args.imports)]
    answers: dict[str, tuple[int, float, str, str]] = {}
    print(
        f"\n{label}: {args.imports} imports at once of {rows:,} rows ({size / 2**20:.0f} MiB), "
        f"{args.workers} API workers, SQLite, upload limit "
        f"{'raised to fit' if fit else 'the default'}, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )

    def put(ticker: str) -> None:
        began = time.perf_counter()
        try:
            resp = httpx.put(
                f"{service.url}/prices/{ticker}",
                params={"strict": "false"},
                content=body,
                headers=CSV,
                timeout=900,
            )
            detail = resp.text[:160] if resp.status_code != 200 else str(resp.json()["rows"])
            after = resp.headers.get("retry-after", "")
            answers[ticker] = (resp.status_code, time.perf_counter() - began, after, detail)
        except httpx.HTTPError as exc:
            answers[ticker] = (0, time.perf_counter() - began, "", repr(exc))

    with serving(work, database_url, args.workers, env) as service:
        with Watch(service) as watch:
            began = time.perf_counter()
            threads = [threading.Thread(target=put, args=(t,)) for t in tickers]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - began
            time.sleep(0.5)
        alive = service.process.poll() is None
        tracebacks = service.errors_in_log()
    stored = stored_bars(database_url, tickers)
    statuses = Counter(a[0] for a in answers.values())
    print(f"  {wall:.1f} s in all; answers {dict(sorted(statuses.items()))}; serve alive: {alive}")
    print(f"  {watch.summary()}")
    for ticker in tickers:
        status, seconds, after, detail = answers[ticker]
        print(
            f"  {ticker}: {status} in {seconds:.1f} s"
            + (f", Retry-After {after}" if after else "")
            + f", stored {stored[ticker]:,} bars; {detail}"
        )
    whole = all(stored[t] == (rows if answers[t][0] == 200 else 0) for t in tickers)
    print(
        f"  every ticker holds its whole file (200) or nothing: {whole}; tracebacks in the "
        f"log: {tracebacks}; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    path.unlink()
    shutil.rmtree(work / "data")


def probe_imports(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="tickercast-probe-") as tmp:
        rounds = [
            (args.rows, "the issue's file, as shipped", False),
            (args.rows, "the issue's file", True),
            (args.valid_rows, "the largest valid file", True),
        ]
        for n, (rows, label, fit) in enumerate(rounds):
            if rows:
                work = Path(tmp) / str(n)
                work.mkdir()
                import_round(work, args, rows, label, fit=fit)


# Probe 2: many open event streams on one job.


def hold_streams(url: str, count: int, opened: Semaphore, stop: Event, out: Queue[Any]) -> None:
    """`count` event streams read in one event loop, in a process of its own (the job reads
    are timed from another), until `stop`; `opened` is released once per stream that has its
    first event or failed, and the failures go on `out` at the end."""
    failures: Counter[str] = Counter()

    async def one(client: httpx.AsyncClient) -> None:
        try:
            async with client.stream("GET", url) as resp:
                if resp.status_code != 200:
                    failures[f"stream {resp.status_code}"] += 1
                    opened.release()
                    return
                first = True
                async for line in resp.aiter_lines():
                    if first and line.startswith("data:"):
                        opened.release()
                        first = False
        except httpx.HTTPError as exc:
            if not stop.is_set():
                failures[f"stream {type(exc).__name__}"] += 1
                opened.release()

    async def run() -> None:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        timeout = httpx.Timeout(60, read=None)
        async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
            tasks = [asyncio.create_task(one(client)) for _ in range(count)]
            while not stop.is_set():
                await asyncio.sleep(0.2)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run())
    out.put(dict(failures))


def connections(admin_url: str, name: str) -> int:
    engine = create_engine(admin_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.scalar(
                    text("SELECT count(*) FROM pg_stat_activity WHERE datname = :n"), {"n": name}
                )
            )
    finally:
        engine.dispose()


def job_reads(url: str, job_id: str, times: int) -> tuple[list[float], Counter[str]]:
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    with httpx.Client(base_url=url, timeout=60) as http:
        for _ in range(times):
            began = time.perf_counter()
            try:
                status = http.get(f"/jobs/{job_id}").status_code
                if status != 200:
                    failures[f"read {status}"] += 1
            except httpx.HTTPError as exc:
                failures[f"read {type(exc).__name__}"] += 1
            latencies.append(time.perf_counter() - began)
            time.sleep(0.05)
    return latencies, failures


def ms_summary(values: list[float]) -> str:
    return (
        f"p50 {quantile(values, 0.5) * 1000:.1f} ms, p99 {quantile(values, 0.99) * 1000:.1f} ms, "
        f"max {max(values) * 1000:.1f} ms"
    )


def streams_round(work: Path, args: argparse.Namespace, database_url: str, kind: str) -> None:
    env = {"TICKERCAST_JOB_SUPERVISOR": "false"}
    name = make_url(database_url).database or ""
    print(
        f"\n{kind}: {args.streams} event streams of one queued job, {args.workers} API workers, "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    with serving(work, database_url, args.workers, env) as service:
        resp = httpx.put(
            f"{service.url}/prices/%5EGSPC", content=SAMPLE.read_bytes(), headers=CSV, timeout=120
        )
        resp.raise_for_status()
        resp = httpx.post(f"{service.url}/train", json={"ticker": "^GSPC", **TRAINING})
        resp.raise_for_status()
        job_id = resp.json()["id"]
        quiet, _ = job_reads(service.url, job_id, 50)
        print(f"  GET /jobs/ID with no stream open: {ms_summary(quiet)}")
        context = multiprocessing.get_context("spawn")
        opened = context.Semaphore(0)
        stop = context.Event()
        out: Queue[Any] = context.Queue()
        holder = context.Process(
            target=hold_streams,
            args=(f"{service.url}/jobs/{job_id}/events", args.streams, opened, stop, out),
        )
        began = time.perf_counter()
        holder.start()
        try:
            waited = sum(opened.acquire(timeout=300) for _ in range(args.streams))
            print(
                f"  {waited} of {args.streams} streams had their first event (or failed) after "
                f"{time.perf_counter() - began:.1f} s",
                flush=True,
            )
            pg: list[int] = []
            sampling = threading.Event()

            def count_connections() -> None:
                while not sampling.is_set():
                    pg.append(connections(args.postgres_admin_url, name))
                    sampling.wait(0.5)

            counter = threading.Thread(target=count_connections)
            if kind == "postgresql":
                counter.start()
            with Watch(service) as watch:
                latencies, read_failures = job_reads(service.url, job_id, args.reads)
            sampling.set()
            if kind == "postgresql":
                counter.join()
            alive = service.process.poll() is None
        finally:
            stop.set()
            failures = Counter(out.get(timeout=120))
            holder.join()
        tracebacks = service.errors_in_log()
    print(f"  GET /jobs/ID x{len(latencies)} with the streams open: {ms_summary(latencies)}")
    print(f"  {watch.summary()}")
    print(
        f"  errors: {dict(failures + read_failures) or 'none'}; serve alive: {alive}; "
        f"tracebacks in the log: {tracebacks}"
        + (
            f"; PostgreSQL connections to its database: max {max(pg)} (of {len(pg)} samples)"
            if pg
            else ""
        )
        + f"; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def probe_streams(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="tickercast-probe-") as tmp:
        if args.database in ("sqlite", "both"):
            work = Path(tmp) / "sqlite"
            work.mkdir()
            url = f"sqlite:///{work / 'data' / 'tickercast.db'}"
            streams_round(work, args, url, "sqlite")
        if args.database in ("postgresql", "both"):
            work = Path(tmp) / "postgresql"
            work.mkdir()
            with postgres_database(args.postgres_admin_url) as url:
                streams_round(work, args, url, "postgresql")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("probe", choices=["imports", "streams", "all"], nargs="?", default="all")
    parser.add_argument("--workers", type=int, default=2, help="API workers (default 2)")
    parser.add_argument("--imports", type=int, default=16, help="imports at once (default 16)")
    parser.add_argument(
        "--rows", type=int, default=2_000_000, help="rows of the issue's file (0: skip that round)"
    )
    parser.add_argument(
        "--valid-rows",
        type=int,
        default=(LAST_DAY - FIRST_DAY).days + 1,
        help="rows of the valid file (default every day the service holds; 0: skip that round)",
    )
    parser.add_argument("--streams", type=int, default=1000, help="open streams (default 1000)")
    parser.add_argument("--reads", type=int, default=200, help="job reads while they are open")
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgresql", "both"],
        default="both",
        help="for the streams probe (the imports probe runs on SQLite)",
    )
    parser.add_argument(
        "--postgres-admin-url",
        default=os.environ.get("TICKERCAST_TEST_POSTGRES_URL") or DEFAULT_ADMIN_URL,
        help="a database on the server where the probe's own database is created and dropped",
    )
    args = parser.parse_args()
    print(
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()}"
    )
    if args.probe in ("imports", "all"):
        probe_imports(args)
    if args.probe in ("streams", "all"):
        probe_streams(args)


if __name__ == "__main__":
    main()
