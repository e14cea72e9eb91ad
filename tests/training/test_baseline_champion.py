"""A champion for every ticker: when no network earns it, the better baseline does, once, and
says what it is; a network that beats it through the gate replaces it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.db.engine import session_scope
from app.jobs import service as jobs
from app.jobs.local import settings_env
from app.prices.service import import_csv
from app.registry import versions
from models.evaluate import mean_log_return
from models.windows import split_bounds


def test_a_failing_network_registers_the_better_baseline_as_champion_once(
    client: TestClient, session: Session, register_tiny: Callable[..., Any], tiny_result: Any
) -> None:
    network, decision = register_tiny("auto", baseline_champion=True)
    assert not decision.promoted  # the tiny network loses to a baseline somewhere
    better = tiny_result.backtest.metrics.better_baseline()
    champion = versions.resolve_alias(session, ticker="^GSPC", alias="champion")
    assert champion is not None and (champion.version, champion.model_type) == (2, better)
    assert champion.keras_model is None and champion.onnx_model is None
    assert champion.metrics["promotion"]["instead_of"] == network.version == 1

    body = client.get("/forecast/^GSPC").json()
    assert (body["model_version"], body["model_type"], body["baseline"]) == (2, better, True)
    assert body["champion"] is True and body["accuracy"]["serves"] == better
    assert "the latest network version, 1, is served with ?version=1" in body["warning"]
    for sentence in body["warning"].split(". "):
        assert body["warning"].count(sentence) == 1, sentence
    asked = client.get("/forecast/^GSPC", params={"version": 1}).json()
    assert (asked["model_type"], asked["baseline"], asked["champion"]) == ("lstm", False, False)

    # A second failing network registers no second baseline: a champion sits.
    register_tiny("auto", baseline_champion=True)
    assert versions.list_version_numbers(session, ticker="^GSPC") == [1, 2, 3]
    still = versions.resolve_alias(session, ticker="^GSPC", alias="champion")
    assert still is not None and still.version == 2
    later = client.get("/forecast/^GSPC").json()["warning"]
    assert "the latest network version, 3, is served with ?version=3" in later
    listed = client.get("/models/^GSPC").json()["versions"]
    assert [(v["version"], v["baseline"]) for v in listed] == [(3, False), (2, True), (1, False)]


def test_a_network_that_beats_the_baseline_champion_replaces_it(
    client: TestClient,
    session: Session,
    register_tiny: Callable[..., Any],
    winning_result: Any,
) -> None:
    register_tiny("auto", baseline_champion=True)  # v1 network loses, v2 baseline champion
    version, decision = register_tiny("auto", result=winning_result, baseline_champion=True)
    assert decision.promoted and decision.previous_champion == 2
    assert decision.significance is not None and decision.significance.p_value is not None
    assert decision.significance.p_value < 0.10
    body = client.get("/forecast/^GSPC").json()
    assert (body["model_version"], body["baseline"], body["champion"]) == (3, False, True)
    assert body["warning"] is None


def test_without_the_setting_no_baseline_is_registered(
    client: TestClient, session: Session, register_tiny: Callable[..., Any]
) -> None:
    register_tiny("auto", baseline_champion=False)
    assert versions.list_version_numbers(session, ticker="^GSPC") == [1]
    body = client.get("/forecast/^GSPC").json()
    assert (body["champion"], body["baseline"]) == (False, False)
    assert "has no champion" in body["warning"]


def test_promote_never_and_always_leave_the_champion_to_the_caller(
    session: Session, register_tiny: Callable[..., Any]
) -> None:
    register_tiny("never", baseline_champion=True)
    assert versions.resolve_alias(session, ticker="^GSPC", alias="champion") is None
    register_tiny("always", baseline_champion=True)
    champion = versions.resolve_alias(session, ticker="^GSPC", alias="champion")
    assert champion is not None and (champion.version, champion.model_type) == (2, "lstm")


def _formula(closes: np.ndarray, kind: str, train_end: int, origins: np.ndarray) -> np.ndarray:
    """Naive or drift at these origins, written out here from the closes alone."""
    last = closes[origins][:, None]
    if kind == "naive":
        return np.repeat(last, 5, axis=1)
    mu = np.mean(np.diff(np.log(closes[:train_end])))
    return last * np.exp(mu * np.arange(1, 6))[None, :]


@pytest.mark.training  # a real training process (that never loads TensorFlow)
@pytest.mark.parametrize("kind", ["naive", "drift"])
def test_a_baseline_version_trained_by_a_job_forecasts_its_formula_without_tensorflow(
    kind: str,
    settings: Settings,
    db_url: str,
    session: Session,
    sample_csv_text: str,
    client: TestClient,
) -> None:
    import_csv(session, ticker="^GSPC", text=sample_csv_text, calendar="XNYS")
    session.commit()
    with session_scope(db_url) as s:
        job, _ = jobs.create_job(
            s, ticker="^GSPC", config={"model_type": kind, "horizon": 5}, backend="local"
        )
        job_id = job.id
    # A real training process, as the dispatcher starts it; it reports whether TensorFlow,
    # Keras or Optuna were loaded while it trained and registered the baseline.
    script = (
        "import sys; from app.core.config import get_settings; from app.jobs.runner import "
        f"run_job; print(run_job({job_id!r}, get_settings())); "
        "print([m for m in ('tensorflow', 'keras', 'optuna') if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["succeeded", "[]"], done.stdout + done.stderr

    body = client.get("/forecast/^GSPC", params={"version": 1}).json()
    assert (body["model_type"], body["baseline"], body["accuracy"]["serves"]) == (kind, True, kind)
    closes = pd.read_csv(io_of(sample_csv_text))["Close"].to_numpy(dtype=np.float64)
    train_end, _ = split_bounds(len(closes), 0.70, 0.15)
    expected = _formula(closes, kind, train_end, np.array([len(closes) - 1]))[0]
    assert [p["value"] for p in body["points"]] == pytest.approx(expected.tolist(), rel=1e-12)
    backtest = client.get("/models/^GSPC/versions/1/backtest").json()
    origins = np.array(
        [int(np.searchsorted(_days(sample_csv_text), w["as_of"])) for w in backtest["windows"]]
    )
    model = np.array([w["model"] for w in backtest["windows"]])
    np.testing.assert_allclose(model, _formula(closes, kind, train_end, origins), rtol=1e-12)
    assert mean_log_return(closes, train_end) == pytest.approx(
        np.mean(np.diff(np.log(closes[:train_end]))), rel=1e-9
    )
    assert "network" not in backtest["windows"][0] and "blend" not in backtest["windows"][0]


def io_of(text: str) -> Any:
    import io

    return io.StringIO(text)


def _days(text: str) -> np.ndarray:
    return pd.read_csv(io_of(text))["Date"].to_numpy(dtype=str)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"search": {"trials": 2}}, "search"),
        ({"parent_version": {"ticker": "^GSPC", "version": 1}}, "parent_version"),
        ({"features": ["volume"]}, "features"),
    ],
)
@pytest.mark.parametrize("database_backend", ["sqlite"])
def test_a_baseline_request_with_network_options_is_a_422_naming_them(
    client: TestClient, extra: dict[str, Any], field: str
) -> None:
    answer = client.post("/train", json={"ticker": "^GSPC", "model_type": "drift", **extra})
    assert answer.status_code == 422
    assert field in answer.text and "baseline" in answer.text
