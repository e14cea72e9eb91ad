"""`make bench-serve`: how fast the service serves, each figure a ratio against a reference
measured in the same run (`python -m bench.serve`; writes its section of BENCHMARKS.md).

A temporary SQLite database gets 50 tickers (the shipped ^GSPC series, scaled per ticker),
each with a version whose ONNX graph is the default architecture's (a seed ensemble of 3
LSTMs [64, 32], lookback 60, trained for one epoch: speed does not depend on the weights).
Load comes from `wrk` (Debian's package: `apt-get install wrk`), 16 connections, one thread,
a random ticker per request, servers on 127.0.0.1 only. Rounds alternate between the route
and its reference so that a machine shared with others weighs on both alike.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from app.core.config import Settings
from app.db import migrate
from app.db.engine import session_scope
from app.jobs.local import settings_env
from app.prices import store
from app.prices.csv_format import parse_price_csv
from app.registry import versions
from app.training.pipeline import Prices, build_version
from app.training.spec import TrainingSpec
from bench.sections import replace_section
from models.config import TrainingConfig

ROOT = Path(__file__).resolve().parents[1]
MARKER = "## Serving (`make bench-serve`)"
SAMPLE = ROOT / "app" / "data" / "GSPC.csv"
TICKERS = [f"T{i:02d}" for i in range(50)]
SECONDS = 8  # per wrk round
CONNECTIONS = 16
ROUNDS = 2
NEW_VERSIONS = 20  # target 3
SERVED_VERSIONS = 200  # target 8
TRAIN_EPOCHS = 3  # targets 6 and 7: real training, bounded; patience 5 lets every epoch run
SERVER_CPU, LOAD_CPU = "0", "1"


@dataclass
class Wrk:
    rps: float
    p50_ms: float
    p99_ms: float


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def wrk(base: str, paths: list[str], work: Path, method: str = "GET") -> Wrk:
    """One wrk round on random paths; the load generator pinned to its own core."""
    script = work / "paths.lua"
    quoted = ", ".join(f'"{p}"' for p in paths)
    script.write_text(
        f"paths = {{{quoted}}}\n"
        "math.randomseed(os.time())\n"
        f'request = function() return wrk.format("{method}", paths[math.random(#paths)]) end\n'
    )
    cmd = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{SECONDS}s"]
    out = subprocess.run(
        [*cmd, "--latency", "-s", str(script), base], capture_output=True, text=True, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    if re.search(r"Non-2xx or 3xx responses", out):
        raise RuntimeError(f"wrk saw errors on {base}{paths[0]}:\n{out}")
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    return Wrk(rps, _ms(pct["50"]), _ms(pct["99"]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(
    cmd: list[str], env: dict[str, str], log: Path, cpus: str | None, cwd: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A server process on a free port, until it answers; stopped at the end. `cwd` runs it
    from another source tree (`python -m` imports the tree it starts in)."""
    port = free_port()
    pin = ["taskset", "-c", cpus] if cpus else []
    args = [a.replace("{port}", str(port)) for a in cmd]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*pin, *args], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/healthz" if "app.cli" in args else f"{url}/json").is_success:
                break
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server did not start: {log.read_text()[-3000:]}")
        time.sleep(0.3)
    try:
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def tickercast(settings: Settings, workers: int) -> list[str]:
    return [sys.executable, "-m", "app.cli", "serve", "--port", "{port}", "--no-migrate"] + [
        "--workers",
        str(workers),
    ]


BARE = [
    sys.executable,
    "-m",
    "uvicorn",
    "bench.bare_app:create_bare_app",
    "--factory",
    "--port",
    "{port}",
    # The same settings as `tickercast serve` (app/cli.py).
    "--loop",
    "uvloop",
    "--http",
    "httptools",
    "--no-access-log",
    "--log-level",
    "info",
]


@dataclass
class Fixture:
    settings: Settings
    work: Path
    onnx_file: Path
    result: Any
    frames: dict[str, Any]


def _register(fixture: Fixture, ticker: str, *, champion: bool = True) -> int:
    """A new version of `ticker` with the default architecture's graph; its number."""
    spec = TrainingSpec.from_dict({"epochs": 1})
    prices = Prices(fixture.frames[ticker], "XNYS", None)
    new = build_version(ticker, spec, prices, fixture.result, job_id=None)
    # Smaller rows: forecasts read neither the Keras file nor the backtest windows.
    new = dataclasses.replace(new, keras_model=b"", backtest=None)
    with session_scope(fixture.settings.resolved_database_url()) as session:
        row = versions.register_version(session, new=new)
        if champion:
            versions.set_alias(session, ticker=ticker, alias=versions.CHAMPION, version=row.version)
        return row.version


