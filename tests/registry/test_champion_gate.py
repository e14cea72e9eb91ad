"""The champion gate: promote only with positive skill and a better MAE on the same windows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.orm import Session

from app.registry import champion, versions


def decide(session: Session, frame: pd.DataFrame, result: Any, **kw: Any) -> champion.Decision:
    args: dict[str, Any] = {
        "ticker": "^GSPC",
        "mode": "auto",
        "skill_vs_naive": 0.02,
        "closes": frame["close"].to_numpy(),
        "origins": result.backtest.origins,
        "forecasts": result.backtest.model,
    }
    args.update(kw)
    return champion.decide(session, **args)


def test_first_version_follows_its_real_backtest_skill(
    session: Session, register_tiny: Callable[..., Any]
) -> None:
    version, decision = register_tiny("auto")
    skill = version.metrics["test"]["skill_vs_naive_overall"]
    assert decision.promote == (skill > 0)
    served = versions.resolve_alias(session, ticker="^GSPC", alias="champion")
    assert (served is not None) == (skill > 0)
    assert version.metrics["promotion"]["promoted"] == decision.promote


def test_always_and_never_override_the_gate(
    session: Session, register_tiny: Callable[..., Any]
) -> None:
    v1, d1 = register_tiny("always")
    assert d1.promote
    v2, d2 = register_tiny("never")
    assert not d2.promote and "never" in d2.reason
    assert versions.resolve_alias(session, ticker="^GSPC", alias="champion").version == 1  # type: ignore[union-attr]


def test_auto_refuses_a_version_that_does_not_beat_naive(
    session: Session, sample_frame: pd.DataFrame, tiny_result: Any
) -> None:
    for skill in (0.0, -0.05, None):
        d = decide(session, sample_frame, tiny_result, skill_vs_naive=skill)
        assert not d.promote
        assert "skill against naive" in d.reason


def test_auto_promotes_a_first_version_with_positive_skill(
    session: Session, sample_frame: pd.DataFrame, tiny_result: Any
) -> None:
    d = decide(session, sample_frame, tiny_result, skill_vs_naive=0.02)
    assert d.promote and "no champion" in d.reason


def test_auto_refuses_a_version_no_better_than_the_champion_on_the_same_windows(
    session: Session,
    sample_frame: pd.DataFrame,
    tiny_result: Any,
    register_tiny: Callable[..., Any],
) -> None:
    register_tiny("always")
    # The same forecasts as the champion's: equal MAE is not better.
    d = decide(session, sample_frame, tiny_result)
    assert not d.promote
    assert d.details["windows"] == len(tiny_result.backtest.origins)
    assert d.details["mae"] == pytest.approx(d.details["champion_mae"], rel=1e-6)
    assert d.details["champion_mae"] == pytest.approx(
        tiny_result.metrics.test.model.overall.mae, rel=1e-6
    )


def test_auto_promotes_a_version_that_beats_the_champion_on_the_same_windows(
    session: Session,
    sample_frame: pd.DataFrame,
    tiny_result: Any,
    register_tiny: Callable[..., Any],
) -> None:
    register_tiny("always")
    better = tiny_result.backtest.model * 0.5 + tiny_result.backtest.actual * 0.5
    d = decide(session, sample_frame, tiny_result, forecasts=better)
    assert d.promote, d.reason
    assert d.details["mae"] < d.details["champion_mae"]
    assert np.isfinite(d.details["mae"])
