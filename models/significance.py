"""Is a new forecast better than an old one by more than noise? (numpy and math only)

A Diebold-Mariano test on per-window losses of two forecasts of the same windows. Backtest
windows start every trading day and look `horizon` days ahead, so neighbouring windows share
target days and their loss differences are correlated: an i.i.d. variance would understate the
noise and call tiny differences significant. The variance of the mean difference is therefore
Newey-West (HAC) with Bartlett weights over the lags at which windows overlap, and the
statistic gets the Harvey-Leybourne-Newbold small-sample correction, compared with Student's
t(n - 1).
"""

from __future__ import annotations

import math

import numpy as np

from models.metrics import DieboldMariano


def window_loss(actual: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    """The loss of each window: its mean absolute error over the steps, shape (n,)."""
    a = np.asarray(actual, dtype=np.float64)
    f = np.asarray(forecast, dtype=np.float64)
    if a.shape != f.shape or a.ndim != 2:
        raise ValueError(
            f"actual and forecast must share an (n, steps) shape: {a.shape}, {f.shape}"
        )
    return np.abs(f - a).mean(axis=1)


def overlap_lag(origins: np.ndarray, horizon: int) -> int:
    """How many following windows share a target day with a window, at most (sorted origins).

    Origins every trading day with horizon h give h - 1; origins h or more days apart give 0.
    """
    idx = np.asarray(origins, dtype=np.int64).reshape(-1)
    lag = 0
    while lag + 1 < idx.size and np.any(idx[lag + 1 :] - idx[: -(lag + 1)] < horizon):
        lag += 1
    return lag


def diebold_mariano(
    actual: np.ndarray,
    new: np.ndarray,
    old: np.ndarray,
    *,
    lag: int,
    small_sample: bool = True,
) -> DieboldMariano:
    """One-sided test that `new` has lower expected window loss than `old` on the same windows.

    `lag` is `overlap_lag(origins, steps)`: h - 1 for h-step windows at consecutive origins.
    """
    d = window_loss(actual, new) - window_loss(actual, old)
    return diebold_mariano_on_differences(d, lag=lag, small_sample=small_sample)


def newey_west_variance(d: np.ndarray, lag: int) -> float:
    """Long-run variance of a series: autocovariances up to `lag` with Bartlett weights."""
    u = np.asarray(d, dtype=np.float64) - float(np.mean(d))
    n = u.size
    variance = float(u @ u) / n
    for j in range(1, min(lag, n - 1) + 1):
        weight = 1.0 - j / (lag + 1)
        variance += 2.0 * weight * float(u[j:] @ u[:-j]) / n
    return variance


def diebold_mariano_on_differences(
    d: np.ndarray, *, lag: int, small_sample: bool = True
) -> DieboldMariano:
    """The Diebold-Mariano test on loss differences new - old, one per window, in time order."""
    diffs = np.asarray(d, dtype=np.float64).reshape(-1)
    if lag < 0:
        raise ValueError(f"lag must not be negative, got {lag}")
    if not np.all(np.isfinite(diffs)):
        raise ValueError("loss differences must be finite")
    n = int(diffs.size)
    mean = float(diffs.mean()) if n else 0.0

    def result(statistic: float | None, p_value: float | None) -> DieboldMariano:
        return DieboldMariano(
            statistic=statistic,
            p_value=p_value,
            mean_loss_difference=mean,
            n_windows=n,
            lag=lag,
            small_sample_correction=small_sample,
        )

    if n < 2:
        return result(None, None)
    variance = newey_west_variance(diffs, lag)
    if not variance > 0.0:
        # Every window differs by the same amount: no noise to weigh the difference against.
        return result(None, 0.0 if mean < 0 else 1.0 if mean > 0 else 0.5)
    statistic = mean / math.sqrt(variance / n)
    if not small_sample:
        return result(statistic, normal_cdf(statistic))
    h = lag + 1
    factor = (n + 1 - 2 * h + h * (h - 1) / n) / n
    if not factor > 0.0:
        return result(None, None)  # too few windows for the correction
    statistic *= math.sqrt(factor)
    return result(statistic, student_t_cdf(statistic, n - 1))


def normal_cdf(x: float) -> float:
    """P(Z <= x) for a standard normal Z."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def student_t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with `df` degrees of freedom."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    tail = 0.5 * _regularized_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def _regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), by the continued fraction on whichever side converges fast."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The incomplete beta continued fraction, by the modified Lentz method."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            return h
    raise ArithmeticError(f"incomplete beta did not converge for a={a}, b={b}, x={x}")
