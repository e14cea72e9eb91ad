"""Scalers and the encoding of closes into model inputs/targets (numpy only).

Training and the API's ONNX inference both call these functions, so a served forecast sees
exactly the preprocessing the network was trained on.

Convention: an *origin* i is the index of the last known close. The inputs for origin i use
closes[i - lookback .. i] (lookback + 1 closes, because the log-return target needs lookback
daily log returns); the targets are closes[i + 1 .. i + horizon].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from models.config import IntervalMethod, TrainingConfig
from models.windows import split_bounds

ScalerKind = Literal["standard", "minmax"]

_SCALER_PARAMS: dict[str, tuple[str, str]] = {
    "standard": ("mean", "std"),
    "minmax": ("min", "max"),
}


@dataclass
class Scaler:
    """An affine scaler with scalar parameters: standard (mean/std) or min-max (min/max)."""

    kind: ScalerKind
    params: dict[str, float]

    @classmethod
    def fit(cls, kind: ScalerKind, values: np.ndarray) -> Scaler:
        """Fit a scaler of `kind` to every value in `values`."""
        data = np.asarray(values, dtype=np.float64).ravel()
        if data.size == 0:
            raise ValueError("cannot fit a scaler on no values")
        if not np.all(np.isfinite(data)):
            raise ValueError("cannot fit a scaler on non-finite values")
        if kind == "standard":
            return cls(kind, {"mean": float(data.mean()), "std": float(data.std())})
        if kind == "minmax":
            return cls(kind, {"min": float(data.min()), "max": float(data.max())})
        raise ValueError(f"scaler kind must be 'standard' or 'minmax', got {kind!r}")

    def _shift_and_scale(self) -> tuple[float, float]:
        """Return (shift, scale) so that transform(x) = (x - shift) / scale."""
        if self.kind == "standard":
            shift, scale = self.params["mean"], self.params["std"]
        elif self.kind == "minmax":
            shift, scale = self.params["min"], self.params["max"] - self.params["min"]
        else:
            raise ValueError(f"scaler kind must be 'standard' or 'minmax', got {self.kind!r}")
        # A constant training series has no spread; dividing by 1 keeps the transform invertible.
        return shift, (scale if scale > 0.0 else 1.0)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Scale raw values (float64 out)."""
        shift, scale = self._shift_and_scale()
        return (np.asarray(x, dtype=np.float64) - shift) / scale

    def inverse_transform(self, x: np.ndarray) -> np.ndarray:
        """Map scaled values back to raw values (float64 out)."""
        shift, scale = self._shift_and_scale()
        return np.asarray(x, dtype=np.float64) * scale + shift

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict."""
        return {"kind": self.kind, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scaler:
        """Rebuild a scaler saved with to_dict."""
        kind = d["kind"]
        if kind not in _SCALER_PARAMS:
            raise ValueError(f"scaler kind must be 'standard' or 'minmax', got {kind!r}")
        params = {name: float(d["params"][name]) for name in _SCALER_PARAMS[kind]}
        return cls(kind, params)


@dataclass
class FeatureScalers:
    """The input and output scalers fit on a training split; saved with the model version."""

    input: Scaler
    output: Scaler

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict."""
        return {"input": self.input.to_dict(), "output": self.output.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureScalers:
        """Rebuild scalers saved with to_dict."""
        return cls(input=Scaler.from_dict(d["input"]), output=Scaler.from_dict(d["output"]))


def as_closes(closes: np.ndarray) -> np.ndarray:
    """Return closes as a 1-D float64 array, rejecting values that have no log."""
    values = np.asarray(closes, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"closes must be one-dimensional, got shape {values.shape}")
    if not np.all(np.isfinite(values)) or np.any(values <= 0.0):
        raise ValueError("closes must be finite and positive")
    return values


def _as_origins(origins: np.ndarray, n_bars: int, before: int, after: int) -> np.ndarray:
    """Return origins as int64, checking that [i - before, i + after] lies inside the series."""
    idx = np.asarray(origins)
    if idx.ndim != 1:
        raise ValueError(f"origins must be one-dimensional, got shape {idx.shape}")
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"origins must be integer indices, got dtype {idx.dtype}")
    idx = idx.astype(np.int64)
    if idx.size and (idx.min() - before < 0 or idx.max() + after >= n_bars):
        raise ValueError(
            f"origins need {before} closes before and {after} after them inside a series of "
            f"{n_bars} closes; got origins from {idx.min()} to {idx.max()}"
        )
    return idx


def min_history(config: TrainingConfig) -> int:
    """Return how many closes, ending at and including the origin, one input needs."""
    # lookback log returns need one close more than lookback; the price target uses the same
    # history so both targets have the same valid origins and comparable metrics.
    return config.lookback + 1


def valid_origins(n_bars: int, config: TrainingConfig, start: int, end: int) -> np.ndarray:
    """Return origins in [start, end) with full input history and every target in the series."""
    low = max(start, min_history(config) - 1)
    high = min(end, n_bars - config.horizon)
    return np.arange(low, max(low, high), dtype=np.int64)


