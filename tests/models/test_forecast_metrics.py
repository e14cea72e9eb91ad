"""The baselines and the one scorer: naive, log-space drift, errors, skills and ratios."""

import math

import numpy as np
import pytest

from models.evaluate import (
    compare,
    drift_forecast,
    in_sample_naive_mae,
    mean_log_return,
    naive_forecast,
    score,
)
from models.metrics import DriftMethod


def test_naive_forecast_repeats_the_last_close_for_every_step() -> None:
    np.testing.assert_array_equal(
        naive_forecast(np.array([1.0, 2.0]), 3), [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]
    )


def test_drift_grows_the_last_close_at_the_mean_daily_log_return() -> None:
    mu = math.log(1.01)
    np.testing.assert_allclose(
        drift_forecast(np.array([100.0, 50.0]), 3, mu),
        [[101.0, 102.01, 103.0301], [50.5, 51.005, 51.515050]],
    )


def test_mean_log_return_is_the_mean_of_the_training_split_daily_log_returns(
    gspc_closes: np.ndarray,
) -> None:
    mu = mean_log_return(gspc_closes, 3521)
    assert mu == pytest.approx(float(np.mean(np.diff(np.log(gspc_closes[:3521])))), rel=1e-12)
    # The closes after the split do not move it.
    changed = gspc_closes.copy()
    changed[3521:] *= 3.0
    assert mean_log_return(changed, 3521) == mu


def test_log_drift_of_a_tenfold_series_is_not_the_early_years_dollar_change() -> None:
    # The case: a stock that grew tenfold. Its dollar drift averages the cheap early
    # years; log drift grows any price level at the same daily rate.
    closes = 10.0 * np.exp(np.linspace(0.0, math.log(10.0), 2001))
    mu = mean_log_return(closes, 2001)
    dollar_per_day = (closes[-1] - closes[0]) / 2000
    last = closes[-1:]
    growth = drift_forecast(last, 1, mu)[0, 0] / last[0]
    assert growth == pytest.approx(math.exp(math.log(10) / 2000))
    assert dollar_per_day / last[0] < 0.5 * math.log(10) / 2000


def test_scores_on_hand_computed_windows() -> None:
    actual = np.array([[101.0, 103.0], [99.0, 98.0]])
    last = np.array([100.0, 100.0])
    forecast = np.array([[102.0, 101.0], [101.0, 99.0]])
    s = score(actual, forecast, last, mase_scale=2.0)
    assert s.mae == pytest.approx([1.5, 1.5])
    assert s.rmse == pytest.approx([math.sqrt(2.5), math.sqrt(2.5)])
    assert s.mase == pytest.approx([0.75, 0.75])
    # Window 1: both up (hit, hit); window 2: forecast up but actual down, then both down.
    assert s.directional_accuracy == pytest.approx([0.5, 1.0])
    assert s.overall.mae == pytest.approx(1.5)
    assert s.overall.directional_accuracy == pytest.approx(0.75)
    assert in_sample_naive_mae(np.array([1.0, 3.0, 2.0]), 3) == pytest.approx(1.5)


def test_score_rejects_mismatched_or_empty_windows() -> None:
    with pytest.raises(ValueError, match="shape"):
        score(np.ones((3, 2)), np.ones((3, 3)), np.ones(3), 1.0)
    with pytest.raises(ValueError, match="non-empty"):
        score(np.ones((0, 2)), np.ones((0, 2)), np.ones(0), 1.0)
    with pytest.raises(ValueError, match="last_close"):
        score(np.ones((2, 3)), np.ones((2, 3)), np.ones(3), 1.0)


def test_compare_scores_model_naive_and_log_drift_on_the_same_windows() -> None:
    actual = np.array([[101.0, 103.0], [99.0, 97.0]])
    model = np.array([[101.0, 102.0], [99.0, 98.0]])
    last = np.array([100.0, 100.0])
    mu = math.log(1.01)
    summary = compare(actual, model, last, np.array([7, 8]), mu=mu, mase_scale=1.0)
    assert (summary.n_windows, summary.first_origin, summary.last_origin) == (2, 7, 8)
    assert summary.drift_method == DriftMethod.LOG and summary.mu == mu
    assert summary.model.mae == pytest.approx([0.0, 1.0])
    assert summary.naive.mae == pytest.approx([1.0, 3.0])
    # Drift forecasts 101 and 102.01 in both windows.
    assert summary.baseline("drift").mae == pytest.approx([1.0, (0.99 + 5.01) / 2])
    assert summary.mae_ratio == pytest.approx([0.0, 1.0 / 3.0])
    assert summary.mae_ratio_overall == pytest.approx(0.5 / 2.0)
    assert summary.mae_ratio_vs_drift == pytest.approx([0.0, 1.0 / 3.0])
    assert summary.skill_vs_naive == pytest.approx([1.0, 2.0 / 3.0])
    assert summary.skill_vs_drift_overall == pytest.approx(1 - 0.5 / 2.0)
    assert summary.naive.directional_accuracy is None


def test_ratio_against_a_perfect_baseline_is_none_so_it_stores_as_json() -> None:
    actual = np.full((2, 2), 100.0)
    last = np.array([100.0, 100.0])
    summary = compare(actual, actual + 1.0, last, np.arange(2), mu=0.0, mase_scale=1.0)
    assert summary.mae_ratio == [None, None]
    assert summary.mae_ratio_overall is None
    assert summary.skill_vs_drift_overall is None
    # A perfect baseline still beats the model at every step.
    assert summary.losing_steps("naive") == [1, 2]
