"""Every forecast that does not come from a version beating both baselines at every step says so,
naming the baseline and the steps; and the words follow the facts of how it came to be served."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import SQLITE_ONLY

DRIFT_WORDS = "drift (the last close grown at the training data's mean daily log return)"


@SQLITE_ONLY  # dialect-independent
def test_a_version_losing_to_a_baseline_names_it_and_its_steps(
    client: TestClient, register_tiny: Callable[..., Any]
) -> None:
    version, _ = register_tiny("never")
    warning = client.get("/forecast/^GSPC", params={"version": 1}).json()["warning"]
    test = version.metrics["test"]
    lost = [k + 1 for k, r in enumerate(test["mae_ratio"]) if r > 1]
    lost_drift = [k + 1 for k, r in enumerate(test["mae_ratio_vs_drift"]) if r > 1]
    assert lost or lost_drift  # the tiny network loses somewhere: the test can fail
    for name, steps in (("naive (the last close)", lost), (DRIFT_WORDS, lost_drift)):
        said = f"Version 1's MAE is worse than {name} at step{'s' if len(steps) > 1 else ''} "
        assert (said in warning) == bool(steps)
    assert "on its backtest of 750 windows" in warning


@SQLITE_ONLY  # dialect-independent
def test_no_champion_and_a_latest_that_did_not_earn_it_says_why_once(
    client: TestClient, register_tiny: Callable[..., Any]
) -> None:
    _, decision = register_tiny("auto")  # the baseline champion off, as before it existed
    assert not decision.promoted
    warning = client.get("/forecast/^GSPC").json()["warning"]
    assert "has no champion, so its latest version, 1, is served. It did not earn champion." in (
        warning
    )
    # Each fact once, one sentence each: the gate's reason is not repeated beside the figures.
    assert warning.count("MAE is worse than") == len(decision_losses(warning))
    for sentence in warning.split(". "):
        assert warning.count(sentence) == 1, sentence
    assert "not promoted" not in warning and ".." not in warning


def decision_losses(warning: str) -> list[str]:
    """The baselines a warning says the version loses to."""
    return [n for n in ("naive (the last close)", DRIFT_WORDS) if f"worse than {n}" in warning]


@SQLITE_ONLY  # dialect-independent
def test_a_latest_that_earned_it_but_was_trained_with_never_is_not_called_unearned(
    client: TestClient, register_tiny: Callable[..., Any], winning_result: Any
) -> None:
    register_tiny("never", result=winning_result)
    body = client.get("/forecast/^GSPC").json()
    assert body["champion"] is False
    assert "earned promotion, but it was trained with promote=never" in body["warning"]
    assert "did not earn" not in body["warning"]
    assert "MAE is worse than" not in body["warning"]


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
    assert "Version 1's MAE is worse than" in body["warning"]
    register_tiny("never")
    assert client.put("/models/^GSPC/aliases/champion", json={"version": 2}).status_code == 200
    moved = client.get("/forecast/^GSPC").json()
    assert moved["champion"] is True and "Version 2's MAE is worse than" in moved["warning"]


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
