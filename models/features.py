"""Scalers and the encoding of bars into model inputs/targets (numpy only).

Training and the API's ONNX inference both call these functions, so a served forecast sees
exactly the preprocessing the network was trained on: `encode_inputs` is the one function
that builds a network's input windows, from closes alone or from whole bars when the config
asks for features.

Convention: an *origin* i is the index of the last known close. The inputs for origin i use
closes[i - lookback .. i] (lookback + 1 closes, because the log-return target needs lookback
daily log returns) and the other columns of bars i - lookback + 1 .. i; the targets are
closes[i + 1 .. i + horizon].
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from models.config import Feature, IntervalMethod, Target, TrainingConfig
from models.errors import InsufficientData, ModelError
from models.windows import split_bounds

if TYPE_CHECKING:  # pandas only for the type of a price frame
    import pandas as pd

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
    """The input and output scalers fit on a training split; saved with the model version.

    `input` scales the close channel, `features` each extra channel by its name.
    """

    input: Scaler
    output: Scaler
    features: dict[str, Scaler] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict."""
        return {
            "input": self.input.to_dict(),
            "output": self.output.to_dict(),
            "features": {name: scaler.to_dict() for name, scaler in self.features.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureScalers:
        """Rebuild scalers saved with to_dict (a record from before features has none)."""
        return cls(
            input=Scaler.from_dict(d["input"]),
            output=Scaler.from_dict(d["output"]),
            features={name: Scaler.from_dict(s) for name, s in d.get("features", {}).items()},
        )


class MissingBars(ModelError):
    """A feature needs a bar column that the series lacks or leaves empty where it is read."""


# The bar columns each feature reads (the close channel always reads close).
FEATURE_COLUMNS: dict[Feature, tuple[str, ...]] = {
    Feature.LOG_RETURN: ("close",),
    Feature.OPEN: ("open", "close"),
    Feature.HIGH: ("high", "close"),
    Feature.LOW: ("low", "close"),
    Feature.RANGE: ("high", "low"),
    Feature.VOLUME: ("volume",),
    Feature.DAY_OF_WEEK: ("day",),
}


@dataclass(frozen=True)
class Bars:
    """Daily bars as arrays of one length: close always, the other columns when known.

    `day` holds the trading dates (datetime64[D]); a column is None when the source has none,
    and NaN where a bar lacks it.
    """

    close: np.ndarray
    open: np.ndarray | None = None
    high: np.ndarray | None = None
    low: np.ndarray | None = None
    volume: np.ndarray | None = None
    day: np.ndarray | None = None

    def __post_init__(self) -> None:
        """Check that every column is one-dimensional and as long as the closes."""
        n = len(self.close)
        for name in ("open", "high", "low", "volume", "day"):
            column = getattr(self, name)
            if column is not None and np.shape(column) != (n,):
                raise ValueError(f"bars column {name} must have shape ({n},), got {column.shape}")

    def __len__(self) -> int:
        return len(self.close)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Bars:
        """The bars of a price frame indexed by date (columns open, high, low, close, volume)."""

        def column(name: str) -> np.ndarray | None:
            if name not in frame.columns:
                return None
            return np.asarray(frame[name].to_numpy(dtype=np.float64, na_value=np.nan))

        close = column("close")
        if close is None:
            raise MissingBars("the bars have no close column")
        return cls(
            close=close,
            open=column("open"),
            high=column("high"),
            low=column("low"),
            volume=column("volume"),
            day=np.asarray(frame.index.values, dtype="datetime64[D]"),
        )

    def head(self, n: int) -> Bars:
        """The first n bars."""
        cut = {
            name: None if getattr(self, name) is None else getattr(self, name)[:n]
            for name in ("open", "high", "low", "volume", "day")
        }
        return Bars(close=self.close[:n], **cut)


def as_bars(bars: Bars | np.ndarray) -> Bars:
    """Bars as given, or bars of closes alone; the closes are checked as `as_closes` does."""
    if isinstance(bars, Bars):
        return replace(bars, close=as_closes(bars.close))
    return Bars(close=as_closes(bars))


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


def _column(bars: Bars, name: str, feature: Feature, idx: np.ndarray) -> np.ndarray:
    """bars.<name> at the positions idx (any shape), refusing a missing or empty value."""
    values = getattr(bars, name)
    if values is None:
        raise MissingBars(
            f"feature {feature.value} needs the {name} of every bar, and these bars have no "
            f"{name} column (a CSV without {name}?); train without {feature.value} or import "
            f"prices that have it"
        )
    got = values[idx]
    bad = ~np.isfinite(got) if name != "day" else np.isnat(got)
    if name in ("open", "high", "low", "close"):
        bad |= ~(got > 0.0)
    if name == "volume":
        bad |= got < 0.0
    if np.any(bad):
        where = np.asarray(idx)[bad]
        first = int(where.min())
        # The date says which bar; an index is all closes alone can say.
        which = f"the bar of {bars.day[first]}" if bars.day is not None else f"bar {first}"
        raise MissingBars(
            f"feature {feature.value} needs the {name} of {which}, which is missing or invalid "
            f"({int(np.unique(where).size)} such bars in the windows asked for)"
        )
    return np.asarray(got, dtype=np.float64) if name != "day" else got


def _feature_windows(
    bars: Bars, idx: np.ndarray, config: TrainingConfig, feature: Feature
) -> np.ndarray:
    """The raw (unscaled) values of one feature over each origin's window, (n, lookback)."""
    offsets = np.arange(-config.lookback + 1, 1, dtype=np.int64)
    at = idx[:, None] + offsets[None, :]
    if feature == Feature.DAY_OF_WEEK:
        days = _column(bars, "day", feature, at)
        # 1970-01-01 was a Thursday: shift so Monday is 0.
        return ((days.astype("datetime64[D]").astype(np.int64) + 3) % 7).astype(np.float64)
    if feature == Feature.VOLUME:
        volume = _column(bars, "volume", feature, at)
        mean = volume.mean(axis=1, keepdims=True)
        std = volume.std(axis=1, keepdims=True)
        # A window of equal volumes has no spread: every bar is at the mean.
        return np.divide(volume - mean, std, out=np.zeros_like(volume), where=std > 0.0)
    if feature == Feature.RANGE:
        return np.log(_column(bars, "high", feature, at) / _column(bars, "low", feature, at))
    previous = _column(bars, "close", feature, at - 1)
    column = "close" if feature == Feature.LOG_RETURN else feature.value
    return np.log(_column(bars, column, feature, at) / previous)


def _raw_close_windows(closes: np.ndarray, idx: np.ndarray, config: TrainingConfig) -> np.ndarray:
    """The close channel before scaling: daily log returns or price levels, (n, lookback)."""
    window = _gather(closes, idx, -config.lookback, 0)
    if config.target == Target.LOG_RETURN:
        return np.diff(np.log(window), axis=1)
    # Drop the oldest close so the price input is the lookback closes ending at the origin.
    return window[:, 1:]


def fit_scalers(bars: Bars | np.ndarray, config: TrainingConfig, train_end: int) -> FeatureScalers:
    """Fit the input, feature and output scalers on bars[:train_end] only."""
    series = as_bars(bars)
    values = series.close
    if not 0 < train_end <= len(values):
        raise ValueError(f"train_end must be in 1..{len(values)}, got {train_end}")
    train = values[:train_end]
    if config.target not in (Target.LOG_RETURN, Target.PRICE):
        raise ValueError(f"target must be 'log_return' or 'price', got {config.target!r}")
    origins = valid_origins(train_end, config, 0, train_end)
    if origins.size == 0:
        raise ValueError(
            f"the training split needs at least {min_history(config) + config.horizon} closes "
            f"for lookback={config.lookback}, horizon={config.horizon}; got {train_end}"
        )
    # The training origins' windows read bars before train_end only.
    features = {
        f.value: Scaler.fit("standard", _feature_windows(series, origins, config, f))
        for f in config.features
    }
    if config.target == Target.PRICE:
        # Inputs and targets are both price levels, so both use the training price range.
        return FeatureScalers(
            input=Scaler.fit("minmax", train),
            output=Scaler.fit("minmax", train),
            features=features,
        )
    return FeatureScalers(
        input=Scaler.fit("standard", np.diff(np.log(train))),
        output=Scaler.fit("standard", _cumulative_log_returns(train, origins, config.output_steps)),
        features=features,
    )


def encode_inputs(
    bars: Bars | np.ndarray, origins: np.ndarray, config: TrainingConfig, scalers: FeatureScalers
) -> np.ndarray:
    """Return the scaled input window of every origin, float32 (n, lookback, n_inputs).

    Channel 0 is the close channel of the target; then one channel per feature, in the order
    the config lists them. Raises MissingBars when a feature's column is absent or empty.
    """
    series = as_bars(bars)
    idx = _as_origins(origins, len(series), config.lookback, 0)
    channels = [scalers.input.transform(_raw_close_windows(series.close, idx, config))]
    for feature in config.features:
        scaler = scalers.features.get(feature.value)
        if scaler is None:
            raise ValueError(f"the scalers hold none for feature {feature.value}")
        channels.append(scaler.transform(_feature_windows(series, idx, config, feature)))
    return np.stack(channels, axis=-1).astype(np.float32)


def encode_step(
    new_close: np.ndarray,
    previous_close: np.ndarray,
    config: TrainingConfig,
    scalers: FeatureScalers,
) -> np.ndarray:
    """The close channel of one new bar, float32 (n, 1, 1): what a recursive forecast appends
    to a window after forecasting `new_close` from `previous_close` (as encode_inputs would)."""
    if config.features:
        raise ValueError("only a window of the close channel alone can be extended by a close")
    new = np.asarray(new_close, dtype=np.float64).reshape(-1)
    if config.target == Target.LOG_RETURN:
        raw = np.log(new / np.asarray(previous_close, dtype=np.float64).reshape(-1))
    else:
        raw = new
    return scalers.input.transform(raw).astype(np.float32)[:, None, None]


def encode_targets(
    bars: Bars | np.ndarray, origins: np.ndarray, config: TrainingConfig, scalers: FeatureScalers
) -> np.ndarray:
    """Return the scaled targets of every origin, float32 (n, output_steps): every horizon
    step (direct) or the next step only (recursive)."""
    values = as_bars(bars).close
    steps = config.output_steps
    idx = _as_origins(origins, len(values), 0, steps)
    if config.target == Target.LOG_RETURN:
        raw = _cumulative_log_returns(values, idx, steps)
    else:
        raw = _gather(values, idx, 1, steps)
    return scalers.output.transform(raw).astype(np.float32)


def decode_outputs(
    y: np.ndarray, last_close: np.ndarray, config: TrainingConfig, scalers: FeatureScalers
) -> np.ndarray:
    """Turn scaled network outputs into prices, float64 (n, output_steps)."""
    out = np.asarray(y, dtype=np.float64)
    if out.ndim != 2 or out.shape[1] != config.output_steps:
        raise ValueError(f"y must have shape (n, {config.output_steps}), got {out.shape}")
    last = np.asarray(last_close, dtype=np.float64).reshape(-1)
    if last.shape[0] != out.shape[0]:
        raise ValueError(f"last_close must hold {out.shape[0]} closes, got {last.shape[0]}")
    raw = scalers.output.inverse_transform(out)
    if config.target == Target.LOG_RETURN:
        # Outputs are cumulative log returns from the origin close, so each step is one exp away.
        return last[:, None] * np.exp(raw)
    return raw


def check_length(n_bars: int, config: TrainingConfig) -> None:
    """Raise InsufficientData unless every split of the series holds at least one window."""
    need = min_training_bars(config)
    what = (
        f"lookback={config.lookback}, horizon={config.horizon}, "
        f"train_frac={config.train_frac}, val_frac={config.val_frac}"
    )
    if config.interval_method == IntervalMethod.VOLATILITY:
        what += f", volatility_window={config.volatility_window}"
    if n_bars < need:
        raise InsufficientData(
            f"training needs at least {need} bars for {what}; got {n_bars}. "
            f"Load more price history or lower lookback, horizon or volatility_window."
        )
    splits = zip(("train", "validation", "test"), split_origins(n_bars, config), strict=True)
    empty = [name for name, origins in splits if origins.size == 0]
    if empty:
        # split_bounds floors each boundary, so a length just above the minimum can still
        # leave a split a bar short.
        raise InsufficientData(
            f"{n_bars} bars leave the {', '.join(empty)} split without a full window for {what}; "
            f"at least {need} bars are needed, add a few more."
        )
