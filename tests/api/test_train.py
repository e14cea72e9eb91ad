"""Queueing, listing and cancelling training jobs (no dispatcher: jobs stay queued)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.db.engine import session_scope
from app.jobs import service as jobs
from app.main import create_app
from tests.conftest import SQLITE_ONLY


def test_train_answers_202_with_location_and_defaults(client: TestClient) -> None:
    resp = client.post("/train", json={"ticker": "^gspc"})
    assert resp.status_code == 202, resp.text
    job = resp.json()
    assert resp.headers["location"] == f"/jobs/{job['id']}"
    assert job["ticker"] == "^GSPC"
    assert job["status"] == "queued"
    assert job["config"]["model_type"] == "lstm"
    assert job["config"]["target"] == "log_return"
    assert job["config"]["layers"] == [64, 32]
    assert client.get(resp.headers["location"]).json()["id"] == job["id"]


def test_same_request_while_queued_returns_existing_job(client: TestClient) -> None:
    body = {"ticker": "AAPL", "model_type": "gru", "epochs": 3}
    first = client.post("/train", json=body)
    second = client.post("/train", json=body)
    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    other = client.post("/train", json={**body, "epochs": 4})
    assert other.status_code == 202
    assert other.json()["id"] != first.json()["id"]


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lookback", 4),
        ("lookback", 501),
        ("horizon", 0),
        ("horizon", 61),
        ("epochs", 0),
        ("epochs", 1001),
        ("layers", []),
        ("layers", [8, 8, 8, 8, 8]),
        ("layers", [0]),
        ("layers", [1025]),
        ("dropout", 0.95),
        ("dropout", -0.1),
        ("model_type", "transformer"),
        ("target", "volume"),
        ("ticker", "BAD TICKER"),
        ("ticker", ""),
        ("ticker", "X" * 16),
        ("learning_rate", 0),
        ("unknown_knob", 1),
    ],
)
def test_invalid_training_request_names_the_field(
    client: TestClient, field: str, value: Any
) -> None:
    body = {"ticker": "AAPL", field: value}
    resp = client.post("/train", json=body)
    assert resp.status_code == 422
    locs = [err["loc"] for err in resp.json()["errors"]]
    assert any(field in loc for loc in locs), locs
    assert client.get("/jobs").json() == []


@SQLITE_ONLY
def test_start_must_be_before_end(client: TestClient) -> None:
    resp = client.post(
        "/train", json={"ticker": "AAPL", "start": "2020-01-01", "end": "2019-01-01"}
    )
    assert resp.status_code == 422
    assert "start" in resp.text


def test_same_request_while_running_returns_the_running_job(
    client: TestClient, db_url: str
) -> None:
    first = client.post("/train", json={"ticker": "AAA", "epochs": 2}).json()
    with session_scope(db_url) as s:
        assert jobs.claim(s, job_id=first["id"], worker="elsewhere:1", pid=1)
    again = client.post("/train", json={"ticker": "AAA", "epochs": 2})
    assert again.status_code == 200
    assert again.json()["id"] == first["id"] and again.json()["status"] == "running"


def test_jobs_page_with_limit_and_offset_newest_first(client: TestClient) -> None:
    ids = [client.post("/train", json={"ticker": t}).json()["id"] for t in ("AAA", "BBB", "CCC")]
    newest_first = ids[::-1]
    assert [j["id"] for j in client.get("/jobs", params={"limit": 2}).json()] == newest_first[:2]
    page = client.get("/jobs", params={"limit": 2, "offset": 2}).json()
    assert [j["id"] for j in page] == newest_first[2:]
    assert client.get("/jobs", params={"offset": 3}).json() == []
    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}):
        assert client.get("/jobs", params=bad).status_code == 422


def test_list_jobs_filters_by_ticker_and_status(client: TestClient) -> None:
    a = client.post("/train", json={"ticker": "AAA"}).json()
    client.post("/train", json={"ticker": "BBB"})
    client.delete(f"/jobs/{a['id']}")
    assert [j["ticker"] for j in client.get("/jobs", params={"ticker": "aaa"}).json()] == ["AAA"]
    cancelled = client.get("/jobs", params={"status": "cancelled"}).json()
    assert [j["id"] for j in cancelled] == [a["id"]]
    queued = client.get("/jobs", params={"status": "queued"}).json()
    assert [j["ticker"] for j in queued] == ["BBB"]
    assert client.get("/jobs", params={"status": "sleeping"}).status_code == 422


def test_cancel_queued_job_then_cancel_again_conflicts(client: TestClient) -> None:
    job = client.post("/train", json={"ticker": "AAA"}).json()
    resp = client.delete(f"/jobs/{job['id']}")
    assert resp.status_code == 200
    assert resp.json()["status"] == "cancelled"
    again = client.delete(f"/jobs/{job['id']}")
    assert again.status_code == 409
    assert "cancelled" in again.json()["detail"]
    # A cancelled job no longer blocks the same request.
    assert client.post("/train", json={"ticker": "AAA"}).status_code == 202


def test_unknown_job_is_404(client: TestClient) -> None:
    for resp in (client.get("/jobs/nope"), client.delete("/jobs/nope")):
        assert resp.status_code == 404
        assert "nope" in resp.json()["detail"]


def test_job_is_committed_before_the_backend_hears_of_it(settings: Settings) -> None:
    # A worker on another machine looks the job up as soon as it is submitted.
    app = create_app(settings)
    backend = app.state.backend
    submit = backend.submit
    seen: list[str] = []

    def submit_after_looking(job_id: str) -> None:
        with session_scope(settings.resolved_database_url()) as s:
            seen.append(jobs.get_job(s, job_id=job_id).status)
        submit(job_id)

    backend.submit = submit_after_looking
    with TestClient(app) as client:
        assert client.post("/train", json={"ticker": "AAA"}).status_code == 202
    assert seen == ["queued"]


@SQLITE_ONLY
def test_a_body_that_is_not_text_is_a_422_naming_the_body(client: TestClient) -> None:
    # Bytes that are no UTF-8: Starlette cannot even decode them as JSON text.
    resp = client.post("/train", content=b"e\xff", headers={"Content-Type": "application/json"})

    assert resp.status_code == 422
    body = resp.json()
    assert body["code"] == "invalid_input"
    assert body["errors"][0]["loc"] == ["body"]
    assert body["detail"].startswith("Invalid body: The body could not be read")


@pytest.fixture
def sample_stored(session: Any, sample_csv_text: str) -> None:
    from app.prices.service import import_csv

    import_csv(session, ticker="^GSPC", text=sample_csv_text, calendar="XNYS")
    session.commit()


@pytest.mark.usefixtures("sample_stored")
def test_train_refuses_a_network_over_the_parameter_limit_naming_it(client: TestClient) -> None:
    resp = client.post("/train", json={"ticker": "^GSPC", "layers": [1024, 1024, 1024]})
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert body["code"] == "training_too_costly"
    assert "TICKERCAST_MAX_TRAINING_PARAMETERS" in body["detail"]
    assert "20,993,029 parameters" in body["detail"]
    assert client.get("/jobs").json() == []


@pytest.mark.usefixtures("sample_stored")
def test_train_refuses_epochs_times_windows_over_the_limit_naming_it(client: TestClient) -> None:
    resp = client.post("/train", json={"ticker": "^GSPC", "epochs": 1000, "patience": 1000})
    assert resp.status_code == 422, resp.text
    detail = resp.json()["detail"]
    # 5031 bars: 3456 training windows with the default split, lookback and horizon.
    assert "1000 epochs x 3,456 training windows x 3 network(s)" in detail
    assert "TICKERCAST_MAX_EPOCH_WINDOWS" in detail
    assert client.get("/jobs").json() == []
    # The default config on the same bars is well inside both limits.
    assert client.post("/train", json={"ticker": "^GSPC"}).status_code == 202


@SQLITE_ONLY
def test_ticker_without_stored_bars_is_checked_on_its_weights_only(client: TestClient) -> None:
    assert client.post("/train", json={"ticker": "NEW", "epochs": 1000}).status_code == 202
    assert client.post("/train", json={"ticker": "NEW", "layers": [1024] * 3}).status_code == 422
