"""Concurrent imports against a running `tickercast serve`, with /healthz asked every 10 ms
meanwhile: `python -m bench.concurrent_imports URL` (README, Reliability).

Three rounds: 8 simultaneous `PUT /prices` of one ticker, 3,000 rows of the shipped ^GSPC
series each at other prices (then which file the stored bars are); 2 whole-file imports of
two tickers at once; one 100,000-row import and two at once (one bar a day from 1900-01-01,
with ?strict=false since most are not sessions). Start the service with
TICKERCAST_MAX_UPLOAD_BYTES above the large files' 6 MB and with its default price source off
(TICKERCAST_PRICE_SOURCE=none) on an empty database.
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
import time
from pathlib import Path

import httpx

SAMPLE = Path(__file__).resolve().parents[1] / "app" / "data" / "GSPC.csv"
HEADER, *BARS = SAMPLE.read_text().splitlines()


def scaled(factor: float, rows: int) -> bytes:
    """The sample's first `rows` bars with every price times `factor`."""
    out = [HEADER]
    for line in BARS[:rows]:
        day, *numbers = line.split(",")
        out.append(
            ",".join([day, *(f"{float(x) * factor:.4f}" for x in numbers[:5]), *numbers[5:]])
        )
    return ("\n".join(out) + "\n").encode()


def daily(rows: int) -> bytes:
    """One bar a day from 1900-01-01."""
    lines = [HEADER]
    for i in range(rows):
        close = 100 + (i % 500) / 10
        day = dt.date(1900, 1, 1) + dt.timedelta(days=i)
        lines.append(f"{day},{close},{close + 1},{close - 1},{close},{close},1000")
    return ("\n".join(lines) + "\n").encode()


def ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def round_of(url: str, name: str, uploads: list[tuple[str, bytes]]) -> None:
    """Send the uploads at once; print their statuses and times and /healthz's delays."""
    stop = threading.Event()
    probes: list[float] = []

    def probe() -> None:
        with httpx.Client(base_url=url, timeout=300) as http:
            while not stop.is_set():
                started = time.perf_counter()
                http.get("/healthz")
                probes.append(time.perf_counter() - started)
                time.sleep(0.01)

    answers: dict[int, tuple[int, float]] = {}

    def put(i: int, path: str, body: bytes) -> None:
        started = time.perf_counter()
        resp = httpx.put(
            url + path, content=body, headers={"Content-Type": "text/csv"}, timeout=600
        )
        answers[i] = (resp.status_code, time.perf_counter() - started)

    prober = threading.Thread(target=probe)
    prober.start()
    time.sleep(0.3)
    started = time.perf_counter()
    threads = [threading.Thread(target=put, args=(i, *u)) for i, u in enumerate(uploads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    time.sleep(0.3)
    stop.set()
    prober.join()
    print(
        f"{name}: {wall:.2f} s in all; statuses {[answers[i][0] for i in sorted(answers)]}; "
        f"each {[round(answers[i][1], 2) for i in sorted(answers)]} s\n"
        f"  healthz: {len(probes)} probes, p50 {ms(probes, 0.5):.1f} ms, "
        f"p99 {ms(probes, 0.99):.1f} ms, max {max(probes) * 1000:.1f} ms"
    )


def main(url: str) -> None:
    files = [scaled(1 + k / 100, 3000) for k in range(8)]
    round_of(url, "8 imports of one ticker, 3,000 rows each", [("/prices/ONE", f) for f in files])
    stored = [round(b["close"], 4) for b in httpx.get(f"{url}/prices/ONE").json()["bars"]]
    whose = [
        k
        for k, f in enumerate(files)
        if stored == [round(float(x.split(b",")[4]), 4) for x in f.splitlines()[1:]]
    ]
    print(f"  stored: {len(stored)} bars, exactly file(s) {whose}")
    whole = [scaled(1.0, len(BARS)), scaled(1.01, len(BARS))]
    round_of(
        url,
        "2 whole-file imports of two tickers",
        [("/prices/TWO-A", whole[0]), ("/prices/TWO-B", whole[1])],
    )
    big = daily(100_000)
    round_of(url, "1 import of 100,000 rows", [("/prices/BIG?strict=false", big)])
    round_of(
        url,
        "2 imports of 100,000 rows, two tickers",
        [("/prices/BIG-A?strict=false", big), ("/prices/BIG-B?strict=false", big)],
    )


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/"))
