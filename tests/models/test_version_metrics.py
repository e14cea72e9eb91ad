"""Typed version metrics: today's shape, the shape stored before log drift, and what they say."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from models.evaluate import compare
from models.metrics import BacktestSummary, DriftMethod, VersionMetrics


def scores(mae: list[float], directional: bool = True) -> dict[str, Any]:
    """An error-scores record as `train` stored it before issue #8."""
    return {
        "mae": mae,
        "rmse": [2 * m for m in mae],
        "mape": [m / 10 for m in mae],
        "mase": [m / 1.5 for m in mae],
        "directional_accuracy": [0.5] * len(mae) if directional else None,
        "overall": {
            "mae": sum(mae) / len(mae),
            "rmse": 2 * sum(mae) / len(mae),
            "mape": sum(mae) / len(mae) / 10,
            "mase": sum(mae) / len(mae) / 1.5,
            "directional_accuracy": 0.5 if directional else None,
        },
    }


# A version's metrics as stored before issue #8: dollar drift, validation against naive only.
OLD_RECORD: dict[str, Any] = {
    "test": {
        "n_windows": 750,
        "first_origin": 4276,
        "last_origin": 5025,
        "mase_scale": 1.5,
        "drift_per_day": 0.0044,
        "model": scores([10.0, 14.0]),
        "naive": scores([9.9, 14.2], directional=False),
        "drift": scores([9.95, 13.9]),
        "skill_vs_naive": [1 - 10.0 / 9.9, 1 - 14.0 / 14.2],
        "skill_vs_naive_overall": 1 - 12.0 / 12.05,
        "skill_vs_drift": [1 - 10.0 / 9.95, 1 - 14.0 / 13.9],
        "skill_vs_drift_overall": 1 - 12.0 / 11.925,
        "mae_ratio": [10.0 / 9.9, 14.0 / 14.2],
        "mae_ratio_overall": 12.0 / 12.05,
        "coverage": {
            "80": {
                "per_step": [0.8, 0.82],
                "overall": 0.81,
                "mean_width": [50.0, 70.0],
                "mean_width_overall": 60.0,
            }
        },
    },
    "validation": {
        # Validation scores then had no MASE and no directional accuracy.
        "model": {k: v for k, v in scores([5.0, 7.0]).items() if k in ("mae", "rmse", "mape")}
        | {"overall": {"mae": 6.0, "rmse": 12.0, "mape": 0.6}},
        "naive": {k: v for k, v in scores([5.1, 7.2]).items() if k in ("mae", "rmse", "mape")}
        | {"overall": {"mae": 6.15, "rmse": 12.3, "mape": 0.615}},
        "mae_ratio": [5.0 / 5.1, 7.0 / 7.2],
        "mae_ratio_overall": 6.0 / 6.15,
        "n_windows": 750,
    },
    "parity_max_abs_diff": 3e-7,
    "epochs_run": 12,
    "best_epoch": 7,
    "train_seconds": 40.0,
    "promotion": {
        "promoted": False,
        "reason": "not promoted: backtest skill against naive is -0.0041 (needs > 0)",
        "mode": "auto",
        "skill_vs_naive": -0.0041,
        "previous_champion": None,
    },
}


def summary(
    model_mae: list[float], naive_mae: list[float], drift_mae: list[float]
) -> BacktestSummary:
    """Test-tail figures scored against log drift with these MAEs per step."""
    return BacktestSummary.model_validate(
        {
            "n_windows": 250,
            "mu": 0.0004,
            "model": scores(model_mae),
            "naive": scores(naive_mae, directional=False),
            "drift": scores(drift_mae),
            "mae_ratio": [m / n for m, n in zip(model_mae, naive_mae, strict=True)],
            "mae_ratio_vs_drift": [m / d for m, d in zip(model_mae, drift_mae, strict=True)],
        }
    )


