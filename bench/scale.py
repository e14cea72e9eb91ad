"""`make bench-scale`: what tickercast costs as the number of tickers grows, each figure beside a
reference of the same run (`python -m bench.scale`; writes the "Scale" section of
BENCHMARKS.md).

Bars are the shipped ^GSPC series under many names, each scaled by its own factor so that no
two tickers share a price history. Versions are real: one small network is trained for real
once (a one-layer LSTM, lookback 20, horizon 5, 2 epochs: the tests' tiny request), and its
Keras file, ONNX graph, scalers, metrics, calibration and backtest windows are registered for
every ticker through the training pipeline's own registration steps
(`app/training/pipeline.py:build_version` and `gate_and_register`, which take the registry
lock and run the champion gate). Retention then runs as a scheduler pass runs it
(`app/registry/retention.py:prune_registry`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.db import migrate
from app.db.engine import get_engine, session_scope
from app.jobs.local import settings_env
from app.prices import store
from app.prices.csv_format import parse_price_csv
from app.registry import retention
from app.training.gate import PromoteMode
from app.training.pipeline import Prices, build_version, gate_and_register
from app.training.spec import TrainingSpec
from bench.sections import replace_section

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "app" / "data" / "GSPC.csv"
MARKER = "## Scale (`make bench-scale`)"
POSTGRES_ADMIN = os.environ.get(
    "TICKERCAST_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
# The tests' tiny request (tests/conftest.py:TINY_REQUEST): one small network, really trained.
TINY = {
    "model_type": "lstm",
    "lookback": 20,
    "horizon": 5,
    "layers": [8],
    "epochs": 2,
    "batch_size": 64,
    "seed": 11,
    "ensemble": 1,
}
RETENTION_TICKERS = 100
RETENTION_ROUNDS = 10
KEEP = 5


@dataclass
class Trained:
    """One real training result and the bars it was trained on."""

    result: Any
    frame: pd.DataFrame
    seconds: float


def train_once() -> Trained:
    from models.config import TrainingConfig
    from models.train import train

    frame = parse_price_csv(SAMPLE.read_bytes())
    started = time.perf_counter()
    result = train(frame["close"].to_numpy(), TrainingConfig.from_dict(TINY))
    return Trained(result, frame, time.perf_counter() - started)


def ticker_names(n: int) -> list[str]:
    return [f"S{i:04d}" for i in range(n)]


def ticker_frame(trained: Trained, i: int) -> pd.DataFrame:
    """Ticker i's bars: the sample scaled by its own factor (no two share a history)."""
    return trained.frame * (1 + i / 1000)


# ---------------------------------------------------------------------------------------------
# Databases


@contextmanager
def sqlite_database(work: Path, name: str) -> Iterator[str]:
    url = f"sqlite:///{work / (name + '.db')}"
    migrate.upgrade(url)
    yield url
    get_engine(url).dispose()


@contextmanager
def postgres_database(name: str) -> Iterator[str]:
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    db = f"tickercast_bench_{name}_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{db}"'))
    url = make_url(POSTGRES_ADMIN).set(database=db).render_as_string(hide_password=False)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        get_engine(url).dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        admin.dispose()


def database_bytes(url: str, *, full_vacuum: bool = False) -> int:
    """The database's size on disk as it stands after the writes: SQLite's file (with its WAL
    checkpointed into it), PostgreSQL's pg_database_size after a plain VACUUM (what autovacuum
    does, run now so that its timing does not decide the figure), or after VACUUM FULL."""
    engine = get_engine(url)
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        path = Path(str(make_url(url).database))
        wal = path.with_name(path.name + "-wal")
        return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM FULL" if full_vacuum else "VACUUM"))
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def load_bars(url: str, trained: Trained, tickers: list[str]) -> None:
    with session_scope(url) as session:
        for i, ticker in enumerate(tickers):
            store.ensure_ticker(session, ticker=ticker, calendar="XNYS", source="csv")
            store.upsert_bars(session, ticker=ticker, frame=ticker_frame(trained, i))


def register(url: str, trained: Trained, ticker: str, i: int, mode: PromoteMode) -> None:
    """A version of `ticker` through the pipeline's registration steps (lock, gate, register,
    alias), with the one trained result's blobs."""
    spec = TrainingSpec.from_dict({**TINY, "promote": mode.value})
    prices = Prices(ticker_frame(trained, i), "XNYS", None)
    new = build_version(ticker, spec, prices, trained.result, job_id=None)
    with session_scope(url) as session:
        gate_and_register(
            session,
            new=new,
            result=trained.result,
            prices=prices,
            mode=mode,
            alpha=0.10,
            baseline_champion=False,
        )


# ---------------------------------------------------------------------------------------------
# Retention


@dataclass
class RetentionRun:
    backend: str
    scenario: str
    empty: int = 0
    bars: int = 0
    after: dict[int, int] = field(default_factory=dict)  # round: bytes
    full_vacuum_10: int | None = None
    pruned: int = 0
    register_seconds: float = 0.0
    prune_seconds: list[float] = field(default_factory=list)


