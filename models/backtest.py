"""Walk-forward backtests against naive and log-space drift, with calibrated intervals.

Numpy only: the training process runs it on the held-out tail, and the API reads its windows.
An origin is the index of the last close a forecast may see; every input (and every interval
scale) is built from closes up to and including it, with scalers fit on the training split
only, so nothing after an origin touches its forecast. The whole tail goes through the model
in one call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from models.config import Strategy, TrainingConfig
from models.evaluate import (
    compare,
    drift_forecast,
    in_sample_naive_mae,
    mean_log_return,
    naive_forecast,
)
from models.features import (
    Bars,
    FeatureScalers,
    as_bars,
    decode_outputs,
    encode_inputs,
    encode_step,
    split_origins,
    valid_origins,
)
from models.intervals import (
    BACKTEST_LEVELS,
    REPORTED_LEVELS,
    Calibration,
    calibrate,
    interval_scores,
)
from models.metrics import BacktestSummary

if TYPE_CHECKING:  # models.forecasters builds on this module
    from models.forecasters import Forecaster

Predict = Callable[[np.ndarray], np.ndarray]


@dataclass
class Backtest:
    """Every window of a walk-forward backtest and its summary."""

    origins: np.ndarray  # index of the last close each forecast saw, (n,)
    actual: np.ndarray  # (n, horizon)
    model: np.ndarray
    naive: np.ndarray
    drift: np.ndarray
    # Each origin's interval scale (trailing volatility; 1 for plain intervals), (n,); None
    # without a calibration.
    scale: np.ndarray | None
    metrics: BacktestSummary
    # For a network version, its own forecasts and its blend with drift on the same windows
    # (`model` is whichever the version serves); named columns, reported beside each other.
    extra: dict[str, np.ndarray] = field(default_factory=dict)


def backtest_origins(
    n_bars: int,
    config: TrainingConfig,
    start: int,
    end: int | None = None,
    step: int = 1,
    n_windows: int | None = None,
) -> np.ndarray:
    """Origins in [start, end) every `step` bars; with n_windows, only the most recent ones."""
    if step < 1:
        raise ValueError(f"step must be at least 1, got {step}")
    origins = valid_origins(n_bars, config, start, n_bars if end is None else end)[::step]
    if n_windows is not None:
        if n_windows < 1:
            raise ValueError(f"n_windows must be at least 1, got {n_windows}")
        origins = origins[-n_windows:]
    return origins


def tail_origins(n_bars: int, config: TrainingConfig) -> np.ndarray:
    """The test-tail origins a version with this config is backtested on, every
    `backtest_step` trading days, the most recent `backtest_windows` of them when set."""
    _, _, test = split_origins(n_bars, config)
    return backtest_origins(
        n_bars,
        config,
        start=int(test[0]),
        step=config.backtest_step,
        n_windows=config.backtest_windows,
    )


def actuals(closes: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """The closes each origin's forecast aims at, closes[i + 1 .. i + horizon], (n, horizon)."""
    idx = np.asarray(origins, dtype=np.int64)
    return np.asarray(closes, dtype=np.float64)[idx[:, None] + np.arange(1, horizon + 1)[None, :]]


def forecast_prices(
    bars: Bars | np.ndarray,
    origins: np.ndarray,
    config: TrainingConfig,
    scalers: FeatureScalers,
    predict: Predict,
) -> np.ndarray:
    """Price forecasts of a model at each origin, shape (n, horizon), by either strategy.

    Recursive: the network forecasts one step, the forecast close is appended to the window
    (its oldest bar dropped) and the network runs again, horizon times.
    """
    series = as_bars(bars)
    idx = np.asarray(origins, dtype=np.int64)
    x = encode_inputs(series, idx, config, scalers)
    last = series.close[idx]
    if config.strategy == Strategy.DIRECT:
        return decode_outputs(predict(x), last, config, scalers)
    steps = []
    for _ in range(config.horizon):
        step = decode_outputs(predict(x), last, config, scalers)[:, 0]
        x = np.concatenate([x[:, 1:, :], encode_step(step, last, config, scalers)], axis=1)
        steps.append(step)
        last = step
    return np.stack(steps, axis=1) if steps else np.empty((idx.size, 0))


