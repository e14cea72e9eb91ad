"""The client commands' own behaviour, without a service: reading event streams and error
bodies, refusing bad input before sending it, and saying so when no service answers."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from app.client.http import detail_of, parse_sse
from tests.e2e.test_rq_scale_out import free_port

TICKERCAST = [sys.executable, "-m", "app.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKERCAST_")}
    return subprocess.run([*TICKERCAST, *args], env=env, capture_output=True, text=True, timeout=60)


def test_event_stream_lines_become_events_and_comments_are_skipped() -> None:
    lines = [
        "event: status",
        "id: 1",
        "retry: 2000",
        'data: {"status": "running"}',
        "",
        ": ping - 2026-01-02 10:00:15",
        "",
        "event: progress",
        'data: {"epoch": 1,',
        'data:  "epochs": 3}',
        "",
        'data: {"plain": true}',
    ]
    assert list(parse_sse(iter(lines))) == [
        ("status", {"status": "running"}),
        ("progress", {"epoch": 1, "epochs": 3}),
        ("message", {"plain": True}),
    ]


def test_error_bodies_of_every_shape_become_one_line() -> None:
    def answer(status: int, body: object) -> httpx.Response:
        return httpx.Response(status, json=body)

    assert detail_of(answer(404, {"detail": "No model for 'X'."})) == "No model for 'X'."
    validation = {"detail": [{"loc": ["body", "epochs"], "msg": "Input should be >= 1"}]}
    assert detail_of(answer(422, validation)) == "epochs: Input should be >= 1"
    nested = {"error": {"code": "unauthorized", "message": "API key required"}}
    assert detail_of(answer(401, nested)) == "API key required"
    assert detail_of(httpx.Response(502, text="Bad gateway")) == "Bad gateway"


def test_a_bad_training_request_is_refused_before_anything_is_sent() -> None:
    # No service at this URL: the answer must come from the local check of the request.
    url = f"http://127.0.0.1:{free_port()}"
    result = run("train", "^GSPC", "--epochs", "0", "--url", url)
    assert result.returncode == 2
    assert "invalid training request: epochs: Input should be greater than or equal to 1" in (
        result.stderr
    )
    result = run("train", "^GSPC", "--model", "transformer", "--url", url)
    assert result.returncode == 2 and "model_type" in result.stderr
    result = run("train", "^GSPC", "--layers", "64,x", "--url", url)
    assert result.returncode == 2 and "invalid layers '64,x'" in result.stderr


def test_no_service_at_the_url_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run("models", "--url", url)
    assert result.returncode == 2
    assert f"cannot reach the service at {url}" in result.stderr
    assert "tickercast serve" in result.stderr
