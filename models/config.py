"""Typed training configuration shared by training, the registry and the API (stdlib only)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, get_args

ModelType = Literal["rnn", "lstm", "gru", "bilstm"]
Target = Literal["log_return", "price"]

MODEL_TYPES: tuple[str, ...] = get_args(ModelType)
TARGETS: tuple[str, ...] = get_args(Target)


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    """Raise ValueError naming `name` unless value is an int in [low, high]."""
    # bool is an int subclass; `True` as a lookback is a caller bug, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")


def _check_float(name: str, value: Any) -> float:
    """Return value as a float or raise ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class TrainingConfig:
    """Everything that decides how a forecaster is trained; saved with every model version."""

    model_type: ModelType = "lstm"
    lookback: int = 60  # trading days of history per input window
    horizon: int = 5  # trading days forecast, one output per day
    layers: tuple[int, ...] = (64, 32)  # units per stacked recurrent layer
    dropout: float = 0.2
    epochs: int = 50
    batch_size: int = 32
    learning_rate: float = 1e-3
    target: Target = "log_return"
    seed: int = 42
    train_frac: float = 0.70
    val_frac: float = 0.15
    patience: int = 5  # epochs without val_loss improvement before stopping
    # Walk-forward backtest over the test split: an origin every `backtest_step` trading days,
    # only the most recent `backtest_windows` of them when set.
    backtest_step: int = 1
    backtest_windows: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict (layers as a list)."""
        data = asdict(self)
        data["layers"] = list(self.layers)
        return data

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainingConfig:
        """Build a config from a dict, rejecting unknown keys; missing keys take defaults."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown TrainingConfig field(s): {', '.join(unknown)}")
        data = dict(d)
        if "layers" in data:
            layers = data["layers"]
            if isinstance(layers, str) or not isinstance(layers, list | tuple):
                raise ValueError(f"layers must be a list of integers, got {layers!r}")
            data["layers"] = tuple(layers)
        return cls(**data)

    def validate(self) -> None:
        """Raise ValueError naming the first field that is out of bounds."""
        if self.model_type not in MODEL_TYPES:
            raise ValueError(
                f"model_type must be one of {list(MODEL_TYPES)}, got {self.model_type!r}"
            )
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {list(TARGETS)}, got {self.target!r}")
        _check_int("lookback", self.lookback, 5, 500)
        _check_int("horizon", self.horizon, 1, 60)
        _check_int("epochs", self.epochs, 1, 1000)
        _check_int("batch_size", self.batch_size, 1, 4096)
        _check_int("patience", self.patience, 1, 1000)
        _check_int("seed", self.seed, 0, 2**32 - 1)
        _check_int("backtest_step", self.backtest_step, 1, 250)
        if self.backtest_windows is not None:
            _check_int("backtest_windows", self.backtest_windows, 1, 100_000)
        if not isinstance(self.layers, tuple) or not 1 <= len(self.layers) <= 4:
            raise ValueError(f"layers must hold 1 to 4 layer sizes, got {self.layers!r}")
        for units in self.layers:
            _check_int("layers", units, 1, 1024)
        dropout = _check_float("dropout", self.dropout)
        if not 0.0 <= dropout <= 0.9:
            raise ValueError(f"dropout must be between 0 and 0.9, got {dropout}")
        learning_rate = _check_float("learning_rate", self.learning_rate)
        if not 0.0 < learning_rate <= 1.0:
            raise ValueError(f"learning_rate must be in (0, 1], got {learning_rate}")
        train_frac = _check_float("train_frac", self.train_frac)
        val_frac = _check_float("val_frac", self.val_frac)
        if not train_frac > 0.0:
            raise ValueError(f"train_frac must be greater than 0, got {train_frac}")
        if not val_frac > 0.0:
            raise ValueError(f"val_frac must be greater than 0, got {val_frac}")
        # The test split is what is left; it must not be empty.
        if not train_frac + val_frac < 1.0:
            raise ValueError(
                f"train_frac + val_frac must be less than 1 to leave a test split, "
                f"got train_frac={train_frac} + val_frac={val_frac}"
            )