def score_forecasts(
    closes: np.ndarray, origins: np.ndarray, forecasts: np.ndarray, *, train_end: int
) -> BacktestSummary:
    """Score price forecasts made at `origins` against naive and drift on the same windows.

    Drift grows at the mean daily log return of closes[:train_end]; MASE divides by the
    in-sample one-step naive MAE of the same split.
    """
    values = np.asarray(closes, dtype=np.float64)
    idx = np.asarray(origins, dtype=np.int64)
    if idx.size == 0:
        raise ValueError("scoring needs at least one origin")
    return compare(
        actuals(values, idx, np.asarray(forecasts).shape[1]),
        forecasts,
        values[idx],
        idx,
        mu=mean_log_return(values, train_end),
        mase_scale=in_sample_naive_mae(values, train_end),
    )


def walk_forward(
    bars: Bars | np.ndarray,
    forecaster: Forecaster,
    *,
    train_end: int,
    origins: np.ndarray,
    calibration: Calibration | None = None,
    drift_calibration: Calibration | None = None,
    levels: Iterable[int] = BACKTEST_LEVELS,
) -> Backtest:
    """Forecast from every origin with the forecaster and both baselines, and score them alike.

    With a calibration the summary holds the intervals' coverage at `levels`; with drift's own
    calibration too, the interval scores of both at the reported levels.
    """
    series = as_bars(bars)
    values = series.close
    idx = np.asarray(origins, dtype=np.int64)
    if idx.size == 0:
        raise ValueError("a backtest needs at least one origin")
    h = forecaster.horizon
    model = forecaster.forecast(series, idx)
    summary = score_forecasts(values, idx, model, train_end=train_end)
    assert summary.mu is not None  # score_forecasts always scores log drift
    actual = actuals(values, idx, h)
    drift = drift_forecast(values[idx], h, summary.mu)
    scale = None
    if calibration is not None:
        scale = calibration.scale(values, idx)
        update: dict[str, object] = {
            "coverage": calibration.coverage(actual, model, scale, levels=tuple(levels))
        }
        if drift_calibration is not None:
            drift_scale = drift_calibration.scale(values, idx)
            update["interval_scores"] = {
                str(level): interval_scores(
                    actual,
                    calibration.bounds(model, level, scale),
                    drift_calibration.bounds(drift, level, drift_scale),
                    level,
                )
                for level in REPORTED_LEVELS
            }
        summary = summary.model_copy(update=update)
    return Backtest(
        origins=idx,
        actual=actual,
        model=model,
        naive=naive_forecast(values[idx], h),
        drift=drift,
        scale=scale,
        metrics=summary,
    )


@dataclass
class Assessment:
    """A forecaster judged as every version is: intervals calibrated on its validation
    forecasts, its validation figures, and the walk-forward backtest of the test tail."""

    calibration: Calibration
    validation: BacktestSummary
    backtest: Backtest


def assess(
    bars: Bars | np.ndarray,
    config: TrainingConfig,
    forecaster: Forecaster,
    *,
    validation_forecasts: np.ndarray,
    val_origins: np.ndarray,
    test_origins: np.ndarray,
    train_end: int,
) -> Assessment:
    """Calibrate on the validation forecasts (drift's own intervals alike), score validation,
    then backtest the test origins: the one judgement of networks, blends and baselines."""
    series = as_bars(bars)
    values = series.close

    def calibrated(forecasts: np.ndarray) -> Calibration:
        return calibrate(
            values,
            val_origins,
            forecasts,
            method=config.interval_method,
            volatility_window=config.volatility_window,
        )

    calibration = calibrated(validation_forecasts)
    mu = mean_log_return(values, train_end)
    drift_calibration = calibrated(drift_forecast(values[val_origins], config.horizon, mu))
    return Assessment(
        calibration=calibration,
        validation=score_forecasts(values, val_origins, validation_forecasts, train_end=train_end),
        backtest=walk_forward(
            series,
            forecaster,
            train_end=train_end,
            origins=test_origins,
            calibration=calibration,
            drift_calibration=drift_calibration,
        ),
    )
