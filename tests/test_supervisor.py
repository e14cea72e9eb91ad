"""The API's supervisor notices a worker that died while its liveness ping was in flight."""

from __future__ import annotations

import multiprocessing
import threading
import time
from multiprocessing.connection import Connection

from app.supervisor import answers

# uvicorn's wait for a ping's answer in `tickercast serve` (app/cli.py).
HEALTHCHECK = 60.0


def pong_once(conn: Connection) -> None:
    conn.recv()
    conn.send(True)


def never_answers(conn: Connection) -> None:
    conn.recv()
    time.sleep(3600)


def test_a_live_worker_answers_the_ping() -> None:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    worker = ctx.Process(target=pong_once, args=(child,))
    worker.start()
    try:
        assert answers(parent, worker, HEALTHCHECK)
    finally:
        worker.join(timeout=30)


def test_a_worker_killed_mid_ping_is_given_up_in_a_slice_not_the_whole_timeout() -> None:
    ctx = multiprocessing.get_context("spawn")
    # The parent keeps the child's end open, as uvicorn's supervisor does: no EOF on death.
    parent, child = ctx.Pipe()
    worker = ctx.Process(target=never_answers, args=(child,))
    worker.start()
    result: dict[str, float | bool] = {}

    def ping() -> None:
        started = time.monotonic()
        result["answered"] = answers(parent, worker, HEALTHCHECK)
        result["took"] = time.monotonic() - started

    pinger = threading.Thread(target=ping)
    pinger.start()
    time.sleep(1.0)  # the ping is in flight and unanswered
    worker.kill()
    pinger.join(timeout=HEALTHCHECK)
    worker.join(timeout=30)
    assert result["answered"] is False
    assert 1.0 <= result["took"] < 3.0, result
    print(f"worker killed mid-ping: given up {result['took'] - 1.0:.2f} s after the kill")
