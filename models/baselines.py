"""Naive and drift as versions of their own: fit in milliseconds, no TensorFlow, judged on the
same windows, with the same intervals and figures as a network trained with the same config."""

from __future__ import annotations

import time

import numpy as np

from models.backtest import assess, tail_origins
from models.config import TrainingConfig
from models.evaluate import mean_log_return
from models.features import Bars, as_bars, check_length, split_origins
from models.forecasters import baseline_forecaster
from models.metrics import ForecasterKind, ForecasterRecord, Timings, VersionMetrics
from models.result import FitResult
from models.windows import split_bounds


def fit_baseline(bars: Bars | np.ndarray, config: TrainingConfig) -> FitResult:
    """The naive or drift forecaster of `config.model_type`: mu from the training split, the
    intervals calibrated on its validation forecasts, backtested on the config's test origins
    (the windows a network with this config is scored on)."""
    series = as_bars(bars)
    values = series.close
    check_length(len(values), config)
    started = time.perf_counter()
    train_end, _ = split_bounds(len(values), config.train_frac, config.val_frac)
    _, val_origins, _ = split_origins(len(values), config)
    mu = mean_log_return(values, train_end)
    forecaster = baseline_forecaster(config.model_type, config.horizon, mu)
    origins = tail_origins(len(values), config)
    judged = assess(
        series,
        config,
        forecaster,
        validation_forecasts=forecaster.forecast(series, val_origins),
        val_origins=val_origins,
        test_origins=origins,
        train_end=train_end,
    )
    kind = ForecasterKind(config.model_type.value)
    metrics = VersionMetrics(
        test=judged.backtest.metrics,
        validation=judged.validation,
        epochs_run=0,
        train_seconds=0.0,
        timings=Timings(
            fit_seconds=0.0,
            export_seconds=0.0,
            parity_seconds=0.0,
            backtest_seconds=time.perf_counter() - started,
        ),
        forecaster=ForecasterRecord(kind=kind, mu=mu if kind is ForecasterKind.DRIFT else None),
    )
    return FitResult(
        keras_bytes=None,
        onnx_bytes=None,
        scalers=None,
        metrics=metrics,
        calibration=judged.calibration,
        backtest=judged.backtest,
        config=config,
        library_versions={"numpy": np.__version__},
    )
