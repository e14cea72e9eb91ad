"""Walk-forward backtests against naive and drift baselines, with split-conformal intervals.

Numpy only: the training process runs it on the held-out tail, and the API uses the same
interval arithmetic at request time. An origin is the index of the last close a forecast may
see; every input is built from closes up to and including it, with scalers fit on the training
split only, so nothing after an origin touches its forecast.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.config import TrainingConfig
from models.features import FeatureScalers, decode_outputs, encode_inputs, valid_origins

# Interval levels (percent) calibrated for every version; a caller may ask for any of them.
CALIBRATED_LEVELS: tuple[int, ...] = tuple(range(1, 100))
DEFAULT_LEVELS: tuple[int, ...] = (80, 95)
# Coverage stored in a version's metrics.
REPORTED_LEVELS: tuple[int, ...] = (50, 80, 90, 95)

Predict = Callable[[np.ndarray], np.ndarray]


def drift_per_day(closes: np.ndarray, train_end: int) -> float:
    """Average daily change of the closes in the training split (price units per day)."""
    if train_end < 2:
        raise ValueError(f"the training split needs at least 2 closes for drift, got {train_end}")
    return float((closes[train_end - 1] - closes[0]) / (train_end - 1))


def in_sample_naive_mae(closes: np.ndarray, train_end: int) -> float:
    """MAE of the one-step naive forecast on the training split: the MASE denominator."""
    if train_end < 2:
        raise ValueError(f"the training split needs at least 2 closes for MASE, got {train_end}")
    return float(np.mean(np.abs(np.diff(closes[:train_end]))))


def naive_forecast(last_close: np.ndarray, horizon: int) -> np.ndarray:
    """Repeat the last close for every step, shape (n, horizon)."""
    last = np.asarray(last_close, dtype=np.float64).reshape(-1)
    return np.repeat(last[:, None], horizon, axis=1)


def drift_forecast(last_close: np.ndarray, horizon: int, drift: float) -> np.ndarray:
    """Last close plus `drift` per step, shape (n, horizon)."""
    steps = np.arange(1, horizon + 1, dtype=np.float64)
    return np.asarray(last_close, dtype=np.float64).reshape(-1)[:, None] + drift * steps[None, :]


def _none_if_not_finite(value: float) -> float | None:
    # JSON (and PostgreSQL's json type) has no NaN or infinity.
    return float(value) if math.isfinite(value) else None


def _skill(model_mae: float, baseline_mae: float) -> float | None:
    return _none_if_not_finite(1.0 - model_mae / baseline_mae) if baseline_mae > 0 else None


def _ratio(model_mae: float, baseline_mae: float) -> float | None:
    return _none_if_not_finite(model_mae / baseline_mae) if baseline_mae > 0 else None


def score(
    actual: np.ndarray,
    forecast: np.ndarray,
    last_close: np.ndarray,
    mase_scale: float,
    directional: bool = True,
) -> dict[str, Any]:
    """MAE, RMSE, MAPE (percent), MASE and directional accuracy, per step and overall."""
    a = np.asarray(actual, dtype=np.float64)
    f = np.asarray(forecast, dtype=np.float64)
    if a.shape != f.shape or a.ndim != 2 or a.size == 0:
        raise ValueError(
            f"actual and forecast must share a non-empty (n, horizon) shape: {a.shape} vs {f.shape}"
        )
    last = np.asarray(last_close, dtype=np.float64).reshape(-1)[:, None]
    err = f - a
    abs_err = np.abs(err)
    pct = abs_err / np.abs(a) * 100.0
    out: dict[str, Any] = {
        "mae": abs_err.mean(axis=0).tolist(),
        "rmse": np.sqrt((err**2).mean(axis=0)).tolist(),
        "mape": pct.mean(axis=0).tolist(),
        "mase": (abs_err.mean(axis=0) / mase_scale).tolist() if mase_scale > 0 else None,
        "overall": {
            "mae": float(abs_err.mean()),
            "rmse": float(np.sqrt((err**2).mean())),
            "mape": float(pct.mean()),
            "mase": float(abs_err.mean() / mase_scale) if mase_scale > 0 else None,
        },
    }
    if directional:
        # The sign of the move from the last close; a flat forecast has no direction to be right.
        hit = np.sign(f - last) == np.sign(a - last)
        out["directional_accuracy"] = hit.mean(axis=0).tolist()
        out["overall"]["directional_accuracy"] = float(hit.mean())
    else:
        out["directional_accuracy"] = None
        out["overall"]["directional_accuracy"] = None
    return out


def conformal_quantiles(
    actual: np.ndarray, predicted: np.ndarray, levels: Iterable[int] = CALIBRATED_LEVELS
) -> dict[str, list[float]]:
    """Split-conformal half-widths per step, in log-price units, for each level (percent).

    The score is |log(actual / predicted)|; the level-L half-width is its
    ceil((n + 1) * L / 100)-th smallest value on the calibration windows, which covers a new
    window with probability at least L% when windows are exchangeable.
    """
    a = np.asarray(actual, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    if a.shape != p.shape or a.ndim != 2 or a.shape[0] == 0:
        raise ValueError(
            f"calibration needs matching non-empty (n, horizon) arrays: {a.shape} vs {p.shape}"
        )
    scores = np.sort(np.abs(np.log(a / p)), axis=0)
    n = scores.shape[0]
    out: dict[str, list[float]] = {}
    for level in levels:
        if not 0 < level < 100:
            raise ValueError(f"level must be between 1 and 99 percent, got {level}")
        # With too few windows the finite-sample rank passes n: use the largest score.
        rank = min(math.ceil((n + 1) * level / 100), n)
        out[str(level)] = scores[rank - 1].tolist()
    return out


def interval_bounds(
    predicted: np.ndarray, half_widths: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds around price forecasts from log half-widths per step."""
    p = np.asarray(predicted, dtype=np.float64)
    q = np.asarray(half_widths, dtype=np.float64)[: p.shape[-1]]
    return p * np.exp(-q), p * np.exp(q)


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> dict[str, Any]:
    """Share of actuals inside [lower, upper] and the mean width, per step and overall."""
    inside = (actual >= lower) & (actual <= upper)
    width = upper - lower
    return {
        "per_step": inside.mean(axis=0).tolist(),
        "overall": float(inside.mean()),
        "mean_width": width.mean(axis=0).tolist(),
        "mean_width_overall": float(width.mean()),
    }