def test_metrics_stored_before_log_drift_read_as_dollar_drift() -> None:
    metrics = VersionMetrics.model_validate(OLD_RECORD)
    assert metrics.test.drift_method == DriftMethod.DOLLAR
    assert metrics.test.mu is None and metrics.test.drift_per_day == 0.0044
    assert metrics.test.coverage is not None and metrics.test.coverage["80"].overall == 0.81
    assert metrics.validation is not None and metrics.validation.drift is None
    assert metrics.validation.mae_ratio_overall == pytest.approx(6.0 / 6.15)
    assert metrics.best_epoch == 7 and metrics.members == []
    assert metrics.promotion is not None and not metrics.promotion.promoted


def test_a_migration_marker_is_read_as_written() -> None:
    marked = {**OLD_RECORD, "test": {**OLD_RECORD["test"], "drift_method": "dollar"}}
    assert VersionMetrics.model_validate(marked).test.drift_method == DriftMethod.DOLLAR


def test_reading_and_storing_again_keeps_every_key_it_does_not_model() -> None:
    stored = json.loads(
        json.dumps(VersionMetrics.model_validate(OLD_RECORD).model_dump(mode="json"))
    )
    assert stored["promotion"]["skill_vs_naive"] == -0.0041
    assert stored["test"]["mae_ratio"] == OLD_RECORD["test"]["mae_ratio"]
    assert stored["test"]["drift_method"] == "dollar"
    assert VersionMetrics.model_validate(stored) == VersionMetrics.model_validate(OLD_RECORD)


def test_losing_steps_name_where_the_model_is_worse_than_each_baseline() -> None:
    test = VersionMetrics.model_validate(OLD_RECORD).test
    assert test.losing_steps("naive") == [1]
    assert test.losing_steps("drift") == [1, 2]
    assert not test.beats_baselines()
    with pytest.raises(ValueError, match="no drift baseline"):
        VersionMetrics.model_validate(OLD_RECORD).validation.losing_steps("drift")  # type: ignore[union-attr]


def test_the_warning_names_each_baseline_and_step_with_its_ratio() -> None:
    s = summary([1.0, 2.0, 3.0], naive_mae=[0.9, 2.0, 3.5], drift_mae=[1.1, 1.9, 2.5])
    assert s.losing_steps("naive") == [1]  # an equal MAE at step 2 is not a loss
    assert s.losing_steps("drift") == [2, 3]
    assert s.baseline_warning() == (
        "On its backtest (250 windows) its MAE is worse than naive (the last close) at step 1 "
        "(MAE ratio 1.1111) and than drift (the last close grown at the training data's mean "
        "daily log return) at steps 2 and 3 (MAE ratios 1.0526, 1.2000)."
    )


def test_a_model_at_most_as_bad_as_both_baselines_everywhere_has_no_warning() -> None:
    s = summary([1.0, 2.0], naive_mae=[1.0, 2.5], drift_mae=[1.2, 2.0])
    assert s.beats_baselines()
    assert s.baseline_warning() is None


def test_an_old_version_s_warning_says_it_was_scored_with_the_dollar_drift() -> None:
    warning = VersionMetrics.model_validate(OLD_RECORD).test.baseline_warning()
    assert warning is not None
    assert "naive (the last close) at step 1 (MAE ratio 1.0101)" in warning
    assert "dollar drift it was scored with" in warning and "steps 1 and 2" in warning


def test_typed_metrics_store_no_nan() -> None:
    actual = np.full((2, 2), 100.0)
    last = np.array([100.0, 100.0])
    s = compare(actual, actual + 1.0, last, np.arange(2), mu=0.0, mase_scale=0.0)
    # allow_nan=False raises on NaN or infinity, which JSON (and PostgreSQL) refuse.
    text = json.dumps(VersionMetrics(test=s).model_dump(mode="json"), allow_nan=False)
    assert '"mae_ratio": [null, null]' in text and '"mase": null' in text


def test_figures_from_before_drift_was_scored_never_claim_to_beat_it() -> None:
    # The test figures of versions registered before backtests had this shape.
    test = VersionMetrics.model_validate({"test": OLD_RECORD["validation"]}).test
    assert test.drift is None and test.drift_method is None
    assert test.losing_steps("naive") == []
    assert not test.beats_baselines()
    assert test.baseline_warning() == (
        "It was never scored against drift (registered before drift was)."
    )
