"""Train a forecaster on a close series end to end (imports TensorFlow; training processes only)."""

from __future__ import annotations

import os

# Set before TensorFlow loads, or its C++ start-up chatter floods training job logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf2onnx  # noqa: E402

from models.architectures import build_model  # noqa: E402
from models.backtest import (  # noqa: E402
    Backtest,
    backtest_origins,
    conformal_quantiles,
    forecast_prices,
    walk_forward,
)
from models.config import TrainingConfig  # noqa: E402
from models.evaluate import compare_to_naive  # noqa: E402
from models.export import ParityError, parity_max_abs_diff, to_onnx  # noqa: E402
from models.features import (  # noqa: E402
    FeatureScalers,
    as_closes,
    decode_outputs,
    encode_inputs,
    encode_targets,
    fit_scalers,
    min_training_bars,
    split_origins,
)
from models.predictor import OnnxPredictor  # noqa: E402
from models.windows import split_bounds  # noqa: E402


class TrainingCancelled(Exception):
    """should_stop asked training to stop; no model was produced."""


class InsufficientData(ValueError):
    """The series is too short to give train, validation and test windows."""


class TrainingDiverged(ValueError):
    """Training produced non-finite weights, usually because the learning rate is too high."""


@dataclass
class TrainingHooks:
    """Callbacks a training job uses to report progress and to ask training to stop."""

    # (epoch 1-based, total epochs, logs with loss and val_loss)
    on_epoch_end: Callable[[int, int, dict[str, float]], None] | None = None
    # Checked at every epoch end; True stops training and train() raises TrainingCancelled.
    should_stop: Callable[[], bool] | None = None


@dataclass
class TrainResult:
    """Everything a model version stores: artefacts, scalers, metrics and provenance."""

    keras_bytes: bytes
    onnx_bytes: bytes
    scalers: FeatureScalers
    metrics: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)
    library_versions: dict[str, str] = field(default_factory=dict)
    # Conformal half-widths per level and step, fit on the validation windows.
    calibration: dict[str, Any] = field(default_factory=dict)
    # Every walk-forward window over the test tail (model, baselines, actuals).
    backtest: Backtest | None = None


class _HookCallback(keras.callbacks.Callback):
    """Records per-epoch logs, forwards them to the hooks and honours should_stop."""

    def __init__(self, hooks: TrainingHooks, total_epochs: int) -> None:
        """Hold the hooks and the planned epoch count."""
        super().__init__()
        self.hooks = hooks
        self.total_epochs = total_epochs
        self.history: list[dict[str, float]] = []
        self.cancelled = False

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Record the epoch, report it and stop training if asked to."""
        clean = {key: float(value) for key, value in (logs or {}).items()}
        self.history.append({"epoch": epoch + 1, **clean})
        if self.hooks.on_epoch_end is not None:
            self.hooks.on_epoch_end(epoch + 1, self.total_epochs, clean)
        if self.hooks.should_stop is not None and self.hooks.should_stop():
            self.cancelled = True
            self.model.stop_training = True


def library_versions() -> dict[str, str]:
    """Return the versions that produced an artefact, so a registry can tell them apart."""
    return {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "tf2onnx": tf2onnx.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
    }


def save_keras(model: keras.Model) -> bytes:
    """Return the bytes of the model saved as a Keras 3 `.keras` file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        return path.read_bytes()


def load_keras(keras_bytes: bytes) -> keras.Model:
    """Load a model from the bytes of a `.keras` file."""
    with tempfile.TemporaryDirectory() as tmp:
        # Keras picks the format from the suffix, so the file must end in .keras.
        path = Path(tmp) / "model.keras"
        path.write_bytes(keras_bytes)
        return keras.models.load_model(path)


