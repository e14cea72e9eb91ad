"""Per-horizon error metrics and the naive baseline (numpy only)."""

from __future__ import annotations

from typing import Any

import numpy as np


def _as_pair(actual: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return both arrays as float64 (n, horizon), rejecting mismatched or empty input."""
    a = np.asarray(actual, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    if a.shape != p.shape:
        raise ValueError(f"actual and predicted shapes differ: {a.shape} vs {p.shape}")
    if a.ndim != 2:
        raise ValueError(f"actual and predicted must have shape (n, horizon), got {a.shape}")
    if a.size == 0:
        raise ValueError("cannot compute metrics on empty arrays")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(p))):
        raise ValueError("actual and predicted must be finite")
    if np.any(a == 0.0):
        raise ValueError("MAPE is undefined where actual is zero")
    return a, p


def horizon_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """Return MAE, RMSE and MAPE (percent) per forecast step and over all steps."""
    a, p = _as_pair(actual, predicted)
    error = p - a
    abs_error = np.abs(error)
    pct_error = abs_error / np.abs(a) * 100.0
    return {
        "mae": abs_error.mean(axis=0).tolist(),
        "rmse": np.sqrt((error**2).mean(axis=0)).tolist(),
        "mape": pct_error.mean(axis=0).tolist(),
        "overall": {
            "mae": float(abs_error.mean()),
            "rmse": float(np.sqrt((error**2).mean())),
            "mape": float(pct_error.mean()),
        },
    }


def naive_forecast(last_close: np.ndarray, horizon: int) -> np.ndarray:
    """Return the random-walk forecast: the last close repeated for every step, (n, horizon)."""
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1, got {horizon}")
    last = np.asarray(last_close, dtype=np.float64).reshape(-1)
    return np.repeat(last[:, None], horizon, axis=1)


def _ratio(model: float, naive: float) -> float | None:
    """Return model / naive, None when the naive error is zero (a flat series).

    None, not NaN: these metrics are stored as JSON, which has no NaN (PostgreSQL refuses it).
    """
    return model / naive if naive > 0.0 else None


def compare_to_naive(
    actual: np.ndarray, model_pred: np.ndarray, last_close: np.ndarray
) -> dict[str, Any]:
    """Score the model and the naive forecast on the same windows; mae_ratio < 1 beats naive."""
    a = np.asarray(actual, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"actual must have shape (n, horizon), got {a.shape}")
    last = np.asarray(last_close, dtype=np.float64).reshape(-1)
    if last.shape[0] != a.shape[0]:
        raise ValueError(f"last_close must hold {a.shape[0]} closes, got {last.shape[0]}")
    model = horizon_metrics(a, model_pred)
    naive = horizon_metrics(a, naive_forecast(last, a.shape[1]))
    return {
        "model": model,
        "naive": naive,
        "mae_ratio": [_ratio(m, n) for m, n in zip(model["mae"], naive["mae"], strict=True)],
        "mae_ratio_overall": _ratio(model["overall"]["mae"], naive["overall"]["mae"]),
        "n_windows": int(a.shape[0]),
    }