def build_fixture(work: Path) -> Fixture:
    """The database: 50 tickers with bars and a champion of the default architecture."""
    from models.train import train

    db = work / "tickercast.db"
    settings = Settings(
        data_dir=work,
        database_url=f"sqlite:///{db}",
        price_source="none",
        job_supervisor=True,
        workers=1,
    )
    migrate.upgrade(settings.resolved_database_url())
    sample = parse_price_csv(SAMPLE.read_bytes())
    print("training the default architecture for one epoch (its graph is what is served)")
    result = train(sample["close"].to_numpy(), TrainingConfig(epochs=1))
    onnx_file = work / "default.onnx"
    onnx_file.write_bytes(result.onnx_bytes)
    frames = {}
    with session_scope(settings.resolved_database_url()) as session:
        for i, ticker in enumerate(TICKERS):
            frame = sample * (1 + i / 100)
            frames[ticker] = frame
            store.ensure_ticker(session, ticker=ticker, calendar="XNYS", source="csv")
            store.upsert_bars(session, ticker=ticker, frame=frame)
    fixture = Fixture(settings, work, onnx_file, result, frames)
    for ticker in TICKERS:
        _register(fixture, ticker)
    return fixture


def forecast_paths(tickers: list[str] = TICKERS) -> list[str]:
    return [f"/forecast/{t}?horizon=5" for t in tickers]


def warm(url: str, paths: list[str]) -> None:
    with httpx.Client(base_url=url, timeout=60) as http:
        for path in paths:
            http.get(path).raise_for_status()


def alternate(rounds: dict[str, tuple[str, list[str]]], work: Path) -> dict[str, list[Wrk]]:
    """ROUNDS rounds, each measuring every (url, paths) once, in order."""
    out: dict[str, list[Wrk]] = {name: [] for name in rounds}
    for _ in range(ROUNDS):
        for name, (base, paths) in rounds.items():
            out[name].append(wrk(base, paths, work))
    return out


