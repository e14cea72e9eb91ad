"""horizon_metrics, naive_forecast and compare_to_naive on hand-computed arrays."""

import math

import numpy as np
import pytest

from models.evaluate import compare_to_naive, horizon_metrics, naive_forecast


def test_horizon_metrics_per_step_and_overall() -> None:
    actual = np.array([[100.0, 200.0], [100.0, 100.0]])
    predicted = np.array([[110.0, 190.0], [90.0, 100.0]])
    metrics = horizon_metrics(actual, predicted)
    assert metrics["mae"] == pytest.approx([10.0, 5.0])
    assert metrics["rmse"] == pytest.approx([10.0, math.sqrt(50.0)])
    assert metrics["mape"] == pytest.approx([10.0, 2.5])
    assert metrics["overall"] == pytest.approx({"mae": 7.5, "rmse": math.sqrt(75.0), "mape": 6.25})


def test_horizon_metrics_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        horizon_metrics(np.ones((3, 2)), np.ones((3, 3)))


def test_horizon_metrics_rejects_empty_input() -> None:
    with pytest.raises(ValueError, match="empty"):
        horizon_metrics(np.ones((0, 2)), np.ones((0, 2)))


def test_naive_forecast_repeats_the_last_close_for_every_step() -> None:
    np.testing.assert_array_equal(
        naive_forecast(np.array([1.0, 2.0]), 3), [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]
    )


def test_compare_to_naive_scores_both_on_the_same_windows() -> None:
    actual = np.array([[101.0, 103.0], [99.0, 97.0]])
    model = np.array([[101.0, 102.0], [99.0, 98.0]])
    last_close = np.array([100.0, 100.0])
    result = compare_to_naive(actual, model, last_close)
    assert result["n_windows"] == 2
    assert result["model"]["mae"] == pytest.approx([0.0, 1.0])
    assert result["naive"]["mae"] == pytest.approx([1.0, 3.0])
    assert result["mae_ratio"] == pytest.approx([0.0, 1.0 / 3.0])
    assert result["mae_ratio_overall"] == pytest.approx(0.5 / 2.0)


def test_compare_to_naive_rejects_a_last_close_per_window_mismatch() -> None:
    with pytest.raises(ValueError, match="last_close"):
        compare_to_naive(np.ones((2, 3)), np.ones((2, 3)), np.ones(3))


def test_ratio_against_a_flat_naive_is_none_so_it_stores_as_json() -> None:
    actual = np.full((2, 2), 100.0)
    result = compare_to_naive(actual, actual + 1.0, np.array([100.0, 100.0]))
    assert result["mae_ratio"] == [None, None]
    assert result["mae_ratio_overall"] is None
