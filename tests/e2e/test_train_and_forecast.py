"""End to end: real training processes spawned by the service, real ONNX forecasts."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app
from tests.conftest import TINY_REQUEST, WAIT_SECONDS

# Two networks: a seed ensemble end to end, through export, parity, registry and serving.
TINY = {**TINY_REQUEST, "seed": 7, "ensemble": 2}
# A job that runs until stopped, one network: within TICKERCAST_MAX_EPOCH_WINDOWS on the sample.
LONG = {**TINY, "epochs": 1000, "patience": 1000, "ensemble": 1}
NEXT_NYSE_SESSIONS = ["2019-01-02", "2019-01-03", "2019-01-04", "2019-01-07", "2019-01-08"]


def wait_for(
    client: TestClient,
    job_id: str,
    done: Callable[[dict[str, Any]], bool],
    seconds: float = WAIT_SECONDS,
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        job = client.get(f"/jobs/{job_id}").json()
        if done(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job did not get there in {seconds} s: {job}")
        time.sleep(0.3)


def finished(job: dict[str, Any]) -> bool:
    return job["status"] in ("succeeded", "failed", "cancelled")


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, migrated_template: Path
) -> Iterator[TestClient]:
    """The service with its dispatcher on, the sample imported over HTTP."""
    data_dir = tmp_path_factory.mktemp("e2e")
    db = data_dir / "tickercast.db"
    shutil.copy(migrated_template, db)
    settings = Settings(
        data_dir=data_dir,
        # The metrics and rate-limit counts beside the data, not left behind in /dev/shm.
        host_dir=str(data_dir / "host"),
        database_url=f"sqlite:///{db}",
        # Offline, whether or not this machine reaches Yahoo: the checks below pin the last bar
        # and the row count (tests/prices/test_refresh_for_training.py covers the network path).
        price_source="none",
        job_supervisor=True,
        dispatch_interval_seconds=0.2,
        max_training_jobs=1,
    )
    with TestClient(create_app(settings)) as client:
        csv = (Path(__file__).resolve().parents[2] / "app" / "data" / "GSPC.csv").read_bytes()
        resp = client.put("/prices/^GSPC", content=csv, headers={"Content-Type": "text/csv"})
        assert resp.status_code == 200
        yield client


@pytest.fixture(scope="module")
def trained(service: TestClient) -> dict[str, Any]:
    resp = service.post("/train", json={"ticker": "^GSPC", **TINY})
    assert resp.status_code == 202, resp.text
    return wait_for(service, resp.json()["id"], finished)


def test_tiny_lstm_trains_in_a_spawned_process_and_registers_version_1(
    trained: dict[str, Any],
) -> None:
    assert trained["status"] == "succeeded", trained["error"]
    assert trained["model_version"] == 1
    assert trained["progress"]["epochs"] == 2
    assert trained["worker"] and not trained["worker"].endswith(f":{os.getpid()}")
    # No price source: the job says it trained on the stored bars.
    assert "stored bars" in trained["message"]
    assert "promoted" in trained["message"]


def stand_in(service: TestClient) -> bool:
    """Whether the tiny network lost the gate and a baseline became champion in its place."""
    versions = service.get("/models/^GSPC").json()["versions"]
    return any(v["baseline"] for v in versions)


def test_forecast_is_five_points_on_the_next_nyse_sessions(
    service: TestClient, trained: dict[str, Any]
) -> None:
    resp = service.get("/forecast/^GSPC", params={"horizon": 5, "version": 1})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["model_version"] == 1
    assert body["model_type"] == "lstm" and body["baseline"] is False
    assert body["data_as_of"] == "2018-12-31"
    assert body["last_close"] == pytest.approx(2506.850098)
    assert [p["date"] for p in body["points"]] == NEXT_NYSE_SESSIONS
    for point in body["points"]:
        # A log-return model moves a few percent over a week at most.
        assert 0.8 * 2506.85 < point["value"] < 1.2 * 2506.85
    assert body["accuracy"]["backtest_windows"] > 700
    # The sample's 80% interval must cover 70-90% of the backtest actuals.
    assert 0.70 <= body["accuracy"]["coverage_80"] <= 0.90
    assert [i["level"] for i in body["points"][0]["intervals"]] == [80, 95]
    # Champion only if it beats naive and drift at every step, and the answer says why not.
    assert body["champion"] == body["accuracy"]["beats_baselines"]
    assert (body["warning"] is None) == body["champion"]
    shorter = service.get("/forecast/%5EGSPC", params={"horizon": 2, "version": 1}).json()
    assert [p["value"] for p in shorter["points"]] == [p["value"] for p in body["points"][:2]]
    # With the defaults a ticker always has a champion: the network, or the better baseline
    # registered in its place, which says so.
    served = service.get("/forecast/^GSPC").json()
    assert served["champion"] is True
    if body["champion"]:
        assert served["model_version"] == 1
    else:
        assert stand_in(service)
        assert (served["model_version"], served["baseline"]) == (2, True)
        assert served["model_type"] in ("naive", "drift")
        assert "?version=1" in served["warning"]
        assert [p["date"] for p in served["points"]] == NEXT_NYSE_SESSIONS


def test_forecast_errors_name_the_problem(service: TestClient, trained: dict[str, Any]) -> None:
    too_far = service.get("/forecast/^GSPC", params={"horizon": 6})
    assert too_far.status_code == 422
    assert "between 1 and 5" in too_far.json()["detail"]
    missing = service.get("/forecast/^GSPC", params={"version": 9})
    assert missing.status_code == 404
    known = "[1, 2]" if stand_in(service) else "[1]"
    assert f"known versions: {known}" in missing.json()["detail"]
    unknown = service.get("/forecast/NOPE")
    assert unknown.status_code == 404
    assert "NOPE" in unknown.json()["detail"]


def test_registry_shows_config_metrics_against_naive_and_data_hash(
    service: TestClient, trained: dict[str, Any]
) -> None:
    listing = service.get("/models").json()
    latest = 2 if stand_in(service) else 1
    assert [(m["ticker"], m["version"]) for m in listing] == [("^GSPC", latest)]
    detail = service.get("/models/^GSPC/versions/1").json()
    assert detail["config"]["layers"] == [8]
    assert detail["data_start"] == "1999-01-04"
    assert detail["data_end"] == "2018-12-31"
    assert detail["data_rows"] == 5031
    assert len(detail["data_sha256"]) == 64
    test = detail["metrics"]["test"]
    assert len(test["model"]["mae"]) == 5 and len(test["naive"]["mae"]) == 5
    assert len(test["drift"]["mase"]) == 5
    assert test["mae_ratio"] == pytest.approx(
        [m / n for m, n in zip(test["model"]["mae"], test["naive"]["mae"], strict=True)]
    )
    assert set(detail["calibration"]["half_widths"]) >= {"80", "95"}
    assert detail["metrics"]["parity_max_abs_diff"] <= 1e-4
    assert "tensorflow" in detail["library_versions"]


def test_running_job_is_cancelled_within_an_epoch(
    service: TestClient, trained: dict[str, Any]
) -> None:
    resp = service.post("/train", json={"ticker": "^GSPC", **LONG, "seed": 8})
    job_id = resp.json()["id"]
    wait_for(service, job_id, lambda j: (j["progress"].get("epoch") or 0) >= 1)
    assert service.delete(f"/jobs/{job_id}").status_code == 200
    job = wait_for(service, job_id, finished, seconds=60)
    assert job["status"] == "cancelled"
    assert job["progress"]["epoch"] < 1000
    assert job["model_version"] is None


def test_killed_training_process_marks_job_failed_with_reason(
    service: TestClient, trained: dict[str, Any]
) -> None:
    resp = service.post("/train", json={"ticker": "^GSPC", **LONG, "seed": 9})
    job_id = resp.json()["id"]
    job = wait_for(service, job_id, lambda j: (j["progress"].get("epoch") or 0) >= 1)
    pid = int(job["worker"].rsplit(":", 1)[1])
    os.kill(pid, signal.SIGKILL)
    job = wait_for(service, job_id, finished, seconds=60)
    assert job["status"] == "failed"
    assert "SIGKILL" in job["error"]
    registered = [m["version"] for m in service.get("/models/^GSPC").json()["versions"]]
    assert registered == ([2, 1] if stand_in(service) else [1])
