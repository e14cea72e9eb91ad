"""The baselines and the one scorer of forecasts against them (numpy only).

Every figure a version stores, on validation and on the test tail, comes from `compare`: the
model, naive (repeat the last close) and drift in log space (the last close grown at the
training data's mean daily log return) scored on the same windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.metrics import BacktestSummary, DriftMethod, ErrorScores, OverallScores
from models.numbers import finite_or_none


def mean_log_return(closes: np.ndarray, train_end: int) -> float:
    """Mean daily log return of closes[:train_end], the drift baseline's growth rate."""
    if train_end < 2:
        raise ValueError(f"the training split needs at least 2 closes for drift, got {train_end}")
    values = np.asarray(closes, dtype=np.float64)
    # The mean of the daily log returns telescopes to the log of the whole move.
    return float(np.log(values[train_end - 1] / values[0]) / (train_end - 1))


def in_sample_naive_mae(closes: np.ndarray, train_end: int) -> float:
    """MAE of the one-step naive forecast on the training split: the MASE denominator."""
    if train_end < 2:
        raise ValueError(f"the training split needs at least 2 closes for MASE, got {train_end}")
    return float(np.mean(np.abs(np.diff(closes[:train_end]))))


def naive_forecast(last_close: np.ndarray, horizon: int) -> np.ndarray:
    """Repeat the last close for every step, shape (n, horizon)."""
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1, got {horizon}")
    last = np.asarray(last_close, dtype=np.float64).reshape(-1)
    return np.repeat(last[:, None], horizon, axis=1)


def drift_forecast(last_close: np.ndarray, horizon: int, mu: float) -> np.ndarray:
    """The random walk with drift in log space: last close x exp(mu x k), shape (n, horizon)."""
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1, got {horizon}")
    steps = np.arange(1, horizon + 1, dtype=np.float64)
    last = np.asarray(last_close, dtype=np.float64).reshape(-1)
    return last[:, None] * np.exp(mu * steps)[None, :]


def ratio(model_mae: float, baseline_mae: float) -> float | None:
    """MAE(model) / MAE(baseline); None when the baseline is perfect."""
    return finite_or_none(model_mae / baseline_mae) if baseline_mae > 0 else None


def skill(model_mae: float, baseline_mae: float) -> float | None:
    """1 - MAE(model) / MAE(baseline); above 0 beats the baseline, None when it is perfect."""
    r = ratio(model_mae, baseline_mae)
    return None if r is None else 1.0 - r


def score(
    actual: np.ndarray,
    forecast: np.ndarray,
    last_close: np.ndarray,
    mase_scale: float,
    directional: bool = True,
) -> ErrorScores:
    """MAE, RMSE, MAPE (percent), MASE and directional accuracy, per step and overall."""
    a = np.asarray(actual, dtype=np.float64)
    f = np.asarray(forecast, dtype=np.float64)
    if a.shape != f.shape or a.ndim != 2 or a.size == 0:
        raise ValueError(
            f"actual and forecast must share a non-empty (n, horizon) shape: {a.shape} vs {f.shape}"
        )
    last = np.asarray(last_close, dtype=np.float64).reshape(-1)
    if last.shape[0] != a.shape[0]:
        raise ValueError(f"last_close must hold {a.shape[0]} closes, got {last.shape[0]}")
    err = f - a
    abs_err = np.abs(err)
    pct = abs_err / np.abs(a) * 100.0
    has_scale = mase_scale > 0
    hit = None
    if directional:
        # The sign of the move from the last close; a flat forecast has no direction to be right.
        hit = np.sign(f - last[:, None]) == np.sign(a - last[:, None])
    return ErrorScores(
        mae=abs_err.mean(axis=0).tolist(),
        rmse=np.sqrt((err**2).mean(axis=0)).tolist(),
        mape=pct.mean(axis=0).tolist(),
        mase=(abs_err.mean(axis=0) / mase_scale).tolist() if has_scale else None,
        directional_accuracy=None if hit is None else hit.mean(axis=0).tolist(),
        overall=OverallScores(
            mae=float(abs_err.mean()),
            rmse=float(np.sqrt((err**2).mean())),
            mape=float(pct.mean()),
            mase=float(abs_err.mean() / mase_scale) if has_scale else None,
            directional_accuracy=None if hit is None else float(hit.mean()),
        ),
    )