def mean(values: list[float]) -> float:
    return statistics.fmean(values)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def throughput_and_latency(
    fixture: Fixture,
    rows: list[str],
    verdicts: list[str],
    *,
    compare_tree: Path | None = None,
    only: bool = False,
) -> None:
    """Targets 1, 2, 3, 4 and 8 on one tickercast process pinned to its core; with `only`,
    targets 1 and 2 alone. `compare_tree` (a checkout of other code) is served as well, on
    the same core, and its /healthz and cached forecasts measured in the same rounds."""
    env = settings_env(fixture.settings.model_copy(update={"job_supervisor": False}))
    bare_env = {**env, "BENCH_ONNX_FILE": str(fixture.onnx_file)}
    log = fixture.work / "serve.log"
    with contextlib.ExitStack() as stack:
        url, proc = stack.enter_context(
            serving(tickercast(fixture.settings, 1), env, log, SERVER_CPU)
        )
        bare, _ = stack.enter_context(
            serving(BARE, bare_env, fixture.work / "bare.log", SERVER_CPU)
        )
        warm(url, forecast_paths())
        routes = {
            "healthz": (url, ["/healthz"]),
            "forecast": (url, forecast_paths()),
            "bare_async": (bare, ["/async-json"]),
            "bare_def": (bare, ["/json"]),
            "onnx": (bare, ["/onnx"]),
        }
        if compare_tree is not None:
            before_url, _ = stack.enter_context(
                serving(
                    tickercast(fixture.settings, 1),
                    env,
                    fixture.work / "before.log",
                    SERVER_CPU,
                    cwd=compare_tree,
                )
            )
            warm(before_url, forecast_paths())
            routes["healthz_before"] = (before_url, ["/healthz"])
            routes["forecast_before"] = (before_url, forecast_paths())
        got = alternate(routes, fixture.work)
        rps = {k: [w.rps for w in v] for k, v in got.items()}
        p99 = {k: [w.p99_ms for w in v] for k, v in got.items()}
        p50 = {k: [w.p50_ms for w in v] for k, v in got.items()}
        names = {
            "healthz": "tickercast `GET /healthz`",
            "forecast": "tickercast `GET /forecast/{random of 50}?horizon=5`, cached",
            "onnx": "bare FastAPI `def` route running one ONNX Runtime session (default graph)",
            "bare_def": "bare FastAPI, one `def` JSON route",
            "bare_async": "bare FastAPI, one `async def` JSON route",
        }
        if compare_tree is not None:
            names["healthz_before"] = "`GET /healthz` of the code before (`--compare-tree`)"
            names["forecast_before"] = "cached forecasts of the code before (`--compare-tree`)"
        rows.append("| server and route | requests/s per round | p50 ms | p99 ms |")
        rows.append("| --- | --- | --- | --- |")
        for key, name in names.items():
            rounds = ", ".join(f"{r:,.0f}" for r in rps[key])
            rows.append(f"| {name} | {rounds} | {mean(p50[key]):.2f} | {mean(p99[key]):.2f} |")
        r1 = mean(rps["forecast"]) / mean(rps["healthz"])
        p1 = mean(p99["forecast"]) / mean(p99["healthz"])
        onnx = mean(rps["forecast"]) / mean(rps["onnx"])
        r2 = mean(rps["healthz"]) / mean(rps["bare_async"])
        r2_def = mean(rps["healthz"]) / mean(rps["bare_def"])
        verdicts.append(row("1", "forecast / healthz throughput", r1, ">= 0.9", r1 >= 0.9))
        verdicts.append(row("1", "forecast / healthz p99", p1, "<= 2", p1 <= 2))
        verdicts.append(row("1", "forecast / one-ONNX-run route throughput", onnx, "> 1", onnx > 1))
        verdicts.append(
            row("2", "healthz / bare `async def` route (same kind)", r2, ">= 0.8", r2 >= 0.8)
        )
        verdicts.append(
            row(
                "2",
                "healthz / bare `def` route (the issue's reference)",
                r2_def,
                ">= 0.8",
                r2_def >= 0.8,
            )
        )
        if compare_tree is not None:
            old_r2 = mean(rps["healthz_before"]) / mean(rps["bare_async"])
            old_r1 = mean(rps["forecast_before"]) / mean(rps["healthz_before"])
            old_p1 = mean(p99["forecast_before"]) / mean(p99["healthz_before"])
            for target, what, value in (
                ("1", "the code before: forecast / healthz throughput", old_r1),
                ("1", "the code before: forecast / healthz p99", old_p1),
                ("2", "the code before: healthz / bare `async def` route", old_r2),
            ):
                verdicts.append(row(target, what, value, "", None))
        if only:
            return

        # Target 3: the first forecast of a version just registered.
        first = []
        with httpx.Client(base_url=url, timeout=60) as http:
            http.get("/healthz")
            for ticker in TICKERS[:NEW_VERSIONS]:
                _register(fixture, ticker)
                started = time.perf_counter()
                http.get(f"/forecast/{ticker}?horizon=5").raise_for_status()
                first.append((time.perf_counter() - started) * 1000)
            hit = []
            for ticker in TICKERS[:NEW_VERSIONS]:
                started = time.perf_counter()
                http.get(f"/forecast/{ticker}?horizon=5").raise_for_status()
                hit.append((time.perf_counter() - started) * 1000)
        p50_first = statistics.median(first)
        verdicts.append(
            row("3", "first forecast of a new version, p50 ms", p50_first, "<= 30", p50_first <= 30)
        )
        rows.append("")
        rows.append(
            f"First forecast of {NEW_VERSIONS} versions just registered (nothing cached, the "
            f"ONNX session built): p50 {p50_first:.1f} ms, max {max(first):.1f} ms; the same "
            f"requests again (cached): p50 {statistics.median(hit):.2f} ms; one client, "
            "one request at a time."
        )

        # Target 4: one batch of 50 against 50 requests one after another.
        batch_s, single_s = [], []
        with httpx.Client(base_url=url, timeout=60) as http:
            body = {"tickers": TICKERS, "horizon": 5}
            http.post("/forecasts", json=body).raise_for_status()
            for _ in range(10):
                started = time.perf_counter()
                resp = http.post("/forecasts", json=body)
                batch_s.append(time.perf_counter() - started)
                assert resp.json()["failed"] == 0
                started = time.perf_counter()
                for path in forecast_paths():
                    http.get(path).raise_for_status()
                single_s.append(time.perf_counter() - started)
        r4 = statistics.median(batch_s) / statistics.median(single_s)
        verdicts.append(
            row("4", "POST /forecasts (50) / 50 GETs in a row", r4, "<= 0.2", r4 <= 0.2)
        )
        rows.append(
            f"`POST /forecasts` with 50 tickers: median {statistics.median(batch_s) * 1000:.1f} "
            f"ms; 50 `GET /forecast` one after another on one keep-alive connection: median "
            f"{statistics.median(single_s) * 1000:.1f} ms (10 alternations, cached answers)."
        )

        # Target 8: resident memory after serving 200 different versions.
        before = rss_mb(proc.pid)
        served: list[tuple[str, int]] = []
        while len(served) < SERVED_VERSIONS:
            for ticker in TICKERS:
                served.append((ticker, _register(fixture, ticker, champion=False)))
        with httpx.Client(base_url=url, timeout=60) as http:
            for ticker, version in served[:SERVED_VERSIONS]:
                http.get(f"/forecast/{ticker}?version={version}").raise_for_status()
        after = rss_mb(proc.pid)
        verdicts.append(row("8", "API RSS after 200 versions, MB", after, "<= 600", after <= 600))
        rows.append(
            f"API process RSS: {before:.0f} MB before, {after:.0f} MB after serving "
            f"{SERVED_VERSIONS} different versions (ONNX sessions kept: "
            f"TICKERCAST_ONNX_CACHE_SIZE={fixture.settings.onnx_cache_size})."
        )


