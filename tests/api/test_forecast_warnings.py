"""Every forecast that does not come from a version beating both baselines at every step says so,
naming the baseline and the steps; and the words follow the facts of how it came to be served."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from models.backtest import score_forecasts
from models.windows import split_bounds
from tests.conftest import SQLITE_ONLY


@pytest.fixture(scope="module")
def winning_result(sample_frame: pd.DataFrame, tiny_result: Any) -> Any:
    """The tiny model's result with forecasts halfway to the actuals: it beats both baselines
    at every step (the served graph stays the tiny one; only the evidence differs)."""
    backtest = tiny_result.backtest
    forecasts = 0.5 * backtest.model + 0.5 * backtest.actual
    closes = sample_frame["close"].to_numpy()
    train_end, _ = split_bounds(len(closes), 0.70, 0.15)
    summary = score_forecasts(closes, backtest.origins, forecasts, train_end=train_end)
    summary = summary.model_copy(update={"coverage": tiny_result.metrics.test.coverage})
    assert summary.beats_baselines()
    return dataclasses.replace(
        tiny_result,
        backtest=dataclasses.replace(backtest, model=forecasts, metrics=summary),
        metrics=tiny_result.metrics.model_copy(update={"test": summary}),
    )


@SQLITE_ONLY  # dialect-independent
def test_a_version_losing_to_a_baseline_names_it_and_its_steps(
    client: TestClient, register_tiny: Callable[..., Any]
) -> None:
    version, _ = register_tiny("never")
    warning = client.get("/forecast/^GSPC", params={"version": 1}).json()["warning"]
    test = version.metrics["test"]
    lost = [k + 1 for k, r in enumerate(test["mae_ratio"]) if r > 1]
    lost_drift = [k + 1 for k, r in enumerate(test["mae_ratio_vs_drift"]) if r > 1]
    assert "does not beat both baselines at every step" in warning
    if lost:
        assert f"naive (the last close) at step{'s' if len(lost) > 1 else ''} {lost[0]}" in warning
    if lost_drift:
        assert (
            "drift (the last close grown at the training data's mean daily log return)" in warning
        )


@SQLITE_ONLY  # dialect-independent
def test_no_champion_and_a_latest_that_did_not_earn_it_says_why(
    client: TestClient, register_tiny: Callable[..., Any]
) -> None:
    _, decision = register_tiny("auto")
    assert not decision.promoted
    warning = client.get("/forecast/^GSPC").json()["warning"]
    assert "has no champion, so its latest version, 1, is served" in warning
    assert "It did not earn champion: not promoted:" in warning
    assert ".." not in warning  # the gate's reason ends a sentence once, not twice


@SQLITE_ONLY  # dialect-independent
def test_a_latest_that_earned_it_but_was_trained_with_never_is_not_called_unearned(
    client: TestClient, register_tiny: Callable[..., Any], winning_result: Any
) -> None:
    register_tiny("never", result=winning_result)
    body = client.get("/forecast/^GSPC").json()
    assert body["champion"] is False
    assert "earned promotion, but it was trained with promote=never" in body["warning"]
    assert "did not earn" not in body["warning"]
    assert "does not beat" not in body["warning"]


@SQLITE_ONLY  # dialect-independent
def test_an_earned_champion_carries_no_warning(
    client: TestClient, register_tiny: Callable[..., Any], winning_result: Any
) -> None:
    _, decision = register_tiny("auto", result=winning_result)
    assert decision.promoted and decision.earned
    body = client.get("/forecast/^GSPC").json()
    assert body["champion"] is True and body["accuracy"]["beats_baselines"] is True
    assert body["warning"] is None


@SQLITE_ONLY  # dialect-independent
def test_a_forced_or_hand_moved_champion_still_warns(
    client: TestClient, register_tiny: Callable[..., Any]
) -> None:
    register_tiny("always")
    body = client.get("/forecast/^GSPC").json()
    assert body["champion"] is True
    assert "made champion by promote=always, over the gate" in body["warning"]
    assert "does not beat both baselines" in body["warning"]
    register_tiny("never")
    assert client.put("/models/^GSPC/aliases/champion", json={"version": 2}).status_code == 200
    moved = client.get("/forecast/^GSPC").json()
    assert moved["champion"] is True and "does not beat both baselines" in moved["warning"]


@SQLITE_ONLY  # dialect-independent
def test_intervals_far_from_their_level_on_the_backtest_are_called_out(
    client: TestClient, session: Any, register_tiny: Callable[..., Any]
) -> None:
    from sqlalchemy import update

    from app.db.tables import ModelVersion

    version, _ = register_tiny("never")
    metrics = dict(version.metrics)
    metrics["test"] = {**metrics["test"], "coverage": {**metrics["test"]["coverage"]}}
    metrics["test"]["coverage"]["80"] = {**metrics["test"]["coverage"]["80"], "overall": 0.47}
    session.execute(update(ModelVersion).values(metrics=metrics))
    session.commit()
    warning = client.get("/forecast/^GSPC").json()["warning"]
    assert "80% intervals held 47% of the backtest's actual closes, outside 70%-90%" in warning
