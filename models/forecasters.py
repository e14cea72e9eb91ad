"""Forecasters: one interface for a network, its blend with drift, and the two baselines.

Each turns bars into price forecasts at origins, shape (n, horizon), reading nothing after an
origin; training backtests them, the champion gate re-runs a sitting champion through them and
the API serves through them (numpy, plus a `predict` callable for networks: no TensorFlow).

The blend of a network with drift, in log space, one weight per step:

    blend_k = drift_k x exp(w_k x (log network_k - log drift_k)),  w_k in [0, 1]

w_k = 0 is drift, w_k = 1 the network. The weights are fit on the validation split only, by
the MAE of the blended price forecast over a grid of weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from models.backtest import (
    Assessment,
    actuals,
    assess,
    forecast_prices,
    score_forecasts,
    tail_origins,
)
from models.config import BlendMode, ModelType, TrainingConfig
from models.evaluate import drift_forecast, mean_log_return, naive_forecast
from models.features import Bars, FeatureScalers, as_bars, min_history, split_origins
from models.metrics import (
    BacktestSummary,
    BaselineRatios,
    BlendFit,
    ForecasterKind,
    ForecasterRecord,
    VersionMetrics,
)
from models.windows import split_bounds

Predict = Callable[[np.ndarray], np.ndarray]
# The weights tried per step: 0, 0.01, ..., 1. The MAE of a blend is not convex in its weight
# (an actual between drift and the network makes a kink), so a grid, not a descent.
WEIGHT_GRID = np.linspace(0.0, 1.0, 101)
# Validation halves for the out-of-fold figures that decide whether the blend is served.
BLEND_FOLDS = 2


class Forecaster(Protocol):
    """What the backtest, the gate and the API need of anything that forecasts."""

    @property
    def kind(self) -> ForecasterKind:
        """What it is."""

    @property
    def horizon(self) -> int:
        """Steps it forecasts."""

    def history(self) -> int:
        """Closes, ending at and including an origin, one forecast reads."""

    def forecast(self, bars: Bars | np.ndarray, origins: np.ndarray) -> np.ndarray:
        """Price forecasts at each origin, shape (n, horizon)."""


def _last_closes(bars: Bars | np.ndarray, origins: np.ndarray) -> np.ndarray:
    return as_bars(bars).close[np.asarray(origins, dtype=np.int64)]


@dataclass(frozen=True)
class NaiveForecaster:
    """Repeat the last close for every step."""

    horizon: int
    kind: ForecasterKind = ForecasterKind.NAIVE

    def history(self) -> int:
        return 1

    def forecast(self, bars: Bars | np.ndarray, origins: np.ndarray) -> np.ndarray:
        return naive_forecast(_last_closes(bars, origins), self.horizon)


@dataclass(frozen=True)
class DriftForecaster:
    """The last close grown at the training split's mean daily log return: last x exp(mu k)."""

    horizon: int
    mu: float
    kind: ForecasterKind = ForecasterKind.DRIFT

    def history(self) -> int:
        return 1

    def forecast(self, bars: Bars | np.ndarray, origins: np.ndarray) -> np.ndarray:
        return drift_forecast(_last_closes(bars, origins), self.horizon, self.mu)


@dataclass(frozen=True)
class NetworkForecaster:
    """A trained network (Keras or its ONNX graph behind `predict`) decoded to prices."""

    config: TrainingConfig
    scalers: FeatureScalers
    predict: Predict
    kind: ForecasterKind = ForecasterKind.NETWORK

    @property
    def horizon(self) -> int:
        return self.config.horizon

    def history(self) -> int:
        return min_history(self.config)

    def forecast(self, bars: Bars | np.ndarray, origins: np.ndarray) -> np.ndarray:
        return forecast_prices(bars, origins, self.config, self.scalers, self.predict)


@dataclass(frozen=True)
class BlendForecaster:
    """A network blended with drift in log space, one weight per step."""

    network: NetworkForecaster
    mu: float
    weights: tuple[float, ...]
    kind: ForecasterKind = ForecasterKind.BLEND

    @property
    def horizon(self) -> int:
        return self.network.horizon

    def history(self) -> int:
        return self.network.history()

    def forecast(self, bars: Bars | np.ndarray, origins: np.ndarray) -> np.ndarray:
        network = self.network.forecast(bars, origins)
        drift = drift_forecast(_last_closes(bars, origins), self.horizon, self.mu)
        return blend_prices(network, drift, np.asarray(self.weights))


