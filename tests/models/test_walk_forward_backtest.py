"""Walk-forward backtests: leak-free windows, baselines, skill, and conformal coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.backtest import (
    backtest_origins,
    conformal_quantiles,
    coverage,
    drift_forecast,
    in_sample_naive_mae,
    interval_bounds,
    score,
    walk_forward,
)
from models.config import TrainingConfig
from models.features import split_origins
from models.predictor import OnnxPredictor
from models.train import TrainResult, train
from models.windows import split_bounds

TINY = TrainingConfig(lookback=10, horizon=3, layers=(4,), epochs=2, batch_size=64, seed=3)


@pytest.fixture(scope="module")
def trained(recent_closes: np.ndarray) -> TrainResult:
    return train(recent_closes, TINY)


def run_backtest(closes: np.ndarray, result: TrainResult) -> object:
    train_end, _ = split_bounds(len(closes), TINY.train_frac, TINY.val_frac)
    _, _, test = split_origins(len(closes), TINY)
    return walk_forward(
        closes,
        TINY,
        result.scalers,
        OnnxPredictor(result.onnx_bytes).predict,
        train_end=train_end,
        origins=backtest_origins(len(closes), TINY, start=int(test[0])),
        calibration=result.calibration["half_widths"],
    )


def test_a_spike_after_an_origin_changes_nothing_forecast_from_before_it(
    recent_closes: np.ndarray, trained: TrainResult
) -> None:
    before = run_backtest(recent_closes, trained)
    spiked = recent_closes.copy()
    spike_at = int(before.origins[len(before.origins) // 2])  # type: ignore[attr-defined]
    spiked[spike_at + 1] *= 1.5
    after = run_backtest(spiked, trained)
    earlier = before.origins <= spike_at  # type: ignore[attr-defined]
    for name in ("model", "naive", "drift"):
        np.testing.assert_array_equal(getattr(before, name)[earlier], getattr(after, name)[earlier])
    # The spike is seen by later origins, which must then change: the test can fail.
    later = ~earlier
    assert not np.allclose(before.model[later][:5], after.model[later][:5])  # type: ignore[attr-defined]


def test_backtest_uses_every_test_origin_and_reports_all_metrics(
    recent_closes: np.ndarray, trained: TrainResult
) -> None:
    metrics = trained.metrics["test"]
    _, _, test = split_origins(len(recent_closes), TINY)
    assert metrics["n_windows"] == len(test)
    for name in ("model", "naive", "drift"):
        for key in ("mae", "rmse", "mape", "mase"):
            assert len(metrics[name][key]) == TINY.horizon
    assert metrics["skill_vs_naive_overall"] == pytest.approx(
        1 - metrics["model"]["overall"]["mae"] / metrics["naive"]["overall"]["mae"]
    )
    assert metrics["skill_vs_drift_overall"] == pytest.approx(
        1 - metrics["model"]["overall"]["mae"] / metrics["drift"]["overall"]["mae"]
    )
    assert set(metrics["coverage"]) == {"50", "80", "90", "95"}
    assert 0.0 <= metrics["coverage"]["80"]["overall"] <= 1.0
    assert metrics["naive"]["directional_accuracy"] is None


def test_step_and_n_windows_limit_the_origins() -> None:
    config = TrainingConfig(lookback=10, horizon=3)
    all_origins = backtest_origins(200, config, start=150)
    assert all_origins[0] == 150 and all_origins[-1] == 196
    assert list(backtest_origins(200, config, start=150, step=10)) == [150, 160, 170, 180, 190]
    assert list(backtest_origins(200, config, start=150, n_windows=3)) == [194, 195, 196]
    with pytest.raises(ValueError, match="step"):
        backtest_origins(200, config, start=150, step=0)


def test_scores_on_hand_computed_windows() -> None:
    actual = np.array([[101.0, 103.0], [99.0, 98.0]])
    last = np.array([100.0, 100.0])
    forecast = np.array([[102.0, 101.0], [101.0, 99.0]])
    s = score(actual, forecast, last, mase_scale=2.0)
    assert s["mae"] == pytest.approx([1.5, 1.5])
    assert s["mase"] == pytest.approx([0.75, 0.75])
    # Window 1: both up (hit, hit); window 2: forecast up but actual down, then both down.
    assert s["directional_accuracy"] == pytest.approx([0.5, 1.0])
    assert in_sample_naive_mae(np.array([1.0, 3.0, 2.0]), 3) == pytest.approx(1.5)
    np.testing.assert_allclose(drift_forecast(last, 2, 0.5), [[100.5, 101.0], [100.5, 101.0]])


def test_conformal_intervals_cover_their_level_on_a_series_with_known_noise() -> None:
    rng = np.random.default_rng(0)
    sigma, horizon, n = 0.01, 3, 4000

    # A random walk in log price: the best forecast is the last close, and the error of step k
    # is N(0, sigma * sqrt(k)); calibration and test windows are independent draws.
    def windows(count: int) -> tuple[np.ndarray, np.ndarray]:
        last = 100 * np.exp(rng.normal(0, 0.1, count))
        steps = np.cumsum(rng.normal(0, sigma, (count, horizon)), axis=1)
        return last[:, None] * np.exp(steps), np.repeat(last[:, None], horizon, axis=1)

    cal_actual, cal_pred = windows(n)
    half = conformal_quantiles(cal_actual, cal_pred, levels=(80, 95))
    z80 = 1.2815515655446004
    for k in range(horizon):
        assert half["80"][k] == pytest.approx(z80 * sigma * math.sqrt(k + 1), rel=0.06)
    test_actual, test_pred = windows(n)
    for level in (80, 95):
        cov = coverage(test_actual, *interval_bounds(test_pred, half[str(level)]))
        assert abs(cov["overall"] - level / 100) < 0.02, cov


def test_conformal_levels_are_validated() -> None:
    a = np.ones((5, 2))
    with pytest.raises(ValueError, match="level"):
        conformal_quantiles(a, a, levels=(100,))
