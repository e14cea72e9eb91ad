"""`make bench-conditional`: a revalidated forecast (304) against the same forecast served from
the cache (200), in requests per second and bytes on the wire, measured in the same run
(`python -m bench.conditional`; writes its section of BENCHMARKS.md).

The database is bench/serve.py's: 50 tickers of the shipped ^GSPC series, scaled, each with a
champion of the default architecture. One `tickercast serve` worker, pinned to one core; `wrk`
(Debian's package) on the other, 16 connections, a random ticker per request. Every forecast
is asked once first, so the 200 rounds are cache hits; the 304 rounds send each ticker's
current ETag as If-None-Match. Rounds alternate so that a machine shared with others weighs
on both alike. Bytes are what wrk read (status line, headers and body) per answer.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.jobs.local import settings_env
from bench.sections import replace_section
from bench.serve import (
    CONNECTIONS,
    LOAD_CPU,
    SECONDS,
    SERVER_CPU,
    TICKERS,
    build_fixture,
    serving,
    tickercast,
)

MARKER = "## Conditional requests (`make bench-conditional`)"
ROUNDS = 3
_BYTES = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


@dataclass
class Round:
    rps: float
    bytes_per_answer: float
    statuses_ok: bool


def _size(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)([KMG]?B)", text).groups()  # type: ignore[union-attr]
    return float(value) * _BYTES[unit]


def wrk_round(base: str, requests: list[tuple[str, str | None]], work: Path) -> Round:
    """One wrk round on random (path, If-None-Match) pairs; wrk pinned to its own core."""
    script = work / "conditional.lua"
    entries = ", ".join(
        f'{{"{path}", {"nil" if tag is None else f"[[{tag}]]"}}}' for path, tag in requests
    )
    script.write_text(
        f"requests = {{{entries}}}\n"
        "math.randomseed(os.time())\n"
        "bad = 0\n"
        "request = function()\n"
        "  local r = requests[math.random(#requests)]\n"
        "  local headers = {}\n"
        '  if r[2] then headers["If-None-Match"] = r[2] end\n'
        '  return wrk.format("GET", r[1], headers)\n'
        "end\n"
        "response = function(status, headers, body)\n"
        "  if status ~= 200 and status ~= 304 then bad = bad + 1 end\n"
        "end\n"
        'done = function(summary, latency, requests) io.write("bad " .. bad .. "\\n") end\n'
    )
    out = subprocess.run(
        ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{SECONDS}s"]
        + ["-s", str(script), base],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    transfer = _size(re.search(r"Transfer/sec:\s+([\d.]+[KMG]?B)", out).group(1))  # type: ignore[union-attr]
    bad = int(re.search(r"^bad (\d+)$", out, re.M).group(1))  # type: ignore[union-attr]
    return Round(rps, transfer / rps, bad == 0 and "Non-2xx" not in out)


def main() -> None:
    if subprocess.run(["which", "wrk"], capture_output=True).returncode != 0:
        raise SystemExit("wrk is needed: apt-get install wrk")
    with tempfile.TemporaryDirectory(prefix="tickercast-bench-conditional-") as tmp:
        work = Path(tmp)
        fixture = build_fixture(work)
        env = settings_env(fixture.settings)
        paths = [f"/forecast/{t}?horizon=5" for t in TICKERS]
        with serving(tickercast(fixture.settings, 1), env, work / "serve.log", SERVER_CPU) as (
            url,
            _proc,
        ):
            tags = {}
            sizes = {}
            with httpx.Client(base_url=url, timeout=60) as http:
                for path in paths:
                    first = http.get(path)
                    first.raise_for_status()
                    tags[path] = first.headers["ETag"]
                    sizes[path] = len(first.content)
                    again = http.get(path, headers={"If-None-Match": tags[path]})
                    assert again.status_code == 304 and again.content == b"", again
            full: list[tuple[str, str | None]] = [(path, None) for path in paths]
            revalidated: list[tuple[str, str | None]] = [(path, tags[path]) for path in paths]
            rounds: dict[str, list[Round]] = {"200": [], "304": []}
            for _ in range(ROUNDS):
                rounds["200"].append(wrk_round(url, full, work))
                rounds["304"].append(wrk_round(url, revalidated, work))
    write(rounds, statistics.fmean(sizes.values()))


def write(rounds: dict[str, list[Round]], body_bytes: float) -> None:
    ok = all(r.statuses_ok for rs in rounds.values() for r in rs)
    rps = {k: statistics.fmean(r.rps for r in v) for k, v in rounds.items()}
    size = {k: statistics.fmean(r.bytes_per_answer for r in v) for k, v in rounds.items()}
    load = os.getloadavg()
    lines = [
        MARKER,
        "",
        f"Measured {dt.date.today()} on {platform.machine()}, {os.cpu_count()} cores "
        f"(load average {load[0]:.1f} at the end), by `python -m bench.conditional`: one "
        f"`tickercast serve` worker on core {SERVER_CPU}, wrk on core {LOAD_CPU}, "
        f"{CONNECTIONS} connections, {ROUNDS} alternating rounds of {SECONDS} s each, "
        f"`GET /forecast/{{ticker}}?horizon=5` over {len(TICKERS)} tickers, every answer a "
        "cache hit. The 304 rounds send the ticker's ETag as If-None-Match.",
        "",
        "| answer | requests/s (each round) | bytes per answer (status line, headers, body) |",
        "| --- | --- | --- |",
    ]
    for name, label in (("200", "200, cached forecast"), ("304", "304, revalidated")):
        each = ", ".join(f"{r.rps:,.0f}" for r in rounds[name])
        lines.append(f"| {label} | {rps[name]:,.0f} ({each}) | {size[name]:,.0f} |")
    lines += [
        "",
        f"A 304 answers {rps['304'] / rps['200']:.2f} times as many requests per second as a "
        f"cached 200 and sends {size['304'] / size['200']:.1%} of its bytes (the forecast's "
        f"JSON body alone is {body_bytes:,.0f} bytes). Both cost the same one primary-key read "
        "of the ticker's serving token; the 304 skips the cache lookup and the body. "
        + ("Every answer was a 200 or a 304." if ok else "SOME ANSWERS WERE NEITHER 200 NOR 304."),
    ]
    replace_section("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
