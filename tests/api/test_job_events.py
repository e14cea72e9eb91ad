"""GET /jobs/{id}/events: a job's progress as server-sent events, read from the job table."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.db.engine import session_scope
from app.jobs import service as jobs
from app.jobs.status import JobStatus
from app.main import create_app
from tests.conftest import TINY_REQUEST

POLL = 0.05  # seconds
STEP = 0.4  # seconds between the changes the fake training makes; several polls each


@pytest.fixture
def events_client(settings: Settings) -> Iterator[TestClient]:
    fast = settings.model_copy(
        update={"events_poll_seconds": POLL, "events_keepalive_seconds": 0.2}
    )
    with TestClient(create_app(fast)) as client:
        yield client


def parse(body: str) -> tuple[list[tuple[str, int, dict[str, Any]]], list[str]]:
    """(event, id, data) of every event in a raw stream, and its comment lines."""
    events, comments = [], []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith(":"):
                comments.append(line)
            elif line:
                name, _, value = line.partition(": ")
                fields[name] = value
        if "event" in fields:
            events.append((fields["event"], int(fields["id"]), json.loads(fields["data"])))
    return events, comments


def later(*steps: Callable[[], None]) -> threading.Thread:
    """Run the steps one by one, STEP seconds apart, while the test reads the stream."""

    def run() -> None:
        for step in steps:
            time.sleep(STEP)
            step()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_events_of_an_unknown_job_are_a_404_naming_it(events_client: TestClient) -> None:
    resp = events_client.get("/jobs/no-such-job/events")
    assert resp.status_code == 404
    assert "no-such-job" in resp.json()["detail"]


def test_a_job_is_followed_from_queued_to_its_version_and_end(
    events_client: TestClient, db_url: str, session: Session, register_tiny: Callable[..., Any]
) -> None:
    session.commit()  # the sample's bars, stored by register_tiny: release SQLite's write lock
    job_id = events_client.post("/train", json={"ticker": "^GSPC", **TINY_REQUEST}).json()["id"]

    def beat(epoch: int) -> Callable[[], None]:
        def step() -> None:
            progress = {"stage": "training", "epoch": epoch, "epochs": 2, "loss": 1.0 / epoch}
            with session_scope(db_url) as s:
                jobs.beat(s, job_id=job_id, progress={**progress, "val_loss": 0.5})

        return step

    def claim() -> None:
        with session_scope(db_url) as s:
            assert jobs.claim(s, job_id=job_id, worker="test-host:1", pid=1)

    def succeed() -> None:
        version, _decision = register_tiny()
        with session_scope(db_url) as s:
            jobs.finish(
                s,
                job_id=job_id,
                status=JobStatus.SUCCEEDED,
                model_version_id=version.id,
                message="Version 1 registered.",
            )

    worker = later(claim, beat(1), beat(2), succeed)
    with events_client.stream("GET", f"/jobs/{job_id}/events") as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        body = resp.read().decode()
    worker.join()

    events, _ = parse(body)
    names = [name for name, _, _ in events]
    assert names == [
        "status",  # queued
        "status",  # running
        "progress",  # starting
        "progress",  # epoch 1
        "progress",  # epoch 2
        "status",  # succeeded
        "version",
        "end",
    ]
    assert [i for _, i, _ in events] == list(range(1, len(events) + 1))
    statuses = [data["status"] for name, _, data in events if name == "status"]
    assert statuses == ["queued", "running", "succeeded"]
    epochs = [data for name, _, data in events if name == "progress" and "epoch" in data]
    assert [(p["epoch"], p["epochs"], p["loss"], p["val_loss"]) for p in epochs] == [
        (1, 2, 1.0, 0.5),
        (2, 2, 0.5, 0.5),
    ]
    version = events[-2][2]
    detail = events_client.get("/models/^GSPC/versions/1").json()
    promotion = detail["metrics"]["promotion"]
    accuracy = detail["accuracy"]
    assert version == {
        "ticker": "^GSPC",
        "version": 1,
        "serves": accuracy["serves"],
        "baseline": False,
        "promoted": promotion["promoted"],
        "decision": promotion["reason"],
        "beats_baselines": accuracy["beats_baselines"],
        "skill_vs_naive": accuracy["skill_vs_naive"],
        "skill_vs_drift": accuracy["skill_vs_drift"],
        "coverage_80": accuracy["coverage_80"],
        "coverage_95": accuracy["coverage_95"],
    }
    assert events[-1][2] == {
        "status": "succeeded",
        "model_version": 1,
        "message": "Version 1 registered.",
        "error": None,
    }


def test_a_quiet_job_gets_keep_alive_comments_and_its_cancel_ends_the_stream(
    events_client: TestClient, db_url: str
) -> None:
    job_id = events_client.post("/train", json={"ticker": "^GSPC", **TINY_REQUEST}).json()["id"]

    def cancel() -> None:
        with session_scope(db_url) as s:
            jobs.request_cancel(s, job_id=job_id)

    # Quiet for several keep-alive intervals (0.2 s), then cancelled while still queued.
    worker = later(lambda: time.sleep(0.6), cancel)
    with events_client.stream("GET", f"/jobs/{job_id}/events") as resp:
        body = resp.read().decode()
    worker.join()
    events, comments = parse(body)
    assert len(comments) >= 2 and all(c.startswith(": ping") for c in comments)
    assert [(name, data.get("status")) for name, _, data in events] == [
        ("status", "queued"),
        ("status", "cancelled"),
        ("end", "cancelled"),
    ]


def test_a_finished_job_streams_its_final_state_at_once(
    events_client: TestClient, db_url: str
) -> None:
    job_id = events_client.post("/train", json={"ticker": "^GSPC", **TINY_REQUEST}).json()["id"]
    with session_scope(db_url) as s:
        jobs.claim(s, job_id=job_id, worker="test-host:1", pid=1)
        jobs.finish(s, job_id=job_id, status=JobStatus.FAILED, error="training process died")
    started = time.monotonic()
    events, _ = parse(events_client.get(f"/jobs/{job_id}/events").text)
    assert time.monotonic() - started < 2
    assert [name for name, _, _ in events] == ["status", "progress", "end"]
    assert events[-1][2]["error"] == "training process died"