def compare(
    actual: np.ndarray,
    model: np.ndarray,
    last_close: np.ndarray,
    origins: np.ndarray,
    *,
    mu: float,
    mase_scale: float,
) -> BacktestSummary:
    """Score the model, naive and log-space drift on the same windows, with skills and ratios."""
    h = np.asarray(actual).shape[-1]
    m = score(actual, model, last_close, mase_scale)
    n = score(actual, naive_forecast(last_close, h), last_close, mase_scale, directional=False)
    d = score(actual, drift_forecast(last_close, h, mu), last_close, mase_scale)
    idx = np.asarray(origins, dtype=np.int64)
    return BacktestSummary(
        n_windows=int(idx.size),
        first_origin=int(idx[0]),
        last_origin=int(idx[-1]),
        mase_scale=mase_scale,
        drift_method=DriftMethod.LOG,
        mu=mu,
        model=m,
        naive=n,
        drift=d,
        skill_vs_naive=[skill(a, b) for a, b in zip(m.mae, n.mae, strict=True)],
        skill_vs_naive_overall=skill(m.overall.mae, n.overall.mae),
        skill_vs_drift=[skill(a, b) for a, b in zip(m.mae, d.mae, strict=True)],
        skill_vs_drift_overall=skill(m.overall.mae, d.overall.mae),
        mae_ratio=[ratio(a, b) for a, b in zip(m.mae, n.mae, strict=True)],
        mae_ratio_overall=ratio(m.overall.mae, n.overall.mae),
        mae_ratio_vs_drift=[ratio(a, b) for a, b in zip(m.mae, d.mae, strict=True)],
        mae_ratio_vs_drift_overall=ratio(m.overall.mae, d.overall.mae),
    )


def stored_drift(summary: BacktestSummary, last_close: np.ndarray, horizon: int) -> np.ndarray:
    """Drift as a stored summary scored it: log drift with its mu, or, for versions scored
    before log drift, the dollar drift (last close + k x the average daily change)."""
    last = np.asarray(last_close, dtype=np.float64).reshape(-1)
    if summary.drift_method == DriftMethod.DOLLAR and summary.drift_per_day is not None:
        steps = np.arange(1, horizon + 1, dtype=np.float64)
        return last[:, None] + summary.drift_per_day * steps[None, :]
    return drift_forecast(last, horizon, summary.mu or 0.0)


@dataclass(frozen=True)
class PartialScores:
    """Forecasts scored where their actuals are known (NaN where not yet): per step, the
    points scored, MAE of the model and both baselines and their ratios, overall skills, and
    the share of actuals inside each level's interval."""

    points: list[int]
    mae: list[float | None]
    mae_naive: list[float | None]
    mae_drift: list[float | None]
    ratio_vs_naive: list[float | None]
    ratio_vs_drift: list[float | None]
    skill_vs_naive: float | None
    skill_vs_drift: float | None
    coverage: dict[str, float | None]


def score_partial(
    actual: np.ndarray,
    model: np.ndarray,
    naive: np.ndarray,
    drift: np.ndarray,
    bounds: dict[str, tuple[np.ndarray, np.ndarray]],
) -> PartialScores:
    """Score (n, horizon) forecasts against actuals that are NaN where not yet known."""
    a = np.asarray(actual, dtype=np.float64)
    known = np.isfinite(a)
    points = known.sum(axis=0)

    def step_mae(forecast: np.ndarray) -> list[float | None]:
        err = np.where(known, np.abs(np.asarray(forecast, dtype=np.float64) - a), 0.0)
        sums = err.sum(axis=0)
        return [finite_or_none(e / p) if p else None for e, p in zip(sums, points, strict=True)]

    def total(forecast: np.ndarray) -> float:
        return float(np.where(known, np.abs(np.asarray(forecast) - a), 0.0).sum())

    mae, mae_naive, mae_drift = step_mae(model), step_mae(naive), step_mae(drift)
    scored = bool(known.any())
    coverage: dict[str, float | None] = {}
    for level, (lower, upper) in bounds.items():
        inside = (a >= lower) & (a <= upper)
        coverage[level] = float(inside[known].mean()) if scored else None
    return PartialScores(
        points=[int(p) for p in points],
        mae=mae,
        mae_naive=mae_naive,
        mae_drift=mae_drift,
        ratio_vs_naive=[_ratio_of(m, n) for m, n in zip(mae, mae_naive, strict=True)],
        ratio_vs_drift=[_ratio_of(m, d) for m, d in zip(mae, mae_drift, strict=True)],
        skill_vs_naive=skill(total(model), total(naive)) if scored else None,
        skill_vs_drift=skill(total(model), total(drift)) if scored else None,
        coverage=coverage,
    )


def _ratio_of(model_mae: float | None, baseline_mae: float | None) -> float | None:
    return None if model_mae is None or baseline_mae is None else ratio(model_mae, baseline_mae)