def blend_prices(network: np.ndarray, drift: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """drift x exp(w_k x (log network - log drift)) per step, shape (n, horizon)."""
    w = np.asarray(weights, dtype=np.float64).reshape(1, -1)
    net = np.asarray(network, dtype=np.float64)
    dr = np.asarray(drift, dtype=np.float64)
    return dr * np.exp(w[:, : net.shape[1]] * (np.log(net) - np.log(dr)))


def fit_weights(network: np.ndarray, drift: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Per step, the grid weight whose blend has the lowest MAE on these windows, (horizon,).

    Ties go to the smaller weight (closer to drift, the simpler forecast).
    """
    log_gap = np.log(np.asarray(network, dtype=np.float64)) - np.log(drift)
    # (grid, n, horizon) blended forecasts; a validation split is a few thousand windows.
    blended = drift[None] * np.exp(WEIGHT_GRID[:, None, None] * log_gap[None])
    mae = np.abs(blended - actual[None]).mean(axis=1)  # (grid, horizon)
    return WEIGHT_GRID[np.argmin(mae, axis=0)]


def out_of_fold(
    network: np.ndarray, drift: np.ndarray, actual: np.ndarray, folds: int = BLEND_FOLDS
) -> np.ndarray:
    """Blended forecasts of each of `folds` consecutive blocks of windows, with weights fit
    on the other blocks: figures of the blend on windows its weights never saw, (n, horizon).

    Windows within `horizon` steps of a block's edge share closes with the next block; the
    overlap is a handful of windows out of hundreds and is left in.
    """
    n = network.shape[0]
    if n < 2 * folds:
        raise ValueError(f"an out-of-fold blend needs at least {2 * folds} windows, got {n}")
    out = np.empty_like(np.asarray(network, dtype=np.float64))
    for block in np.array_split(np.arange(n), folds):
        rest = np.setdiff1d(np.arange(n), block)
        weights = fit_weights(network[rest], drift[rest], actual[rest])
        out[block] = blend_prices(network[block], drift[block], weights)
    return out


@dataclass(frozen=True)
class BlendChoice:
    """The blend fit on validation windows, whether to serve it, and the validation forecasts
    of what is served (out of fold for the blend) for calibration and scoring."""

    fit: BlendFit
    served_validation: np.ndarray  # (n validation windows, horizon)


def choose_blend(
    network: np.ndarray, drift: np.ndarray, actual: np.ndarray, mode: BlendMode
) -> BlendChoice:
    """Fit the blend on validation forecasts and decide, by `mode`, whether it is served.

    auto serves the blend when its out-of-fold MAE averaged over the steps is below the
    network's on the same validation windows, unless every weight is 0: that blend is drift
    itself, and a version does not serve drift under a network's name (the ticker's drift
    baseline is there for that).
    """
    weights = fit_weights(network, drift, actual)
    blended = out_of_fold(network, drift, actual)
    mae_network = np.abs(network - actual).mean(axis=0)
    mae_blend = np.abs(blended - actual).mean(axis=0)
    net_mean, blend_mean = float(mae_network.mean()), float(mae_blend.mean())
    figures = (
        f"out of fold on {network.shape[0]} validation windows, the blend's MAE averaged over "
        f"the steps is {blend_mean:.6g} against the network's {net_mean:.6g}"
    )
    if mode is BlendMode.ALWAYS:
        served, reason = True, f"blend=always ({figures})"
    elif mode is BlendMode.NEVER:
        served, reason = False, f"blend=never ({figures})"
    elif not np.any(weights > 0):
        served = False
        reason = (
            "the network is served as it is: every blend weight fit on validation is 0, so "
            f"the blend would be drift itself ({figures})"
        )
    elif blend_mean < net_mean:
        served, reason = True, f"the blend is served: {figures}"
    else:
        served, reason = False, f"the network is served as it is: {figures}"
    return BlendChoice(
        fit=BlendFit(
            mode=mode.value,
            weights=[float(w) for w in weights],
            served=served,
            reason=reason,
            folds=BLEND_FOLDS,
            validation_mae_network=mae_network.tolist(),
            validation_mae_blend=mae_blend.tolist(),
        ),
        served_validation=blended if served else np.asarray(network, dtype=np.float64),
    )


def from_stored(
    config: TrainingConfig,
    metrics: dict[str, object] | VersionMetrics,
    network: Callable[[], NetworkForecaster],
) -> Forecaster:
    """The forecaster a stored version serves, from its config and metrics; `network` builds
    its network (an ONNX session) only when it has one."""
    return from_record(VersionMetrics.model_validate(metrics).forecaster, config, network)


def baseline_forecaster(model_type: ModelType, horizon: int, mu: float) -> Forecaster:
    """The naive or drift forecaster of a baseline model type."""
    if model_type is ModelType.NAIVE:
        return NaiveForecaster(horizon)
    if model_type is ModelType.DRIFT:
        return DriftForecaster(horizon, mu)
    raise ValueError(f"{model_type.value} is a network, not a baseline")


def from_record(
    record: ForecasterRecord | None,
    config: TrainingConfig,
    network: Callable[[], NetworkForecaster],
) -> Forecaster:
    """The forecaster a stored version serves; `network` builds its network when it has one
    (a record of None is a version from before blends and baselines: its network)."""
    kind = ForecasterKind.NETWORK if record is None else record.kind
    if kind is ForecasterKind.NAIVE:
        return NaiveForecaster(config.horizon)
    assert record is not None or kind is ForecasterKind.NETWORK
    if kind is ForecasterKind.NETWORK:
        return network()
    if record is None or record.mu is None:
        raise ValueError(f"a stored {kind.value} forecaster needs its mu")
    if kind is ForecasterKind.DRIFT:
        return DriftForecaster(config.horizon, record.mu)
    if record.weights is None:
        raise ValueError("a stored blend needs its weights")
    return BlendForecaster(network(), record.mu, tuple(record.weights))


@dataclass(frozen=True)
class NetworkJudgement:
    """A trained network judged as a version: what it serves (itself or its blend with drift),
    the assessment of that, and both forecasts' figures on the test tail."""

    served: Forecaster
    assessment: Assessment
    blend: BlendFit  # with both forecasts' test ratios filled in
    record: ForecasterRecord
    network_validation: BacktestSummary  # the network as it is, on the validation windows
    network_test: BacktestSummary  # the network as it is, on the backtest windows


def judge_network(bars: Bars | np.ndarray, network: NetworkForecaster) -> NetworkJudgement:
    """Fit the blend on the validation split, decide by the config's `blend` what is served,
    calibrate and backtest that, and score the network and the blend beside each other on the
    same test windows (reported, never chosen on)."""
    series = as_bars(bars)
    values = series.close
    config = network.config
    n_bars = len(values)
    train_end, _ = split_bounds(n_bars, config.train_frac, config.val_frac)
    _, val_origins, _ = split_origins(n_bars, config)
    mu = mean_log_return(values, train_end)
    val_network = network.forecast(series, val_origins)
    val_drift = drift_forecast(values[val_origins], config.horizon, mu)
    choice = choose_blend(
        val_network, val_drift, actuals(values, val_origins, config.horizon), config.blend
    )
    blended = BlendForecaster(network, mu, tuple(choice.fit.weights))
    served: Forecaster = blended if choice.fit.served else network
    origins = tail_origins(n_bars, config)
    # Intervals are calibrated on validation forecasts (the blend's out of fold), then judged
    # on the untouched test tail.
    judged = assess(
        series,
        config,
        served,
        validation_forecasts=choice.served_validation,
        val_origins=val_origins,
        test_origins=origins,
        train_end=train_end,
    )
    other = network if choice.fit.served else blended
    judged.backtest.extra = {
        served.kind.value: judged.backtest.model,
        other.kind.value: other.forecast(series, origins),
    }
    on_test = {
        name: score_forecasts(values, origins, forecasts, train_end=train_end)
        for name, forecasts in judged.backtest.extra.items()
    }
    return NetworkJudgement(
        served=served,
        assessment=judged,
        blend=choice.fit.model_copy(
            update={
                "test_network": BaselineRatios.of(on_test["network"]),
                "test_blend": BaselineRatios.of(on_test["blend"]),
            }
        ),
        record=ForecasterRecord(
            kind=served.kind, mu=mu, weights=choice.fit.weights if choice.fit.served else None
        ),
        network_validation=score_forecasts(values, val_origins, val_network, train_end=train_end),
        network_test=on_test["network"],
    )