def split_origins(n_bars: int, config: TrainingConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (train, val, test) origins of a series split by time with split_bounds.

    Train and validation origins keep their targets inside their own split, so no validation
    close is a training target and no test close steers early stopping. Test origins run to the
    last origin with a full horizon. Inputs may reach back into earlier splits: that is history.
    """
    train_end, val_end = split_bounds(n_bars, config.train_frac, config.val_frac)
    return (
        valid_origins(train_end, config, 0, train_end),
        valid_origins(val_end, config, train_end, val_end),
        valid_origins(n_bars, config, val_end, n_bars),
    )


def _splits_non_empty(n_bars: int, config: TrainingConfig) -> bool:
    """Return whether every split of n_bars closes holds at least one window.

    With volatility-scaled intervals the first validation origin must also have
    `volatility_window` daily log returns behind it to calibrate on.
    """
    train_end, val_end = split_bounds(n_bars, config.train_frac, config.val_frac)
    scaled = config.interval_method == IntervalMethod.VOLATILITY
    return (
        train_end - config.horizon > min_history(config) - 1
        and val_end - config.horizon > train_end
        and n_bars - config.horizon > val_end
        and (not scaled or max(train_end, min_history(config) - 1) >= config.volatility_window)
    )


def min_training_bars(config: TrainingConfig) -> int:
    """Return the fewest closes for which train, validation and test each get one window
    (and the first validation origin its volatility window, when intervals use one)."""
    h = config.horizon
    test_frac = 1.0 - config.train_frac - config.val_frac
    # Lower bounds: train needs min_history + h closes; flooring in split_bounds can lend the
    # validation and test splits at most one extra close, so n must exceed h / frac for each.
    # Walking up from below them finds the shortest length that works.
    n = max(
        math.ceil((min_history(config) + h) / config.train_frac) - 1,
        math.floor(h / config.val_frac) + 1,
        math.floor(h / test_frac) + 1,
        1,
    )
    while not _splits_non_empty(n, config):
        n += 1
    return n


def _gather(closes: np.ndarray, origins: np.ndarray, first: int, last: int) -> np.ndarray:
    """Return closes[i + first .. i + last] for every origin i, shape (n, last - first + 1)."""
    offsets = np.arange(first, last + 1, dtype=np.int64)
    return closes[origins[:, None] + offsets[None, :]]


def _cumulative_log_returns(closes: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """Return log(closes[i + k] / closes[i]) for k = 1..horizon, shape (n, horizon)."""
    window = _gather(closes, origins, 0, horizon)
    return np.log(window[:, 1:] / window[:, :1])


def fit_scalers(closes: np.ndarray, config: TrainingConfig, train_end: int) -> FeatureScalers:
    """Fit the input and output scalers on closes[:train_end] only."""
    values = as_closes(closes)
    if not 0 < train_end <= len(values):
        raise ValueError(f"train_end must be in 1..{len(values)}, got {train_end}")
    train = values[:train_end]
    if config.target == "price":
        # Inputs and targets are both price levels, so both use the training price range.
        return FeatureScalers(input=Scaler.fit("minmax", train), output=Scaler.fit("minmax", train))
    if config.target != "log_return":
        raise ValueError(f"target must be 'log_return' or 'price', got {config.target!r}")
    origins = valid_origins(train_end, config, 0, train_end)
    if origins.size == 0:
        raise ValueError(
            f"the training split needs at least {min_history(config) + config.horizon} closes "
            f"for lookback={config.lookback}, horizon={config.horizon}; got {train_end}"
        )
    return FeatureScalers(
        input=Scaler.fit("standard", np.diff(np.log(train))),
        output=Scaler.fit("standard", _cumulative_log_returns(train, origins, config.horizon)),
    )


def encode_inputs(
    closes: np.ndarray, origins: np.ndarray, config: TrainingConfig, scalers: FeatureScalers
) -> np.ndarray:
    """Return the scaled input window of every origin, float32 shape (n, lookback, 1)."""
    values = as_closes(closes)
    idx = _as_origins(origins, len(values), config.lookback, 0)
    window = _gather(values, idx, -config.lookback, 0)
    if config.target == "log_return":
        raw = np.diff(np.log(window), axis=1)
    else:
        # Drop the oldest close so the price input is the lookback closes ending at the origin.
        raw = window[:, 1:]
    return scalers.input.transform(raw).astype(np.float32)[:, :, None]


def encode_targets(
    closes: np.ndarray, origins: np.ndarray, config: TrainingConfig, scalers: FeatureScalers
) -> np.ndarray:
    """Return the scaled targets of every origin, float32 shape (n, horizon)."""
    values = as_closes(closes)
    idx = _as_origins(origins, len(values), 0, config.horizon)
    if config.target == "log_return":
        raw = _cumulative_log_returns(values, idx, config.horizon)
    else:
        raw = _gather(values, idx, 1, config.horizon)
    return scalers.output.transform(raw).astype(np.float32)


def decode_outputs(
    y: np.ndarray, last_close: np.ndarray, config: TrainingConfig, scalers: FeatureScalers
) -> np.ndarray:
    """Turn scaled network outputs into prices, float64 shape (n, horizon)."""
    out = np.asarray(y, dtype=np.float64)
    if out.ndim != 2 or out.shape[1] != config.horizon:
        raise ValueError(f"y must have shape (n, {config.horizon}), got {out.shape}")
    last = np.asarray(last_close, dtype=np.float64).reshape(-1)
    if last.shape[0] != out.shape[0]:
        raise ValueError(f"last_close must hold {out.shape[0]} closes, got {last.shape[0]}")
    raw = scalers.output.inverse_transform(out)
    if config.target == "log_return":
        # Outputs are cumulative log returns from the origin close, so each step is one exp away.
        return last[:, None] * np.exp(raw)
    return raw
