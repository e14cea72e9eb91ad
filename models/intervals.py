"""Split-conformal prediction intervals, plain or scaled by trailing volatility (numpy only).

The one home of the interval arithmetic: training calibrates on the validation windows, the
backtest and the app's coverage report judge it on the test tail, and the API draws a served
forecast's intervals with the same `Calibration`.

The score of a calibration window is |log(actual / forecast)| per step. Plain: the level-L
half-width is the score's conformal quantile, in log-price units, the same at every origin.
Volatility-scaled: each score is first divided by the standard deviation of the
`volatility_window` daily log returns known at its origin, so calm and violent years count
alike; a forecast's half-width is that quantile times the same standard deviation at its own
origin. Intervals are forecast x exp(+-half-width).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from models.config import IntervalMethod
from models.evaluate import ratio
from models.metrics import IntervalCoverage, IntervalScores

# Interval levels (percent) calibrated for every version; a caller may ask for any of them.
CALIBRATED_LEVELS: tuple[int, ...] = tuple(range(1, 100))
# Coverage stored with a version's backtest.
BACKTEST_LEVELS: tuple[int, ...] = (50, 80, 90, 95)
# The levels an answer reports (coverage, interval scores), live accuracy records with every
# served forecast, and the quality targets speak of.
REPORTED_LEVELS: tuple[int, ...] = (80, 95)
# Daily log-return std below which a window counts as flat: 61 equal closes would otherwise
# divide by zero. 1e-6 is a ten-thousandth of a percent a day, far below any traded stock.
MIN_VOLATILITY = 1e-6

_SCORES = {
    IntervalMethod.PLAIN: "abs log(actual / forecast)",
    IntervalMethod.VOLATILITY: (
        "abs log(actual / forecast) / std of the trailing daily log returns at the origin"
    ),
}


def trailing_volatility(closes: np.ndarray, origins: np.ndarray, window: int) -> np.ndarray:
    """Std (ddof 1) of the `window` daily log returns ending at each origin, shape (n,)."""
    values = np.asarray(closes, dtype=np.float64)
    idx = np.asarray(origins, dtype=np.int64).reshape(-1)
    if window < 2:
        raise ValueError(f"the volatility window needs at least 2 returns, got {window}")
    if idx.size and (idx.min() < window or idx.max() >= len(values)):
        raise ValueError(
            f"a volatility over {window} daily log returns needs {window} closes before each "
            f"origin inside a series of {len(values)}; got origins from {idx.min()} to {idx.max()}"
        )
    returns = np.diff(np.log(values))
    # returns[i - 1] is the return into close i, so origin i's window is returns[i - window : i].
    runs = np.lib.stride_tricks.sliding_window_view(returns, window)
    sigma = runs[idx - window].std(axis=1, ddof=1)
    return np.maximum(sigma, MIN_VOLATILITY)


def conformal_quantiles(scores: np.ndarray, levels: Iterable[int]) -> dict[str, list[float]]:
    """Each level's split-conformal quantile of the scores, per step.

    The level-L quantile is the ceil((n + 1) * L / 100)-th smallest score of the n calibration
    windows, which covers a new window with probability at least L% when windows are
    exchangeable.
    """
    s = np.sort(np.asarray(scores, dtype=np.float64), axis=0)
    if s.ndim != 2 or s.shape[0] == 0:
        raise ValueError(f"calibration needs a non-empty (n, horizon) array, got {s.shape}")
    n = s.shape[0]
    out: dict[str, list[float]] = {}
    for level in levels:
        if not 0 < level < 100:
            raise ValueError(f"level must be between 1 and 99 percent, got {level}")
        # With too few windows the finite-sample rank passes n: use the largest score.
        rank = min(math.ceil((n + 1) * level / 100), n)
        out[str(level)] = s[rank - 1].tolist()
    return out


class Calibration(BaseModel):
    """Interval half-widths per level and step, fit on validation windows; stored per version.

    Reads the plain calibration stored before issue #8 (method "split-conformal", no window).
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    method: IntervalMethod
    score: str
    n_windows: int
    volatility_window: int | None = None  # trading days; None for plain
    # Plain: log-price units. Volatility: multiples of the trailing daily log-return std.
    half_widths: dict[str, list[float]]

    @model_validator(mode="before")
    @classmethod
    def _read_old_method(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("method") == "split-conformal":
            return {**data, "method": IntervalMethod.PLAIN.value}
        return data

    @model_validator(mode="after")
    def _window_matches_method(self) -> Calibration:
        if (self.method == IntervalMethod.VOLATILITY) != (self.volatility_window is not None):
            raise ValueError("volatility_window is set exactly when the method is volatility")
        return self

    @property
    def levels(self) -> list[int]:
        """The calibrated levels, percent."""
        return sorted(int(level) for level in self.half_widths)

    def history_needed(self) -> int:
        """Closes, ending at and including an origin, that its interval scale needs."""
        return 1 if self.volatility_window is None else self.volatility_window + 1

    def scale(self, closes: np.ndarray, origins: np.ndarray) -> np.ndarray:
        """The scale of each origin's half-widths: its trailing volatility, or 1 when plain."""
        idx = np.asarray(origins, dtype=np.int64).reshape(-1)
        if self.volatility_window is None:
            return np.ones(idx.shape[0])
        return trailing_volatility(closes, idx, self.volatility_window)

    def bounds(
        self, forecast: np.ndarray, level: int, scale: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of the level's interval around (n, steps) price forecasts.

        `scale` is `self.scale(...)` at the forecasts' origins; plain calibrations need none.
        Fewer steps than calibrated take the first ones.
        """
        key = str(level)
        if key not in self.half_widths:
            raise ValueError(f"level {level} is not calibrated; calibrated: {self.levels}")
        p = np.asarray(forecast, dtype=np.float64)
        if p.ndim != 2:
            raise ValueError(f"forecast must have shape (n, steps), got {p.shape}")
        if scale is None:
            if self.volatility_window is not None:
                raise ValueError("a volatility-scaled interval needs the scale at each origin")
            scale = np.ones(p.shape[0])
        q = np.asarray(self.half_widths[key], dtype=np.float64)[: p.shape[1]]
        half = np.asarray(scale, dtype=np.float64).reshape(-1, 1) * q[None, :]
        return p * np.exp(-half), p * np.exp(half)

    def coverage(
        self,
        actual: np.ndarray,
        forecast: np.ndarray,
        scale: np.ndarray | None = None,
        levels: Sequence[int] = REPORTED_LEVELS,
    ) -> dict[str, IntervalCoverage]:
        """Per level: the share of actuals inside the interval and its mean width."""
        return {
            str(level): coverage(actual, *self.bounds(forecast, level, scale)) for level in levels
        }


def calibrate(
    closes: np.ndarray,
    origins: np.ndarray,
    forecast: np.ndarray,
    *,
    method: IntervalMethod,
    volatility_window: int,
    levels: Iterable[int] = CALIBRATED_LEVELS,
) -> Calibration:
    """Fit the intervals on forecasts from calibration origins (closes after them known)."""
    values = np.asarray(closes, dtype=np.float64)
    idx = np.asarray(origins, dtype=np.int64).reshape(-1)
    p = np.asarray(forecast, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != idx.size or idx.size == 0:
        raise ValueError(
            f"calibration needs one (steps,) forecast per origin; got {p.shape} for {idx.size}"
        )
    actual = values[idx[:, None] + np.arange(1, p.shape[1] + 1)[None, :]]
    scores = np.abs(np.log(actual / p))
    window = volatility_window if method == IntervalMethod.VOLATILITY else None
    if window is not None:
        scores = scores / trailing_volatility(values, idx, window)[:, None]
    return Calibration(
        method=method,
        score=_SCORES[method],
        n_windows=int(idx.size),
        volatility_window=window,
        half_widths=conformal_quantiles(scores, levels),
    )


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> IntervalCoverage:
    """Share of actuals inside [lower, upper] and the mean width, per step and overall."""
    inside = (actual >= lower) & (actual <= upper)
    width = upper - lower
    return IntervalCoverage(
        per_step=inside.mean(axis=0).tolist(),
        overall=float(inside.mean()),
        mean_width=width.mean(axis=0).tolist(),
        mean_width_overall=float(width.mean()),
    )


def winkler(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray, level: int) -> np.ndarray:
    """Interval score of each (window, step), lower is better (Gneiting and Raftery 2007):
    the width, plus 2 / alpha times the distance of an actual outside, alpha = 1 - level/100."""
    alpha = 1.0 - level / 100.0
    a = np.asarray(actual, dtype=np.float64)
    below = np.maximum(lower - a, 0.0)
    above = np.maximum(a - upper, 0.0)
    return (upper - lower) + (2.0 / alpha) * (below + above)


def interval_scores(
    actual: np.ndarray,
    model: tuple[np.ndarray, np.ndarray],
    drift: tuple[np.ndarray, np.ndarray],
    level: int,
) -> IntervalScores:
    """Mean interval score per step of a forecast's (lower, upper) and of drift's own, with
    their ratio, on the same windows."""
    ours = winkler(actual, *model, level)
    theirs = winkler(actual, *drift, level)
    ours_mean, theirs_mean = ours.mean(axis=0), theirs.mean(axis=0)
    return IntervalScores(
        model=ours_mean.tolist(),
        drift=theirs_mean.tolist(),
        ratio_vs_drift=[ratio(a, b) for a, b in zip(ours_mean, theirs_mean, strict=True)],
        model_overall=float(ours.mean()),
        drift_overall=float(theirs.mean()),
        ratio_vs_drift_overall=ratio(float(ours.mean()), float(theirs.mean())),
    )


def forecast_history(reads: int, calibration: Calibration | None) -> int:
    """Closes, ending at the origin, that a served forecast with its intervals needs.

    `reads` is what its forecaster reads (a network's input window, one close for a
    baseline); a volatility-scaled interval also reads the `volatility_window` returns before
    the origin, which may reach further back.
    """
    scale = 1 if calibration is None else calibration.history_needed()
    return max(reads, scale)