@dataclass
class Backtest:
    """Every window of a walk-forward backtest and its summary."""

    origins: np.ndarray  # index of the last close each forecast saw, (n,)
    actual: np.ndarray  # (n, horizon)
    model: np.ndarray
    naive: np.ndarray
    drift: np.ndarray
    metrics: dict[str, Any] = field(default_factory=dict)


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


def forecast_prices(
    closes: np.ndarray,
    origins: np.ndarray,
    config: TrainingConfig,
    scalers: FeatureScalers,
    predict: Predict,
) -> np.ndarray:
    """Price forecasts of a model at each origin, shape (n, horizon)."""
    x = encode_inputs(closes, origins, config, scalers)
    return decode_outputs(predict(x), closes[origins], config, scalers)


def walk_forward(
    closes: np.ndarray,
    config: TrainingConfig,
    scalers: FeatureScalers,
    predict: Predict,
    *,
    train_end: int,
    origins: np.ndarray,
    calibration: dict[str, list[float]] | None = None,
    levels: Iterable[int] = REPORTED_LEVELS,
) -> Backtest:
    """Forecast from every origin with the model and both baselines, and score them alike."""
    values = np.asarray(closes, dtype=np.float64)
    idx = np.asarray(origins, dtype=np.int64)
    if idx.size == 0:
        raise ValueError("a backtest needs at least one origin")
    h = config.horizon
    actual = values[idx[:, None] + np.arange(1, h + 1)[None, :]]
    last = values[idx]
    model = forecast_prices(values, idx, config, scalers, predict)
    naive = naive_forecast(last, h)
    drift = drift_forecast(last, h, drift_per_day(values, train_end))
    scale = in_sample_naive_mae(values, train_end)

    m = score(actual, model, last, scale)
    n = score(actual, naive, last, scale, directional=False)
    d = score(actual, drift, last, scale)
    metrics: dict[str, Any] = {
        "n_windows": int(idx.size),
        "first_origin": int(idx[0]),
        "last_origin": int(idx[-1]),
        "mase_scale": scale,
        "drift_per_day": drift_per_day(values, train_end),
        "model": m,
        "naive": n,
        "drift": d,
        "skill_vs_naive": [_skill(a, b) for a, b in zip(m["mae"], n["mae"], strict=True)],
        "skill_vs_naive_overall": _skill(m["overall"]["mae"], n["overall"]["mae"]),
        "skill_vs_drift": [_skill(a, b) for a, b in zip(m["mae"], d["mae"], strict=True)],
        "skill_vs_drift_overall": _skill(m["overall"]["mae"], d["overall"]["mae"]),
        "mae_ratio": [_ratio(a, b) for a, b in zip(m["mae"], n["mae"], strict=True)],
        "mae_ratio_overall": _ratio(m["overall"]["mae"], n["overall"]["mae"]),
    }
    if calibration is not None:
        metrics["coverage"] = {
            str(level): coverage(actual, *interval_bounds(model, calibration[str(level)]))
            for level in levels
        }
    return Backtest(
        origins=idx, actual=actual, model=model, naive=naive, drift=drift, metrics=metrics
    )
