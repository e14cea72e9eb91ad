"""The champion gate: a version is champion only with evidence. It must beat naive and drift at
every step, and beat a sitting champion by more than noise (Diebold-Mariano, HAC variance)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from app.registry import versions
from app.training import gate
from models.backtest import score_forecasts
from models.metrics import Promotion
from models.windows import split_bounds


def candidate(frame: pd.DataFrame, result: Any, forecasts: np.ndarray) -> gate.Candidate:
    """A candidate with these forecasts on the tiny model's backtest windows, scored for real."""
    closes = frame["close"].to_numpy()
    train_end, _ = split_bounds(len(closes), 0.70, 0.15)
    origins = result.backtest.origins
    return gate.Candidate(
        closes=closes,
        origins=origins,
        forecasts=forecasts,
        summary=score_forecasts(closes, origins, forecasts, train_end=train_end),
    )


def decide(session: Session, cand: gate.Candidate, mode: str = "auto") -> Promotion:
    return gate.decide(
        session, ticker="^GSPC", mode=gate.PromoteMode(mode), candidate=cand, alpha=0.10
    )


def halfway_to_actual(result: Any) -> np.ndarray:
    """Forecasts with half the tiny model's error: better than everything on every step."""
    return np.asarray(0.5 * result.backtest.model + 0.5 * result.backtest.actual)


def test_first_version_follows_its_real_evidence_and_records_it(
    session: Session, register_tiny: Callable[..., Any]
) -> None:
    version, decision = register_tiny("auto")
    beats = version.metrics["test"]["drift_method"] == "log" and not (
        decision.reason.startswith("not promoted")
    )
    served = versions.resolve_alias(session, ticker="^GSPC", alias="champion")
    assert decision.promoted == beats == (served is not None)
    stored = Promotion.model_validate(version.metrics["promotion"])
    assert stored.earned == decision.promoted and stored.mode == "auto" and not stored.forced
    if not decision.promoted:
        assert "does not beat both baselines at every step" in decision.reason


def test_a_candidate_losing_at_one_step_is_refused_naming_the_step(
    session: Session, sample_frame: pd.DataFrame, tiny_result: Any
) -> None:
    forecasts = halfway_to_actual(tiny_result)
    forecasts[:, 2] = tiny_result.backtest.actual[:, 2] * 1.05  # step 3: 5% off, worse than naive
    d = decide(session, candidate(sample_frame, tiny_result, forecasts))
    assert not d.promoted and d.earned is False
    assert "naive (the last close) at step 3" in d.reason
    assert "steps 1" not in d.reason


def test_a_candidate_beating_both_baselines_with_no_champion_is_promoted(
    session: Session, sample_frame: pd.DataFrame, tiny_result: Any
) -> None:
    d = decide(session, candidate(sample_frame, tiny_result, halfway_to_actual(tiny_result)))
    assert d.promoted and "no champion sits" in d.reason and d.significance is None


def test_no_better_than_the_champion_is_noise_and_not_promoted(
    session: Session,
    sample_frame: pd.DataFrame,
    tiny_result: Any,
    register_tiny: Callable[..., Any],
) -> None:
    register_tiny("always")
    champion_forecasts = tiny_result.backtest.model
    rng = np.random.default_rng(0)
    # The champion's own forecasts, each moved by a hundredth of a point: pure noise.
    noisy = champion_forecasts + rng.normal(0.0, 0.01, champion_forecasts.shape)
    cand = candidate(sample_frame, tiny_result, noisy)
    # Make the every-step rule pass, so that only the comparison with the champion decides.
    cand = gate.Candidate(
        cand.closes,
        cand.origins,
        cand.forecasts,
        candidate(sample_frame, tiny_result, halfway_to_actual(tiny_result)).summary,
    )
    d = decide(session, cand)
    assert not d.promoted
    assert d.significance is not None and d.significance.p_value is not None
    assert d.significance.p_value >= 0.10
    assert d.significance.n_windows == len(tiny_result.backtest.origins)
    assert d.significance.lag == 4  # 5-step windows a day apart overlap 4 others
    assert "not champion v1 by more than noise" in d.reason and "p = " in d.reason


def test_clearly_better_than_the_champion_is_promoted_with_its_statistic(
    session: Session,
    sample_frame: pd.DataFrame,
    tiny_result: Any,
    register_tiny: Callable[..., Any],
) -> None:
    register_tiny("always")
    d = decide(session, candidate(sample_frame, tiny_result, halfway_to_actual(tiny_result)))
    assert d.promoted and d.previous_champion == 1
    assert d.significance is not None and d.significance.p_value is not None
    assert d.significance.p_value < 0.01 and d.significance.mean_loss_difference < 0
    assert "champion v1 (Diebold-Mariano" in d.reason


def test_always_and_never_override_and_say_so(
    session: Session,
    sample_frame: pd.DataFrame,
    tiny_result: Any,
    register_tiny: Callable[..., Any],
) -> None:
    worse = candidate(sample_frame, tiny_result, tiny_result.backtest.actual * 1.05)
    forced = decide(session, worse, mode="always")
    assert forced.promoted and forced.forced and forced.earned is False
    assert forced.reason.startswith("promoted by promote=always over the gate:")
    good = candidate(sample_frame, tiny_result, halfway_to_actual(tiny_result))
    never = decide(session, good, mode="never")
    assert not never.promoted and never.earned is True
    assert "the gate would have promoted it" in never.reason
    _, recorded = register_tiny("never")
    assert versions.resolve_alias(session, ticker="^GSPC", alias="champion") is None
    assert recorded.mode == "never"
