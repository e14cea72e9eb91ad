"""`tickercast train --wait`, `forecast`, `models` and `jobs` against a running service."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import WAIT_SECONDS
from tests.e2e.live import LiveService

TICKERCAST = [sys.executable, "-m", "app.cli"]
NEXT_NYSE_SESSIONS = ["2019-01-02", "2019-01-03", "2019-01-04", "2019-01-07", "2019-01-08"]


def run(
    service: LiveService, *args: str, timeout: float = WAIT_SECONDS
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKERCAST_")}
    env["TICKERCAST_URL"] = service.url
    return subprocess.run(
        [*TICKERCAST, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def trained(live_service: LiveService) -> subprocess.CompletedProcess[str]:
    """`tickercast train ^GSPC --wait` with a tiny network."""
    return run(
        live_service,
        *("train", "^GSPC", "--epochs", "3", "--lookback", "20", "--layers", "8"),
        *("--seed", "31", "--wait"),
    )


def test_train_wait_shows_the_epochs_and_ends_with_version_skill_and_gate(
    trained: subprocess.CompletedProcess[str], live_service: LiveService
) -> None:
    assert trained.returncode == 0, trained.stdout + trained.stderr
    out = trained.stdout
    assert "3/3 epochs" in out and re.search(r"loss \d", out) and "val_loss" in out
    match = re.search(r"\^GSPC version (\d+) \(lstm\): skill vs naive [+-]\d+\.\d+%", out)
    assert match, out
    assert "champion gate: " in out
    jobs = json.loads(run(live_service, "jobs", "--json", "--status", "succeeded").stdout)
    assert int(match.group(1)) in [j["model_version"] for j in jobs]


def test_forecast_prints_dates_values_and_both_intervals(
    trained: subprocess.CompletedProcess[str], live_service: LiveService
) -> None:
    result = run(live_service, "forecast", "^GSPC")
    assert result.returncode == 0, result.stderr
    for header in ("date", "forecast", "80% low", "80% high", "95% low", "95% high"):
        assert header in result.stdout
    assert re.findall(r"\d{4}-\d{2}-\d{2}(?= )", result.stdout)[-5:] == NEXT_NYSE_SESSIONS
    assert "skill vs naive" in result.stdout
    shorter = json.loads(run(live_service, "forecast", "^GSPC", "--horizon", "2", "--json").stdout)
    assert [p["date"] for p in shorter["points"]] == NEXT_NYSE_SESSIONS[:2]


def test_models_and_jobs_list_what_the_service_holds(
    trained: subprocess.CompletedProcess[str], live_service: LiveService
) -> None:
    latest = json.loads(run(live_service, "models", "--json").stdout)
    assert [m["ticker"] for m in latest] == ["^GSPC"]
    table = run(live_service, "models", "^GSPC").stdout
    assert "versions of ^GSPC" in table and "lstm (log_return)" in table
    listing = run(live_service, "jobs", "--ticker", "^GSPC")
    assert listing.returncode == 0 and "succeeded" in listing.stdout
    assert "epoch 3/3" in listing.stdout


def test_errors_name_the_problem_and_exit_non_zero(live_service: LiveService) -> None:
    missing = run(live_service, "forecast", "NOPE")
    assert missing.returncode == 2
    assert "404" in missing.stderr and "NOPE" in missing.stderr
    bad = run(live_service, "jobs", "--status", "done")
    assert bad.returncode == 2 and "invalid choice: 'done'" in bad.stderr
