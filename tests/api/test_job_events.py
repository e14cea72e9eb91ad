"""GET /jobs/{id}/events: a job's progress as server-sent events, read from the job table."""

from __future__ import annotations

import json
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
from tests.conftest import SQLITE_ONLY, TINY_REQUEST

POLL = 0.05  # seconds


@pytest.fixture
def events_client(settings: Settings) -> Iterator[TestClient]:
    fast = settings.model_copy(
        update={"events_poll_seconds": POLL, "events_keepalive_seconds": 0.2}
    )
    with TestClient(create_app(fast)) as client:
        yield client


Event = tuple[str, int, dict[str, Any]]


def parse(body: str) -> tuple[list[Event], list[str]]:
    """(event, id, data) of every event in a raw stream, and its comment lines."""
    events: list[Event] = []
    comments: list[str] = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        found, said = parse_block(block.splitlines())
        events.extend(found)
        comments.extend(said)
    return events, comments


def parse_block(lines: list[str]) -> tuple[list[Event], list[str]]:
    """The event (if any) and the comment lines of one block of a stream."""
    fields: dict[str, str] = {}
    comments = []
    for line in lines:
        if line.startswith(":"):
            comments.append(line)
        elif line:
            name, _, value = line.partition(": ")
            fields[name] = value
    if "event" not in fields:
        return [], comments
    return [(fields["event"], int(fields["id"]), json.loads(fields["data"]))], comments


class Watcher:
    """Reads a stream as it arrives, keeping every event and comment line seen so far."""

    def __init__(self, lines: Iterator[str]) -> None:
        self.lines = lines
        self.events: list[Event] = []
        self.comments: list[str] = []

    def until(self, seen: Callable[[Watcher], bool]) -> None:
        """Read on until `seen` holds; the stream ending first fails the test."""
        block: list[str] = []
        while not seen(self):
            line = next(self.lines, None)
            assert line is not None, f"the stream ended after {self.events}"
            if line:
                block.append(line)
                continue
            events, comments = parse_block(block)
            self.events.extend(events)
            self.comments.extend(comments)
            block = []

    def until_event(self, name: str, **data: Any) -> None:
        """Read on until an event `name` whose data holds these items arrives."""
        self.until(
            lambda w: any(
                e == name and all(d.get(k) == v for k, v in data.items()) for e, _, d in w.events
            )
        )

    def to_the_end(self) -> None:
        self.until(lambda w: bool(w.events) and w.events[-1][0] == "end")


@SQLITE_ONLY  # dialect-independent
def test_events_of_an_unknown_job_are_a_404_naming_it(events_client: TestClient) -> None:
    resp = events_client.get("/jobs/no-such-job/events")
    assert resp.status_code == 404
    assert "no-such-job" in resp.json()["detail"]


@SQLITE_ONLY  # dialect-independent
def test_a_job_is_followed_from_queued_to_its_version_and_end(
    events_client: TestClient, db_url: str, session: Session, register_tiny: Callable[..., Any]
) -> None:
    session.commit()  # the sample's bars, stored by register_tiny: release SQLite's write lock
    job_id = events_client.post("/train", json={"ticker": "^GSPC", **TINY_REQUEST}).json()["id"]

    def beat(epoch: int) -> None:
        progress = {"stage": "training", "epoch": epoch, "epochs": 2, "loss": 1.0 / epoch}
        with session_scope(db_url) as s:
            jobs.beat(s, job_id=job_id, progress={**progress, "val_loss": 0.5})

    # Each change is made once the stream has shown the one before, so every state is seen
    # however late the stream connects or slowly the machine runs.
    with events_client.stream("GET", f"/jobs/{job_id}/events") as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        stream = Watcher(resp.iter_lines())
        stream.until_event("status", status="queued")
        with session_scope(db_url) as s:
            assert jobs.claim(s, job_id=job_id, worker="test-host:1", pid=1)
        stream.until_event("progress", stage="starting")
        beat(1)
        stream.until_event("progress", epoch=1)
        beat(2)
        stream.until_event("progress", epoch=2)
        version, _decision = register_tiny()
        with session_scope(db_url) as s:
            jobs.finish(
                s,
                job_id=job_id,
                status=JobStatus.SUCCEEDED,
                model_version_id=version.id,
                message="Version 1 registered.",
            )
        stream.to_the_end()

    events = stream.events
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


@SQLITE_ONLY  # dialect-independent
def test_a_quiet_job_gets_keep_alive_comments_and_its_cancel_ends_the_stream(
    events_client: TestClient, db_url: str
) -> None:
    job_id = events_client.post("/train", json={"ticker": "^GSPC", **TINY_REQUEST}).json()["id"]

    with events_client.stream("GET", f"/jobs/{job_id}/events") as resp:
        stream = Watcher(resp.iter_lines())
        stream.until_event("status", status="queued")
        # Quiet for two keep-alive intervals (0.2 s each) at least, then cancelled while queued.
        stream.until(lambda w: len(w.comments) >= 2)
        with session_scope(db_url) as s:
            jobs.request_cancel(s, job_id=job_id)
        stream.to_the_end()
    events, comments = stream.events, stream.comments
    assert len(comments) >= 2 and all(c.startswith(": ping") for c in comments)
    assert [(name, data.get("status")) for name, _, data in events] == [
        ("status", "queued"),
        ("status", "cancelled"),
        ("end", "cancelled"),
    ]


@SQLITE_ONLY  # dialect-independent
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
