"""Walk-forward backtests: leak-free windows, one batched model call, both baselines, coverage."""

from __future__ import annotations

import numpy as np
import pytest

from models.backtest import Backtest, backtest_origins, walk_forward
from models.config import TrainingConfig
from models.evaluate import mean_log_return
from models.features import split_origins
from models.forecasters import NetworkForecaster
from models.metrics import DriftMethod
from models.predictor import OnnxPredictor
from models.train import TrainResult, train
from models.windows import split_bounds

TINY = TrainingConfig(
    lookback=10, horizon=3, layers=(4,), epochs=2, batch_size=64, seed=3, ensemble=1
)


@pytest.fixture(scope="module")
def trained(recent_closes: np.ndarray) -> TrainResult:
    return train(recent_closes, TINY)


def run_backtest(
    closes: np.ndarray, result: TrainResult, calls: list[int] | None = None
) -> Backtest:
    train_end, _ = split_bounds(len(closes), TINY.train_frac, TINY.val_frac)
    _, _, test = split_origins(len(closes), TINY)
    predictor = OnnxPredictor(result.onnx_bytes)

    def predict(x: np.ndarray) -> np.ndarray:
        if calls is not None:
            calls.append(len(x))
        return predictor.predict(x)

    return walk_forward(
        closes,
        NetworkForecaster(TINY, result.scalers, predict),
        train_end=train_end,
        origins=backtest_origins(len(closes), TINY, start=int(test[0])),
        calibration=result.calibration,
    )


def test_a_spike_after_an_origin_changes_nothing_forecast_from_before_it(
    recent_closes: np.ndarray, trained: TrainResult
) -> None:
    before = run_backtest(recent_closes, trained)
    spiked = recent_closes.copy()
    spike_at = int(before.origins[len(before.origins) // 2])
    spiked[spike_at + 1] *= 1.5
    after = run_backtest(spiked, trained)
    earlier = before.origins <= spike_at
    for name in ("model", "naive", "drift", "scale"):
        np.testing.assert_array_equal(getattr(before, name)[earlier], getattr(after, name)[earlier])
    # The spike is seen by later origins, which must then change: the test can fail.
    later = ~earlier
    assert not np.allclose(before.model[later][:5], after.model[later][:5])
    assert before.scale is not None and after.scale is not None
    assert np.all(after.scale[later][:5] > before.scale[later][:5])


def test_the_whole_tail_goes_through_the_model_in_one_call(
    recent_closes: np.ndarray, trained: TrainResult
) -> None:
    calls: list[int] = []
    backtest = run_backtest(recent_closes, trained, calls)
    assert calls == [len(backtest.origins)]


def test_backtest_uses_every_test_origin_and_reports_all_metrics(
    recent_closes: np.ndarray, trained: TrainResult
) -> None:
    metrics = trained.metrics.test
    _, _, test = split_origins(len(recent_closes), TINY)
    assert metrics.n_windows == len(test)
    assert metrics.drift is not None
    for scores in (metrics.model, metrics.naive, metrics.drift):
        for values in (scores.mae, scores.rmse, scores.mape, scores.mase):
            assert values is not None and len(values) == TINY.horizon
    assert metrics.skill_vs_naive_overall == pytest.approx(
        1 - metrics.model.overall.mae / metrics.naive.overall.mae
    )
    assert metrics.mae_ratio_vs_drift_overall == pytest.approx(
        metrics.model.overall.mae / metrics.drift.overall.mae
    )
    assert metrics.coverage is not None and set(metrics.coverage) == {"50", "80", "90", "95"}
    assert 0.0 <= metrics.coverage["80"].overall <= 1.0
    assert metrics.naive.directional_accuracy is None


def test_drift_is_the_log_space_random_walk_with_the_training_mean_return(
    recent_closes: np.ndarray, trained: TrainResult
) -> None:
    backtest = trained.backtest
    train_end, _ = split_bounds(len(recent_closes), TINY.train_frac, TINY.val_frac)
    mu = mean_log_return(recent_closes, train_end)
    assert backtest.metrics.drift_method == DriftMethod.LOG
    assert backtest.metrics.mu == pytest.approx(mu)
    last = recent_closes[backtest.origins]
    np.testing.assert_allclose(backtest.drift, last[:, None] * np.exp(mu * np.arange(1, 4)))


def test_step_and_n_windows_limit_the_origins() -> None:
    config = TrainingConfig(lookback=10, horizon=3)
    all_origins = backtest_origins(200, config, start=150)
    assert all_origins[0] == 150 and all_origins[-1] == 196
    assert list(backtest_origins(200, config, start=150, step=10)) == [150, 160, 170, 180, 190]
    assert list(backtest_origins(200, config, start=150, n_windows=3)) == [194, 195, 196]
    with pytest.raises(ValueError, match="step"):
        backtest_origins(200, config, start=150, step=0)