def retention_run(
    url: str, trained: Trained, *, backend: str, scenario: str, mode: Callable[[int], PromoteMode]
) -> RetentionRun:
    """RETENTION_ROUNDS retraining rounds of RETENTION_TICKERS tickers, each round a new
    version per ticker, then a prune (keep KEEP); sizes after rounds 5 and 10."""
    run = RetentionRun(backend, scenario)
    tickers = ticker_names(RETENTION_TICKERS)
    run.empty = database_bytes(url)
    load_bars(url, trained, tickers)
    run.bars = database_bytes(url)
    for round_ in range(1, RETENTION_ROUNDS + 1):
        started = time.perf_counter()
        for i, ticker in enumerate(tickers):
            register(url, trained, ticker, i, mode(round_))
        run.register_seconds += time.perf_counter() - started
        started = time.perf_counter()
        run.pruned += retention.prune_registry(url, keep=KEEP).count
        run.prune_seconds.append(time.perf_counter() - started)
        if round_ in (5, RETENTION_ROUNDS):
            run.after[round_] = database_bytes(url)
        print(f"{backend} {scenario}: round {round_} done", flush=True)
    if backend == "PostgreSQL":
        run.full_vacuum_10 = database_bytes(url, full_vacuum=True)
    return run


def moving(_round: int) -> PromoteMode:
    return PromoteMode.ALWAYS  # each retraining becomes champion


def sitting(round_: int) -> PromoteMode:
    return PromoteMode.ALWAYS if round_ == 1 else PromoteMode.NEVER  # v1 stays champion


def blob_sizes(trained: Trained) -> dict[str, int]:
    import json

    from app.training.pipeline import backtest_record

    record = backtest_record(trained.frame.index, trained.result)
    return {
        "keras": len(trained.result.keras_bytes),
        "onnx": len(trained.result.onnx_bytes),
        "backtest": len(json.dumps(record)),
        "windows": len(record["as_of"]),
    }


def mb(n: float) -> str:
    return f"{n / 1024**2:,.1f} MB"