def row(target: str, what: str, value: float, goal: str, met: bool | None) -> str:
    verdict = "no target" if met is None else "met" if met else "**missed**"
    return f"| {target} | {what} | {value:.3g} | {goal} | {verdict} |"


def workers(fixture: Fixture, rows: list[str], verdicts: list[str]) -> None:
    """Target 5: two API processes against one (both unpinned; wrk on its own core)."""
    env = settings_env(fixture.settings.model_copy(update={"job_supervisor": False}))
    log = fixture.work / "workers.log"
    with (
        serving(tickercast(fixture.settings, 1), env, log, None) as (one, _),
        serving(tickercast(fixture.settings, 2), env, log, None) as (two, _),
    ):
        warm(one, forecast_paths())
        for _ in range(8):  # both processes of `two` answer some of them
            warm(two, forecast_paths())
        got = alternate(
            {"one": (one, forecast_paths()), "two": (two, forecast_paths())}, fixture.work
        )
    r5 = mean([w.rps for w in got["two"]]) / mean([w.rps for w in got["one"]])
    verdicts.append(row("5", "--workers 2 / --workers 1 forecast throughput", r5, "(none)", None))
    rows.append(
        f"`--workers 2` against `--workers 1`, cached forecasts: "
        f"{', '.join(f'{w.rps:,.0f}' for w in got['two'])} against "
        f"{', '.join(f'{w.rps:,.0f}' for w in got['one'])} requests/s. wrk was pinned to core "
        f"{LOAD_CPU}; the servers could use both cores, so two workers share them with wrk."
    )


def _job(http: httpx.Client, seed: int) -> str:
    body = {"ticker": TICKERS[0], "epochs": TRAIN_EPOCHS, "seed": seed}
    resp = http.post("/train", json=body)
    resp.raise_for_status()
    return str(resp.json()["id"])


