"""Webhooks from real services: a delivery outlives a kill -9 of the service between its event
and its delivery, and a receiver that answers slowly holds up neither forecasts nor training."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from app.core.config import Settings
from tests.conftest import TINY_REQUEST
from tests.e2e.live import start
from tests.e2e.test_rq_scale_out import free_port, stop
from tests.webhooks.receiver import receiving

# A live service, killed and started again, and receivers in their own processes.
pytestmark = pytest.mark.live


def cli(*args: str) -> str:
    """What `tickercast ARGS` prints (wide, as to a file), or the failure."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKERCAST_")}
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env={**env, "COLUMNS": "250"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


HOOKS = {
    "job_supervisor": True,
    "webhook_allow_http": True,
    "webhook_allow_private": True,
    "webhook_backoff_seconds": 0.5,
    "webhook_backoff_max_seconds": 1.0,
    "webhook_timeout_seconds": 8.0,
    "webhook_poll_seconds": 0.2,
    "workers": 1,
}


def test_a_delivery_survives_a_kill_of_the_service_between_the_event_and_its_delivery(
    settings: Settings,
    register_tiny: Callable[..., Any],
    session: Session,
    tmp_path: Path,
) -> None:
    register_tiny("never")  # version 1, no champion yet
    session.commit()
    port = free_port()  # the receiver's; nobody listens there yet
    hooked = settings.model_copy(update=HOOKS)
    service = start(hooked, tmp_path)
    try:
        hook = httpx.post(
            f"{service.url}/webhooks",
            json={"url": f"http://127.0.0.1:{port}/hooks", "events": ["champion.changed"]},
        ).json()
        moved = httpx.put(f"{service.url}/models/%5EGSPC/aliases/champion", json={"version": 1})
        assert moved.status_code == 200, moved.text
        deliveries = f"{service.url}/webhooks/{hook['id']}/deliveries"
        deadline = time.monotonic() + 30
        while not (listed := httpx.get(deliveries).json())[0]["attempts"]:
            assert time.monotonic() < deadline, "the delivery loop never tried"
            time.sleep(0.1)
        assert listed[0]["status"] == "pending" and listed[0]["attempts"][0]["status_code"] is None
    finally:
        os.kill(service.process.pid, signal.SIGKILL)
        service.process.wait(timeout=30)
    with receiving(port) as receiver:
        again = start(hooked, tmp_path)
        try:
            (got,) = receiver.wait_for(1, timeout=60)
            body = got.verified(hook["secret"])
            assert body["type"] == "champion.changed"
            assert body["data"] == {"ticker": "^GSPC", "version": 1, "previous_version": None}
            assert got.headers["webhook-id"] == listed[0]["id"]
            (delivery,) = httpx.get(f"{again.url}/webhooks/{hook['id']}/deliveries").json()
            assert delivery["status"] == "succeeded"
            assert delivery["attempts"][-1]["status_code"] == 200
            assert all(a["status_code"] is None for a in delivery["attempts"][:-1])
            time.sleep(1.0)
            assert len(receiver.received) == 1, "delivered once"
            # The command line shows the receiver and each try's status code.
            listed_cli = cli("webhooks", "--url", again.url)
            assert hook["id"] in listed_cli and "champion.changed succeeded" in listed_cli
            tries = cli("webhooks", "deliveries", hook["id"], "--url", again.url)
            assert delivery["id"] in tries and "succeeded" in tries
            assert f"{'– ' * (len(delivery['attempts']) - 1)}200" in tries
        finally:
            stop(again.process)


def test_a_slow_receiver_holds_up_neither_forecasts_nor_training(
    settings: Settings,
    register_tiny: Callable[..., Any],
    session: Session,
    tmp_path: Path,
) -> None:
    register_tiny("always")  # version 1, champion
    register_tiny("never")  # version 2
    session.commit()
    hooked = settings.model_copy(update=HOOKS)
    with receiving(delay=6.0) as receiver:
        service = start(hooked, tmp_path)
        try:
            http = httpx.Client(base_url=service.url, timeout=60)
            events = ["champion.changed", "job.succeeded", "job.failed"]
            hook = http.post("/webhooks", json={"url": receiver.url, "events": events}).json()
            # Eight champion changes for four sending threads: each busy 6 s per delivery.
            for version in (2, 1) * 4:
                moved = http.put("/models/%5EGSPC/aliases/champion", json={"version": version})
                assert moved.status_code == 200, moved.text
            receiver.wait_for(1)
            job = http.post("/train", json={"ticker": "^GSPC", **TINY_REQUEST, "epochs": 1}).json()
            timings = []
            while (state := http.get(f"/jobs/{job['id']}").json())["status"] in (
                "queued",
                "running",
            ):
                started = time.monotonic()
                assert http.get("/forecast/%5EGSPC").status_code == 200
                timings.append(time.monotonic() - started)
                time.sleep(0.2)
            assert state["status"] == "succeeded", state["error"]
            # Forecasts answered at their usual pace while every sender waited on the receiver.
            assert len(timings) >= 5 and statistics.median(timings) < 0.5, timings
            # Every event is delivered in the end, the job's own after the slow ones.
            deadline = time.monotonic() + 120
            while True:
                sent = [r.verified(hook["secret"]) for r in receiver.wait_for(9, timeout=120)]
                ends = [e for e in sent if e["type"] == "job.succeeded"]
                if ends:
                    break
                assert time.monotonic() < deadline, sent
                time.sleep(0.5)
            assert [e["data"]["job_id"] for e in ends] == [job["id"]]
            assert sum(e["type"] == "champion.changed" for e in sent) >= 8
        finally:
            stop(service.process)