def retention_section(runs: list[RetentionRun], sizes: dict[str, int]) -> list[str]:
    lines = [
        "### Retention: database size after 10 retraining rounds against after 5",
        "",
        f"{RETENTION_TICKERS} tickers, one new version per ticker per round, a prune "
        f"(`TICKERCAST_KEEP_VERSIONS={KEEP}`) after each round as a scheduler pass makes it. "
        f"Each version's blobs are the tiny network's: Keras file {sizes['keras']:,} bytes, "
        f"ONNX graph {sizes['onnx']:,} bytes, backtest windows {sizes['backtest']:,} bytes of "
        f"JSON ({sizes['windows']} windows). Two scenarios: the champion moves to every new "
        "version (`promote: always`), or it stays at version 1 (`promote: never` after the "
        "first round), which keeps version 1's blobs as an aliased version. Target: after 10 "
        "rounds at most 1.1 times the size after 5.",
        "",
        "| database | scenario | bars only | after 5 rounds | after 10 rounds | 10 / 5 | "
        "target | versions pruned | prune pass (s, mean of 10) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        ratio = run.after[RETENTION_ROUNDS] / run.after[5]
        lines.append(
            f"| {run.backend} | {run.scenario} | {mb(run.bars)} | {mb(run.after[5])} | "
            f"{mb(run.after[RETENTION_ROUNDS])} | {ratio:.3f} | "
            f"{'met' if ratio <= 1.1 else 'missed'} | {run.pruned} | "
            f"{sum(run.prune_seconds) / len(run.prune_seconds):.2f} |"
        )
        if run.full_vacuum_10 is not None:
            full = run.full_vacuum_10 / run.after[5]
            lines.append(
                f"| {run.backend}, then VACUUM FULL | {run.scenario} | | | "
                f"{mb(run.full_vacuum_10)} | {full:.3f} | {'met' if full <= 1.1 else 'missed'} "
                "| | |"
            )
    lines.append("")
    return lines


def bytes_section(runs: list[RetentionRun]) -> list[str]:
    lines = [
        "### Bytes per version and per ticker",
        "",
        "From the retention runs' databases after round 5 (five unpruned versions per "
        "ticker): bars are what loading the tickers' 5,031 bars each added to the empty "
        "migrated database; a version is the rest divided by the versions registered.",
        "",
        "| database | per ticker, bars | per version (tiny network) "
        "| per ticker, bars + 5 versions |",
        "| --- | --- | --- | --- |",
    ]
    seen = set()
    for run in runs:
        if run.backend in seen:
            continue
        seen.add(run.backend)
        bars = (run.bars - run.empty) / RETENTION_TICKERS
        version = (run.after[5] - run.bars) / (5 * RETENTION_TICKERS)
        lines.append(
            f"| {run.backend} | {bars / 1024:,.0f} KB | {version / 1024:,.0f} KB | "
            f"{(bars + 5 * version) / 1024:,.0f} KB |"
        )
    lines.append("")
    return lines


# ---------------------------------------------------------------------------------------------
# A universe: listings, batch forecasts and a scheduler pass at 1,000 tickers against 10


UNIVERSE = 1000
REFERENCE = 10
BATCH = 500
LISTING_REQUESTS = 200  # per route and size, after 20 to warm up
NEW_BARS = (dt.date(2019, 1, 2), dt.date(2019, 1, 3))  # the sessions after the sample's last


@dataclass
class Universe:
    size: int
    settings: Settings
    tickers: list[str]
    build_seconds: float
    bytes: int


def build_universe(work: Path, trained: Trained, size: int) -> Universe:
    """`size` tickers with their bars and one version each, champion, registered through the
    pipeline's steps."""
    started = time.perf_counter()
    folder = work / f"universe-{size}"
    settings = Settings(
        data_dir=folder,
        database_url=f"sqlite:///{folder / 'tickercast.db'}",
        price_source="none",
        job_supervisor=False,
        workers=1,
    )
    url = settings.resolved_database_url()
    migrate.upgrade(url)
    tickers = ticker_names(size)
    load_bars(url, trained, tickers)
    for i, ticker in enumerate(tickers):
        register(url, trained, ticker, i, PromoteMode.ALWAYS)
    print(f"universe of {size}: built in {time.perf_counter() - started:.0f} s", flush=True)
    return Universe(size, settings, tickers, time.perf_counter() - started, database_bytes(url))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def timed_gets(http: httpx.Client, paths: list[str]) -> list[float]:
    """Milliseconds of each GET, in turn (the paths cycled), after 20 to warm up."""
    for path in paths[:20]:
        http.get(path).raise_for_status()
    out = []
    for i in range(LISTING_REQUESTS):
        started = time.perf_counter()
        http.get(paths[i % len(paths)]).raise_for_status()
        out.append((time.perf_counter() - started) * 1000)
    return out


def add_bar(url: str, trained: Trained, tickers: list[str], day: dt.date) -> None:
    """A new bar for each ticker (its last close again): their cached forecasts go stale."""
    last = trained.frame.iloc[[-1]]
    with session_scope(url) as session:
        for i, ticker in enumerate(tickers):
            frame = (last * (1 + i / 1000)).set_axis(pd.DatetimeIndex([pd.Timestamp(day)]))
            store.upsert_bars(session, ticker=ticker, frame=frame)


def post_forecasts(http: httpx.Client, tickers: list[str]) -> float:
    """Seconds of one POST /forecasts for these tickers, every item a 200."""
    started = time.perf_counter()
    answer = http.post("/forecasts", json={"tickers": tickers, "horizon": 5})
    seconds = time.perf_counter() - started
    answer.raise_for_status()
    failed = answer.json()["failed"]
    if failed:
        raise RuntimeError(f"{failed} tickers failed: {answer.text[:2000]}")
    return seconds


@dataclass
class Served:
    listings: dict[str, list[float]] = field(default_factory=dict)  # route: ms
    warm: list[float] = field(default_factory=list)  # seconds
    cold: list[float] = field(default_factory=list)  # seconds
    rss_mb: float = 0.0
    rss_start_mb: float = 0.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def serve_universe(
    universe: Universe,
    trained: Trained,
    *,
    batch: int | None,
    listings: bool = True,
    days: tuple[dt.date, ...] = NEW_BARS,
    onnx_cache: int | None = None,
) -> Served:
    """Listing latencies and, with `batch`, POST /forecasts warm and cold (after a new bar on
    each of `days`), on one API process (`tickercast serve --workers 1`) over HTTP on
    127.0.0.1; `onnx_cache` overrides TICKERCAST_ONNX_CACHE_SIZE."""
    from bench.serve import serving, tickercast

    served = Served()
    settings = universe.settings
    if onnx_cache is not None:
        settings = settings.model_copy(update={"onnx_cache_size": onnx_cache})
    env = settings_env(settings)
    log = universe.settings.data_dir / "serve.log"
    with (
        serving(tickercast(universe.settings, 1), env, log, None) as (url, proc),
        httpx.Client(base_url=url, timeout=600) as http,
    ):
        served.rss_start_mb = rss_mb(proc.pid)
        some = universe.tickers[:: max(1, len(universe.tickers) // 50)]
        # The same page size at both sizes (10 items), so that only the universe differs;
        # and the default page of 100.
        routes = {
            "GET /models?limit=10": ["/models?limit=10"],
            "GET /tickers?limit=10": ["/tickers?limit=10"],
            "GET /models/{t}": [f"/models/{t}" for t in some],
            "GET /models (a page of 100)": ["/models"],
            "GET /tickers (a page of 100)": ["/tickers"],
        }
        for name, paths in routes.items() if listings else ():
            served.listings[name] = timed_gets(http, paths)
        if batch is not None:
            asked = universe.tickers[:batch]
            url_db = universe.settings.resolved_database_url()
            for day in days:
                add_bar(url_db, trained, asked, day)
                served.cold.append(post_forecasts(http, asked))
                served.warm += [post_forecasts(http, asked) for _ in range(3)]
            served.rss_mb = rss_mb(proc.pid)
    return served


def profile_cold(universe: Universe, trained: Trained, day: dt.date) -> None:
    """Where one cold batch spends its time: the app's own batch function
    (`serving.forecast_batch_json`, what POST /forecasts runs in its worker thread) under
    cProfile, in this process, right after a new bar for the batch's tickers; printed."""
    import cProfile
    import pstats

    from app.forecasting import serving
    from app.main import create_app
    from app.schemas.common import levels_or_default

    app = create_app(universe.settings)
    url = universe.settings.resolved_database_url()
    asked = universe.tickers[:BATCH]
    add_bar(url, trained, asked, day)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    serving.forecast_batch_json(
        url,
        tickers=asked,
        levels=tuple(levels_or_default(None)),
        horizon=5,
        cache=app.state.forecasts,
        predictors=app.state.predictors,
    )
    profiler.disable()
    print(f"one cold batch of {BATCH}, profiled: {time.perf_counter() - started:.2f} s")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


SESSIONS = 200  # built per graph to measure what one ONNX session holds


def session_memory(trained: Trained) -> list[tuple[str, int, float]]:
    """Resident memory one ONNX Runtime session adds, for the tiny graph and for the default
    architecture's (an ensemble of 3 LSTMs [64, 32], lookback 60, trained for one epoch on
    the sample's last 1,200 closes: memory does not depend on the weights): SESSIONS sessions
    built and each run once, in this process, the growth of its RSS divided by SESSIONS."""
    import gc

    import numpy as np

    from models.config import TrainingConfig
    from models.predictor import OnnxPredictor
    from models.train import train

    default = train(trained.frame["close"].to_numpy()[-1200:], TrainingConfig(epochs=1))
    out = []
    for name, graph in (
        ("tiny (LSTM [8], lookback 20)", trained.result.onnx_bytes),
        ("default (3 x LSTM [64, 32], lookback 60)", default.onnx_bytes),
    ):
        first = OnnxPredictor(graph)  # what a process pays once per kind of graph
        window = np.zeros((1, first.lookback or 60, first.inputs or 1), np.float32)
        first.predict(window)
        gc.collect()
        before = rss_mb(os.getpid())
        kept = []
        for _ in range(SESSIONS):
            predictor = OnnxPredictor(graph)
            predictor.predict(window)
            kept.append(predictor)
        gc.collect()
        out.append((name, len(graph), (rss_mb(os.getpid()) - before) / SESSIONS))
    return out


def session_section(sizes: list[tuple[str, int, float]]) -> list[str]:
    lines = [
        "### Memory per ONNX session",
        "",
        f"{SESSIONS} sessions of one graph built in one process (one intra-op thread each, as "
        "the API builds them) and each run once; the process's RSS growth divided by "
        f"{SESSIONS}. The API keeps `TICKERCAST_ONNX_CACHE_SIZE` of them per process.",
        "",
        "| graph | ONNX bytes | MB per session | 1,000 sessions (MB) |",
        "| --- | --- | --- | --- |",
    ]
    for name, size, per in sizes:
        lines.append(f"| {name} | {size:,} | {per:.2f} | {per * 1000:,.0f} |")
    lines.append("")
    return lines


@dataclass
class Compared:
    """Cold batches of one universe on two API processes, asked in turn: this tree's and
    another source tree's (the code before a change), each after its own new bar."""

    tree: str
    before: list[float] = field(default_factory=list)  # seconds, the other tree
    after: list[float] = field(default_factory=list)  # seconds, this tree
    onnx_cache: int = 0


def compare_cold(
    universe: Universe,
    trained: Trained,
    tree: Path,
    days: list[dt.date],
    onnx_cache: int,
) -> Compared:
    """POST /forecasts of BATCH cold tickers, alternating between an API process running
    `tree` (another checkout: the baseline) and one running this tree, on the same database,
    a new bar before each request (so each is cold wherever it lands); the order within a
    round alternates too, so that a machine shared with others weighs on both alike."""
    from bench.serve import serving, tickercast

    settings = universe.settings.model_copy(update={"onnx_cache_size": onnx_cache})
    env = settings_env(settings)
    log = universe.settings.data_dir / "compare.log"
    url_db = universe.settings.resolved_database_url()
    asked = universe.tickers[:BATCH]
    out = Compared(str(tree), onnx_cache=onnx_cache)
    with (
        serving(tickercast(settings, 1), env, log, None, cwd=tree) as (before, _),
        serving(tickercast(settings, 1), env, log, None) as (after, _),
        httpx.Client(base_url=before, timeout=600) as old,
        httpx.Client(base_url=after, timeout=600) as new,
    ):
        # The first batch of each process builds its sessions: not what is compared.
        add_bar(url_db, trained, asked, days[0])
        post_forecasts(old, asked)
        post_forecasts(new, asked)
        pairs = [(old, out.before), (new, out.after)]
        for i, day in enumerate(days[1:]):
            http, into = pairs[(i + i // 2) % 2]
            add_bar(url_db, trained, asked, day)
            into.append(post_forecasts(http, asked))
    return out


def compare_section(runs: list[Compared]) -> list[str]:
    lines = [
        f"### Cold batches of {BATCH} before and after batching their reads, in one run",
        "",
        f"Two API processes on the same universe of {UNIVERSE:,}, one running the code before "
        "the change (a checkout of it, given as `--compare-tree`) and one this tree, asked in "
        f"turn: a new bar for the {BATCH} tickers before each `POST /forecasts` (so every "
        "request is cold), the order alternating, after a first batch each that is not "
        "counted. Target: at most 5 s on two cores.",
        "",
        "| ONNX sessions kept | before (s, each) | after (s, each) | after / before (medians) "
        "| target |",
        "| --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        ratio = statistics.median(run.after) / statistics.median(run.before)
        lines.append(
            f"| {run.onnx_cache:,} | {', '.join(f'{s:.2f}' for s in run.before)} | "
            f"{', '.join(f'{s:.2f}' for s in run.after)} | {ratio:.2f} | "
            f"{'met' if max(run.after) <= 5 else 'missed'} |"
        )
    lines.append("")
    return lines


@dataclass
class Pass:
    what: str
    seconds: float
    detail: str


def scheduler_passes(universe: Universe) -> list[Pass]:
    """One scheduler pass with nothing due, then one with every champion stale (each queues a
    retraining job; no training runs), timed in this process; the refresh decisions of a pass
    (which tickers are behind their exchange's close) timed alone, there being no source."""
    from app.scheduling.scheduler import Scheduler, due_for_refresh

    scheduler = Scheduler(universe.settings)
    out = []
    fresh = dt.datetime(2019, 1, 7, 23, 0, tzinfo=dt.UTC)  # the batch's tickers' last bar
    started = time.perf_counter()
    due = [info for info, newest in scheduler._tickers() if due_for_refresh(info, newest, fresh)]
    out.append(
        Pass(
            "refresh decisions (stored tickers behind their close)",
            time.perf_counter() - started,
            f"{len(due)} due",
        )
    )
    started = time.perf_counter()
    quiet = scheduler.tick(fresh)
    out.append(
        Pass(
            "a pass with nothing due",
            time.perf_counter() - started,
            f"{len(quiet.retrained)} retrainings, {sum(map(len, quiet.pruned.values()))} pruned",
        )
    )
    stale = dt.datetime(2019, 3, 1, 23, 0, tzinfo=dt.UTC)  # 40 sessions later
    started = time.perf_counter()
    busy = scheduler.tick(stale + dt.timedelta(seconds=1))
    out.append(
        Pass(
            "a pass with every champion stale",
            time.perf_counter() - started,
            f"{len(busy.retrained)} retraining jobs queued, {len(busy.refused)} refused",
        )
    )
    return out


def listing_section(big: Served, small: Served) -> list[str]:
    lines = [
        f"### Listing routes at {UNIVERSE:,} tickers against {REFERENCE}",
        "",
        f"One `tickercast serve --workers 1` on SQLite, one client asking in turn (no "
        f"concurrency), {LISTING_REQUESTS} requests per route after 20 to warm up; "
        "`GET /models/{t}` cycles over 50 of the tickers. Every ticker has 5,031 bars and one "
        "version. `?limit=10` asks the same page size at both sizes; the default page (100) "
        "holds 10 items at 10 tickers and 100 at 1,000, so its ratio also counts ten times "
        "the items. Target: p99 at 1,000 tickers at most 2 times p99 at 10.",
        "",
        f"| route | p50 at {REFERENCE} (ms) | p99 at {REFERENCE} | p50 at {UNIVERSE:,} "
        f"| p99 at {UNIVERSE:,} | p99 ratio | target |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for route, times in big.listings.items():
        ref = small.listings[route]
        ratio = percentile(times, 99) / percentile(ref, 99)
        lines.append(
            f"| `{route}` | {percentile(ref, 50):.1f} | {percentile(ref, 99):.1f} | "
            f"{percentile(times, 50):.1f} | {percentile(times, 99):.1f} | {ratio:.2f} | "
            f"{'met' if ratio <= 2 else 'missed'} |"
        )
    lines.append("")
    return lines


def batch_rows(served: Served, label: str) -> list[str]:
    cold = ", ".join(f"{s:.2f}" for s in served.cold)
    warm = sorted(served.warm)
    warm_ms = statistics.median(warm) * 1000
    return [
        f"| {label} | cold (s, each) | {cold} | {'met' if max(served.cold) <= 5 else 'missed'} |",
        f"| {label} | warm (ms, median of {len(warm)}; fastest {warm[0] * 1000:.0f}, slowest "
        f"{warm[-1] * 1000:.0f}) | {warm_ms:.0f} | {'met' if warm_ms <= 100 else 'missed'} |",
        f"| {label} | API RSS after (MB; {served.rss_start_mb:.0f} when it started) | "
        f"{served.rss_mb:.0f} | {'met' if served.rss_mb <= 1024 else 'missed'} |",
    ]


def batch_section(default: Served, sized: Served, *, listings: bool = True) -> list[str]:
    return [
        f"### `POST /forecasts` of {BATCH} tickers, warm and cold, and the API's memory",
        "",
        f"One API process on the universe of {UNIVERSE:,}. Cold: the first request right "
        f"after a new bar was stored for all {BATCH} tickers (twice per process); warm: the "
        "same request again, 3 times after each cold one. First with the default caches "
        "(`TICKERCAST_ONNX_CACHE_SIZE=64` ONNX sessions, 4,096 answers"
        + ("; the process had served the listings first" if listings else "")
        + "), then a fresh process with "
        f"`TICKERCAST_ONNX_CACHE_SIZE={UNIVERSE}`, one session per ticker served. Targets: "
        "warm at most 100 ms, cold at most 5 s on two cores, RSS serving 1,000 tickers at "
        "most 1 GB.",
        "",
        "| caches | figure | measured | target |",
        "| --- | --- | --- | --- |",
        *batch_rows(default, "default (64 sessions)"),
        *batch_rows(sized, f"{UNIVERSE:,} sessions"),
        "",
    ]


def scheduler_section(passes: list[Pass]) -> list[str]:
    lines = [
        f"### One scheduler pass over {UNIVERSE:,} tickers (decisions, no training)",
        "",
        "`Scheduler.tick` in the bench's process on the same database, no price source (so "
        "nothing is fetched; the refresh decisions are timed on their own). A pass with "
        "nothing due still reads every champion's live accuracy and retention's plan; the "
        "stale pass queues a retraining job per ticker (checked as `POST /train` is) and "
        "starts none. Target: at most 30 s.",
        "",
        "| pass | seconds | what it did | target |",
        "| --- | --- | --- | --- |",
    ]
    for p in passes:
        lines.append(
            f"| {p.what} | {p.seconds:.1f} | {p.detail} | "
            f"{'met' if p.seconds <= 30 else 'missed'} |"
        )
    lines.append("")
    return lines


# ---------------------------------------------------------------------------------------------
# Training throughput: tiny jobs with 2 local trainers and with 2 RQ workers

JOBS = 40
TRAINERS = 2
REDIS_URL = os.environ.get("TICKERCAST_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
FINISHED = ("succeeded", "failed", "cancelled")


@dataclass
class Throughput:
    backend: str
    jobs: int
    seconds: float  # from the first request to the last job's end
    walls: list[float]  # each job's started_at to finished_at
    outside: list[float]  # each job's wall less its recorded stages
    failed: int


def _job_body(i: int) -> dict[str, Any]:
    return {
        **TINY,
        "ticker": ticker_names(REFERENCE)[i % REFERENCE],
        "seed": 100 + i,
        "promote": "never",
    }


def run_jobs(url: str, count: int, backend: str) -> Throughput:
    """POST /train `count` tiny jobs, wait for them all, read each job's wall and stages."""
    with httpx.Client(base_url=url, timeout=60) as http:
        started = time.perf_counter()
        ids = []
        for i in range(count):
            answer = http.post("/train", json=_job_body(i))
            answer.raise_for_status()
            ids.append(answer.json()["id"])
        deadline = time.monotonic() + 3600
        while True:
            jobs = [http.get(f"/jobs/{job_id}").json() for job_id in ids]
            if all(job["status"] in FINISHED for job in jobs):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("jobs did not finish within an hour")
            time.sleep(1.0)
        seconds = time.perf_counter() - started
        walls, outside = [], []
        for job in jobs:
            if job["status"] != "succeeded":
                continue
            wall = (
                dt.datetime.fromisoformat(job["finished_at"])
                - dt.datetime.fromisoformat(job["started_at"])
            ).total_seconds()
            detail = http.get(f"/models/{job['ticker']}/versions/{job['model_version']}").json()
            timings = detail["metrics"]["timings"]
            stages = sum(v for k, v in timings.items() if k.endswith("_seconds") and v)
            walls.append(wall)
            outside.append(wall - stages)
    failed = sum(job["status"] != "succeeded" for job in jobs)
    return Throughput(backend, count, seconds, walls, outside, failed)


def throughput(work: Path, trained: Trained, count: int) -> list[Throughput]:
    """`count` tiny jobs through 2 local trainers (the API's dispatcher), then through 2 RQ
    workers, each on a fresh 10-ticker database."""
    from bench.serve import serving, tickercast

    out = []
    for backend in ("local", "rq"):
        universe = build_universe(work / f"jobs-{backend}", trained, REFERENCE)
        settings = universe.settings.model_copy(
            update={
                "job_supervisor": True,
                "max_training_jobs": TRAINERS,
                "dispatch_interval_seconds": 0.2,
                "train_rate_limit": "10000/minute",
                "queue": backend,
                "redis_url": REDIS_URL,
                "rq_queue_name": f"tickercast-bench-{os.getpid()}",
            }
        )
        env = settings_env(settings)
        folder = settings.data_dir
        with contextlib.ExitStack() as stack:
            url, _ = stack.enter_context(
                serving(tickercast(settings, 1), env, folder / "serve.log", None)
            )
            if backend == "rq":
                for n in range(TRAINERS):
                    log = (folder / f"worker{n}.log").open("ab")
                    stack.callback(log.close)
                    worker = subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "app.cli",
                            "worker",
                            "--name",
                            f"bench-{n}-{os.getpid()}",
                        ],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                    stack.callback(_stop, worker)
                stack.callback(_delete_queue, settings)
            print(f"{count} jobs through {TRAINERS} {backend} trainers", flush=True)
            out.append(run_jobs(url, count, backend))
    return out


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _delete_queue(settings: Settings) -> None:
    """The bench's own queue and its jobs out of Redis (never a flush: Redis is shared)."""
    from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry

    from app.jobs.rq_backend import redis_connection, training_queue

    queue = training_queue(settings, redis_connection(settings))
    for registry in (FinishedJobRegistry, FailedJobRegistry, StartedJobRegistry):
        queue.connection.delete(registry(queue=queue).key)
    queue.delete(delete_jobs=True)


def throughput_section(runs: list[Throughput]) -> list[str]:
    lines = [
        f"### Training throughput: {runs[0].jobs} tiny jobs, {TRAINERS} local trainers against "
        f"{TRAINERS} RQ workers",
        "",
        f"Each job is the tiny request (one LSTM [8], 2 epochs, `promote: never`) on one of "
        f"{REFERENCE} tickers' 5,031 bars, all posted at once to one API process. Local: the "
        f"API's dispatcher runs `TICKERCAST_MAX_TRAINING_JOBS={TRAINERS}` training processes, "
        f"each spawned for one job; RQ: {TRAINERS} `tickercast worker` processes, each "
        "forking a process per job. A job's wall is its `started_at` to `finished_at`; outside "
        "the stages is that wall less its recorded stages (prices, fit, export, parity, "
        "backtest, gate, registration): the process start, imports (TensorFlow's among them) "
        "and claiming the job.",
        "",
        "| trainers | jobs per minute | job wall (s, median) | outside the stages (s, median) "
        "| share of the wall | failed |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        wall = statistics.median(run.walls) if run.walls else float("nan")
        outside = statistics.median(run.outside) if run.outside else float("nan")
        lines.append(
            f"| {TRAINERS} {run.backend} | {run.jobs / run.seconds * 60:.1f} | {wall:.1f} | "
            f"{outside:.1f} | {outside / wall:.0%} | {run.failed} |"
        )
    lines.append("")
    return lines


READING = """### Reading the figures, and what limits the missed targets

- Retention on SQLite: a database made by this version has incremental auto-vacuum, and a
  prune hands the freed pages back, so the file holds the kept versions' blobs and every
  version's row. On PostgreSQL a prune ends with a plain VACUUM, so the next versions reuse
  the pruned blobs' TOAST space, but the file does not shrink: the new versions of a round
  are written before that round's prune, so up to `TICKERCAST_KEEP_VERSIONS` + 1 versions'
  blobs per ticker are held at once, and the size after 10 rounds is bounded by
  (5 + 1) / 5 = 1.2 times the size after 5, not 1.1. `VACUUM FULL` (an exclusive lock: a
  maintenance window) brings it back under the target.
- "Champion stays at v1" keeps the aliased version 1's blobs beside the latest five on
  purpose: six full versions, so at least 6/5 however the space comes back.
- `POST /forecasts` cold: a cold ticker reads its champion (one query for the batch), its
  bars (one query, no pandas frame) and, past the kept sessions, its ONNX graph to build a
  session; its live-accuracy record is written with the batch's in one statement. With
  sessions kept for every ticker served (`TICKERCAST_ONNX_CACHE_SIZE` at least the
  universe) a cold batch after a new bar builds none. Computing the cold tickers on several
  threads measured no faster (the work holds the GIL), so it is not done; several processes
  are not built.
- A default page of 100 holds ten times the items of the page at 10 tickers; with the same
  page size the listings do not grow with the universe. Before `GET /tickers` took its page
  first (`app/prices/store.py:list_tickers`), it aggregated every ticker's bars for any page:
  616 ms p50 for the first page at 1,000 tickers against 7.7 ms at 10, in this bench's first
  run (2026-12-07, the same machine).
- Training throughput: both backends start a fresh process per job (the local dispatcher
  spawns one; an RQ worker forks one, and neither parent has imported TensorFlow), so each
  job pays the time outside its stages again. A trainer that keeps TensorFlow imported
  across jobs (the issue's warm trainer) is not built, and how this overhead compares with a
  default job's time is not measured here: only tiny jobs were run.
"""


def machine() -> str:
    load = os.getloadavg()[0]
    return (
        f"{platform.machine()}, {os.cpu_count()} cores (load average {load:.1f} at the end), "
        f"Python {platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--no-write", action="store_true", help="print, do not write the file")
    parser.add_argument(
        "--only",
        choices=("retention", "universe", "forecasts", "sessions", "throughput"),
        help="one part (the section holds it alone)",
    )
    parser.add_argument("--jobs", type=int, default=JOBS, help="tiny jobs per backend")
    parser.add_argument(
        "--compare-tree",
        type=Path,
        help="with --only forecasts: a checkout of other code whose cold batches are timed in "
        "turn with this tree's",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="with --only forecasts: print where one cold batch spends its time (cProfile)",
    )
    args = parser.parse_args()
    started = dt.datetime.now(dt.UTC)
    print("training the tiny network once", flush=True)
    trained = train_once()
    body: list[str] = []
    commands = "python -m bench.scale" + (" --no-postgres" if args.no_postgres else "")
    with tempfile.TemporaryDirectory(prefix="tickercast-scale-") as tmp:
        work = Path(tmp)
        if args.only in (None, "universe"):
            small = build_universe(work, trained, REFERENCE)
            big = build_universe(work, trained, UNIVERSE)
            small_served = serve_universe(small, trained, batch=None)
            big_served = serve_universe(big, trained, batch=BATCH)
            sized = serve_universe(
                big,
                trained,
                batch=BATCH,
                listings=False,
                days=(dt.date(2019, 1, 4), dt.date(2019, 1, 7)),
                onnx_cache=UNIVERSE,
            )
            passes = scheduler_passes(big)
            body += [
                f"The universe of {UNIVERSE:,} took {big.build_seconds:.0f} s to build "
                f"({mb(big.bytes)} of SQLite).",
                "",
                *listing_section(big_served, small_served),
                *batch_section(big_served, sized),
                *scheduler_section(passes),
            ]
        if args.only == "forecasts":
            big = build_universe(work, trained, UNIVERSE)
            default = serve_universe(big, trained, batch=BATCH, listings=False)
            sized = serve_universe(
                big,
                trained,
                batch=BATCH,
                listings=False,
                days=(dt.date(2019, 1, 4), dt.date(2019, 1, 7)),
                onnx_cache=UNIVERSE,
            )
            compared = []
            if args.compare_tree is not None:
                days = [d.date() for d in pd.bdate_range("2019-01-09", periods=7)]
                later = [d.date() for d in pd.bdate_range("2019-01-22", periods=7)]
                compared = [
                    compare_cold(big, trained, args.compare_tree, days, 64),
                    compare_cold(big, trained, args.compare_tree, later, UNIVERSE),
                ]
            if args.profile:
                profile_cold(big, trained, dt.date(2019, 2, 1))
            body += [
                f"The universe of {UNIVERSE:,} took {big.build_seconds:.0f} s to build "
                f"({mb(big.bytes)} of SQLite).",
                "",
                *batch_section(default, sized, listings=False),
                *(compare_section(compared) if compared else []),
            ]
        if args.only in (None, "sessions"):
            body += session_section(session_memory(trained))
        if args.only in (None, "throughput"):
            body += throughput_section(throughput(work, trained, args.jobs))
        if args.only in (None, "retention"):
            runs: list[RetentionRun] = []
            for scenario, mode in (("champion moves", moving), ("champion stays at v1", sitting)):
                with sqlite_database(work, scenario.split()[1]) as url:
                    runs.append(
                        retention_run(url, trained, backend="SQLite", scenario=scenario, mode=mode)
                    )
                if not args.no_postgres:
                    with postgres_database(scenario.split()[1]) as url:
                        runs.append(
                            retention_run(
                                url, trained, backend="PostgreSQL", scenario=scenario, mode=mode
                            )
                        )
            body += [*retention_section(runs, blob_sizes(trained)), *bytes_section(runs)]
    lines = [
        MARKER,
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC on {machine()}, by `{commands}` (`make "
        "bench-scale`). The tiny network was trained for real once "
        f"({trained.seconds:.0f} s) and registered for every ticker through the pipeline's "
        "registration steps (`build_version`, `gate_and_register`: registry lock, champion "
        "gate, alias); bars are the shipped ^GSPC series (5,031 days) under many names, each "
        "scaled by its own factor.",
        "",
        *body,
        READING,
    ]
    text_out = "\n".join(lines)
    print(text_out)
    if not args.no_write:
        replace_section(text_out)


if __name__ == "__main__":
    main()