def _wait(http: httpx.Client, job_id: str, *, training: bool) -> dict[str, Any]:
    """The job once it is past its first epoch (training=True) or finished."""
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        job = http.get(f"/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            if job["status"] != "succeeded":
                raise RuntimeError(f"the training job ended {job['status']}: {job['error']}")
            return job  # type: ignore[no-any-return]
        progress = job.get("progress") or {}
        if training and progress.get("stage") == "training" and progress.get("epoch", 0) >= 1:
            return job  # type: ignore[no-any-return]
        time.sleep(0.5)
    raise RuntimeError("the training job did not finish")


def training(fixture: Fixture, rows: list[str], verdicts: list[str]) -> None:
    """Targets 6 and 7: forecast p99 while a job trains; the job against a bare fit."""
    env = settings_env(fixture.settings)
    with serving(tickercast(fixture.settings, 1), env, fixture.work / "train.log", None) as (
        url,
        _,
    ):
        warm(url, forecast_paths())
        http = httpx.Client(base_url=url, timeout=60)
        idle = [wrk(url, forecast_paths(), fixture.work)]
        job_id = _job(http, seed=42)
        _wait(http, job_id, training=True)
        busy = [wrk(url, forecast_paths(), fixture.work)]
        job = http.get(f"/jobs/{job_id}").json()
        still = job["status"] == "running"
        _wait(http, job_id, training=False)
        idle.append(wrk(url, forecast_paths(), fixture.work))
        # Target 7 on a job with no HTTP load beside it.
        clean_id = _job(http, seed=43)
        clean = _wait(http, clean_id, training=False)
        version = clean["model_version"]
        detail = http.get(f"/models/{TICKERS[0]}/versions/{version}").json()
        http.close()
    r6 = busy[0].p99_ms / mean([w.p99_ms for w in idle])
    verdicts.append(row("6", "forecast p99 while training / idle", r6, "<= 2", r6 <= 2))
    rows.append(
        f"Forecast p99 idle {', '.join(f'{w.p99_ms:.1f}' for w in idle)} ms (before and after "
        f"the job), while a job trained {busy[0].p99_ms:.1f} ms (throughput "
        f"{mean([w.rps for w in idle]):,.0f} against {busy[0].rps:,.0f} requests/s; the job "
        f"was {'still' if still else 'no longer'} training at the end of the round). The "
        "training process ran at TICKERCAST_TRAINING_NICE="
        f"{fixture.settings.training_nice} with "
        f"{fixture.settings.resolved_training_threads()} TensorFlow intra-op thread(s)."
    )
    timings = detail["metrics"]["timings"]
    members = detail["metrics"]["members"]
    stages = {k: v for k, v in timings.items() if k.endswith("_seconds") and v is not None}
    job_s = sum(stages.values())
    started = dt.datetime.fromisoformat(clean["started_at"])
    finished = dt.datetime.fromisoformat(clean["finished_at"])
    wall_s = (finished - started).total_seconds()
    bare = bare_fit([m["epochs_run"] for m in members], fixture)
    r7 = job_s / bare
    verdicts.append(row("7", "training job stages / bare Keras fits", r7, "<= 1.2", r7 <= 1.2))
    verdicts.append(
        row(
            "7",
            "training job start to end (with process start) / bare fits",
            wall_s / bare,
            "<= 1.2",
            wall_s / bare <= 1.2,
        )
    )
    stage_text = ", ".join(f"{k.removesuffix('_seconds')} {v:.1f}" for k, v in stages.items())
    rows.append(
        f"Training job (default configuration, {TRAIN_EPOCHS} epochs, ensemble of "
        f"{len(members)}): its stages add up to {job_s:.1f} s ({stage_text}); from the job's "
        f"start to its end {wall_s:.1f} s. Bare `model.fit` of the same members on the same "
        f"arrays for the same epochs, same threads and niceness, in a fresh process: "
        f"{bare:.1f} s."
    )


def bare_fit(epochs: list[int], fixture: Fixture) -> float:
    """Seconds of `python -m bench.bare_fit` fitting each member for its epochs."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.bare_fit", *map(str, epochs)],
        env=settings_env(fixture.settings),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    """Run every serving benchmark and write its section of BENCHMARKS.md."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--only",
        choices=("throughput",),
        help="targets 1 and 2 alone (throughput and latency against the references); printed, "
        "not written",
    )
    parser.add_argument(
        "--compare-tree",
        type=Path,
        help="a checkout of other code, served beside this tree's and measured in the same "
        "rounds (its /healthz and cached forecasts)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench-serve needs wrk: apt-get install wrk")
    started = time.perf_counter()
    load = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="tickercast-bench-serve-"))
    rows: list[str] = []
    verdicts = [
        "| target | figure | measured | target | verdict |",
        "| --- | --- | --- | --- | --- |",
    ]
    try:
        fixture = build_fixture(work)
        rows.append("### Throughput and latency (one process, pinned to core 0; wrk on core 1)")
        rows.append("")
        throughput_and_latency(
            fixture,
            rows,
            verdicts,
            compare_tree=args.compare_tree,
            only=args.only == "throughput",
        )
        if args.only is None:
            rows.append("")
            workers(fixture, rows, verdicts)
            rows.append("")
            training(fixture, rows, verdicts)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    end_load = os.getloadavg()
    header = (
        f"{MARKER}\n\n"
        f"Written by `python -m bench.serve` on {dt.date.today()}, {platform.machine()}, "
        f"{os.cpu_count()} cores shared with other work, Python {platform.python_version()}, "
        f"in {(time.perf_counter() - started) / 60:.0f} minutes; load average (1, 5, 15 min) "
        f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the start, {end_load[0]:.1f} "
        f"{end_load[1]:.1f} {end_load[2]:.1f} at the end. Each wrk round: "
        f"`wrk -t1 -c{CONNECTIONS} -d{SECONDS}s --latency -s paths.lua URL` (a random path "
        f"of the list per request), pinned with `taskset -c {LOAD_CPU}`; {ROUNDS} rounds "
        "alternating between a route and its references. Servers: `tickercast serve "
        "--workers N` (uvloop, httptools, one log line per request to a file) and the "
        "references in `bench/bare_app.py` under `uvicorn --loop uvloop --http httptools "
        "--no-access-log`.\n\n"
    )
    text = header + "\n".join(verdicts) + "\n\n" + "\n".join(rows) + "\n"
    if args.only is None:
        replace_section(text)
    print(text)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