def _check_length(n_bars: int, config: TrainingConfig) -> None:
    """Raise InsufficientData unless every split of the series holds at least one window."""
    need = min_training_bars(config)
    what = (
        f"lookback={config.lookback}, horizon={config.horizon}, "
        f"train_frac={config.train_frac}, val_frac={config.val_frac}"
    )
    if n_bars < need:
        raise InsufficientData(
            f"training needs at least {need} bars for {what}; got {n_bars}. "
            f"Load more price history or lower lookback/horizon."
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


def _price_metrics(
    closes: np.ndarray,
    origins: np.ndarray,
    scaled_pred: np.ndarray,
    config: TrainingConfig,
    scalers: FeatureScalers,
) -> dict[str, Any]:
    """Compare decoded forecasts with the actual closes and the naive forecast, in prices."""
    last_close = closes[origins]
    actual = closes[origins[:, None] + np.arange(1, config.horizon + 1)[None, :]]
    predicted = decode_outputs(scaled_pred, last_close, config, scalers)
    return compare_to_naive(actual, predicted, last_close)


def train(
    closes: np.ndarray,
    config: TrainingConfig,
    hooks: TrainingHooks | None = None,
    parity_tolerance: float = 1e-4,
) -> TrainResult:
    """Train, export to ONNX, check parity and score the model on the held-out test split."""
    values = as_closes(closes)
    n_bars = len(values)
    _check_length(n_bars, config)
    hooks = hooks or TrainingHooks()
    # A job cancelled while it waited should not pay for TensorFlow setup and a first epoch.
    if hooks.should_stop is not None and hooks.should_stop():
        raise TrainingCancelled("training cancelled before the first epoch")

    train_end, _ = split_bounds(n_bars, config.train_frac, config.val_frac)
    train_origins, val_origins, test_origins = split_origins(n_bars, config)
    scalers = fit_scalers(values, config, train_end)
    x_train = encode_inputs(values, train_origins, config, scalers)
    y_train = encode_targets(values, train_origins, config, scalers)
    x_val = encode_inputs(values, val_origins, config, scalers)
    y_val = encode_targets(values, val_origins, config, scalers)
    x_test = encode_inputs(values, test_origins, config, scalers)

    # A fresh graph and global seeds make the same seed give the same weights on one machine.
    keras.backend.clear_session()
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    order = np.random.default_rng(config.seed).permutation(len(x_train))

    model = build_model(config)
    early_stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=config.patience, restore_best_weights=True
    )
    progress = _HookCallback(hooks, config.epochs)
    started = time.perf_counter()
    model.fit(
        x_train[order],
        y_train[order],
        validation_data=(x_val, y_val),
        epochs=config.epochs,
        batch_size=config.batch_size,
        shuffle=True,  # reshuffles every epoch from the seeded Keras RNG
        callbacks=[early_stopping, progress],
        verbose=0,
    )
    train_seconds = time.perf_counter() - started
    if progress.cancelled:
        raise TrainingCancelled(
            f"training cancelled after epoch {len(progress.history)} of {config.epochs}"
        )
    if not all(np.all(np.isfinite(w)) for w in model.get_weights()):
        raise TrainingDiverged(
            f"training diverged to non-finite weights; lower learning_rate "
            f"(got {config.learning_rate})"
        )

    keras_bytes = save_keras(model)
    onnx_bytes = to_onnx(model, config)
    parity = parity_max_abs_diff(model, onnx_bytes, x_test)
    if not parity <= parity_tolerance:
        raise ParityError(
            f"ONNX outputs differ from Keras by {parity:.3g} on the test windows "
            f"(tolerance {parity_tolerance:.3g})"
        )

    # Score what the API will serve: the ONNX graph's outputs, decoded to prices.
    predictor = OnnxPredictor(onnx_bytes)
    # Intervals are calibrated on validation residuals, then judged on the untouched test tail.
    val_pred = forecast_prices(values, val_origins, config, scalers, predictor.predict)
    val_actual = values[val_origins[:, None] + np.arange(1, config.horizon + 1)[None, :]]
    calibration = conformal_quantiles(val_actual, val_pred)
    origins = backtest_origins(
        n_bars,
        config,
        start=int(test_origins[0]),
        step=config.backtest_step,
        n_windows=config.backtest_windows,
    )
    backtest = walk_forward(
        values,
        config,
        scalers,
        predictor.predict,
        train_end=train_end,
        origins=origins,
        calibration=calibration,
    )
    metrics: dict[str, Any] = {
        "test": backtest.metrics,
        "validation": _price_metrics(
            values, val_origins, predictor.predict(x_val), config, scalers
        ),
    }
    metrics["parity_max_abs_diff"] = parity
    metrics["epochs_run"] = len(progress.history)
    metrics["best_epoch"] = int(early_stopping.best_epoch) + 1
    metrics["train_seconds"] = train_seconds
    return TrainResult(
        keras_bytes=keras_bytes,
        onnx_bytes=onnx_bytes,
        scalers=scalers,
        metrics=metrics,
        history=progress.history,
        library_versions=library_versions(),
        calibration={
            "method": "split-conformal",
            "score": "abs log(actual / forecast)",
            "n_windows": int(val_origins.size),
            "half_widths": calibration,
        },
        backtest=backtest,
    )
