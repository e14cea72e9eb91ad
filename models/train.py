"""Train a forecaster on a close series end to end (imports TensorFlow; training processes only)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import onnx
import onnxruntime
import tensorflow as tf
import tf2onnx

from models.architectures import build_ensemble, build_model
from models.backtest import (
    forecast_prices,
    score_forecasts,
)
from models.config import TrainingConfig
from models.errors import (  # noqa: F401 (re-exported: callers catch them from here)
    InsufficientData,
    TrainingCancelled,
    TrainingDiverged,
)
from models.export import ParityError, parity_max_abs_diff, to_onnx
from models.features import (  # noqa: F401 (check_length re-exported)
    Bars,
    FeatureScalers,
    as_bars,
    check_length,
    encode_inputs,
    encode_targets,
    fit_scalers,
    split_origins,
    valid_origins,
)
from models.forecasters import NetworkForecaster, judge_network
from models.metrics import (
    BacktestSummary,
    BaselineRatios,
    MemberMetrics,
    Timings,
    VersionMetrics,
)
from models.predictor import OnnxPredictor
from models.result import TrainResult  # noqa: F401 (re-exported)
from models.windows import split_bounds


@dataclass(frozen=True)
class TrainingProgress:
    """Where training stands at the end of an epoch, for a job's progress report."""

    member: int  # 1-based network of the ensemble being trained
    members: int
    seed: int
    epoch: int  # 1-based, within the member
    epochs: int  # most epochs of a member; early stopping may end it sooner
    logs: dict[str, float]  # loss and val_loss


@dataclass
class TrainingHooks:
    """Callbacks a training job uses to report progress and to ask training to stop."""

    on_epoch_end: Callable[[TrainingProgress], None] | None = None
    # True stops training and train() raises TrainingCancelled. Checked before each member,
    # at every epoch end, and between batches once `stop_check_seconds` have passed since the
    # last check, so a cancel lands within about that long plus one batch.
    should_stop: Callable[[], bool] | None = None
    stop_check_seconds: float = 1.0


class _ProgressCallback(keras.callbacks.Callback):
    """Records per-epoch logs, forwards them to the hooks and honours should_stop."""

    def __init__(self, hooks: TrainingHooks, member: int, members: int, seed: int) -> None:
        """Hold the hooks and which member this is."""
        super().__init__()
        self.hooks = hooks
        self.member, self.members, self.seed = member, members, seed
        self.history: list[dict[str, float]] = []
        self.cancelled = False

    def stop_if_asked(self) -> None:
        """Ask should_stop, and stop training if it says so."""
        if self.hooks.should_stop is not None and self.hooks.should_stop():
            self.cancelled = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Record the epoch, report it and stop training if asked to."""
        clean = {key: float(value) for key, value in (logs or {}).items()}
        self.history.append({"member": self.member, "epoch": epoch + 1, **clean})
        if self.hooks.on_epoch_end is not None:
            epochs = self.params["epochs"]
            self.hooks.on_epoch_end(
                TrainingProgress(self.member, self.members, self.seed, epoch + 1, epochs, clean)
            )
        if not self.cancelled:
            self.stop_if_asked()


class _StopBetweenBatches(keras.callbacks.Callback):
    """Checks should_stop between batches, at most every `seconds` (a check may query a DB)."""

    def __init__(self, progress: _ProgressCallback, seconds: float) -> None:
        """Share the progress callback's cancel state."""
        super().__init__()
        self.progress = progress
        self.seconds = seconds
        self.last_check = time.monotonic()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Check should_stop if the last check is old enough."""
        now = time.monotonic()
        if now - self.last_check >= self.seconds:
            self.last_check = now
            self.progress.stop_if_asked()


def set_threads(intra_op: int, inter_op: int = 1) -> bool:
    """Cap TensorFlow's thread pools for this process; False when TensorFlow already ran an op
    (the pools are fixed from then on, so the first call in a process wins)."""
    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    except RuntimeError:
        return False
    return True


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


@dataclass
class _Windows:
    """The encoded training and validation windows every member fits on."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def fit_windows(
    bars: Bars, config: TrainingConfig, *, train_end: int, val_end: int
) -> tuple[FeatureScalers, _Windows]:
    """Scalers fit on bars[:train_end] and the windows of the train and validation splits.

    Nothing at or after val_end is read: training targets end before train_end, validation
    targets before val_end (the origins split_origins gives a series of any longer length).
    """
    train_origins = valid_origins(train_end, config, 0, train_end)
    val_origins = valid_origins(val_end, config, train_end, val_end)
    scalers = fit_scalers(bars, config, train_end)
    return scalers, _Windows(
        x_train=encode_inputs(bars, train_origins, config, scalers),
        y_train=encode_targets(bars, train_origins, config, scalers),
        x_val=encode_inputs(bars, val_origins, config, scalers),
        y_val=encode_targets(bars, val_origins, config, scalers),
    )


def parent_member_weights(parent: keras.Model, config: TrainingConfig) -> list[list[np.ndarray]]:
    """The weights of each member of a parent model built with the same architecture, in the
    order of config.member_seeds(): the starting point of a warm start."""
    if config.ensemble == 1:
        return [parent.get_weights()]
    return [parent.get_layer(f"member_{k}").get_weights() for k in range(1, config.ensemble + 1)]


@dataclass
class _Member:
    """One trained network of the ensemble."""

    model: keras.Model
    seed: int
    history: list[dict[str, float]]
    best_epoch: int
    fit_seconds: float


def fit_member(
    windows: _Windows,
    config: TrainingConfig,
    member: int,
    seed: int,
    hooks: TrainingHooks,
    *,
    initial_weights: list[np.ndarray] | None = None,
    extra_callbacks: tuple[keras.callbacks.Callback, ...] = (),
) -> _Member:
    """Fit one network with its own seed and early stopping; member is 1-based.

    initial_weights (a warm start) replace the seeded initialisation; the seed still orders
    the batches and the dropout masks.
    """
    if hooks.should_stop is not None and hooks.should_stop():
        raise TrainingCancelled(
            f"training cancelled before member {member} of {config.ensemble}"
            if member > 1
            else "training cancelled before the first epoch"
        )
    # A fresh graph and global seeds make the same seed give the same weights on one machine,
    # whether a network is trained alone or as an ensemble member.
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    order = np.random.default_rng(seed).permutation(len(windows.x_train))
    model = build_model(config, name=None if config.ensemble == 1 else f"member_{member}")
    if initial_weights is not None:
        model.set_weights(initial_weights)
    early_stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=config.patience, restore_best_weights=True
    )
    progress = _ProgressCallback(hooks, member, config.ensemble, seed)
    callbacks: list[keras.callbacks.Callback] = [early_stopping, progress, *extra_callbacks]
    if hooks.should_stop is not None:
        # Only with a hook to ask: a batch-level callback turns off Keras's async dispatch.
        callbacks.append(_StopBetweenBatches(progress, hooks.stop_check_seconds))
    started = time.perf_counter()
    model.fit(
        windows.x_train[order],
        windows.y_train[order],
        validation_data=(windows.x_val, windows.y_val),
        epochs=config.epochs,
        batch_size=config.batch_size,
        shuffle=True,  # reshuffles every epoch from the seeded Keras RNG
        callbacks=callbacks,
        verbose=0,
    )
    fit_seconds = time.perf_counter() - started
    if progress.cancelled:
        where = f" (member {member} of {config.ensemble})" if config.ensemble > 1 else ""
        raise TrainingCancelled(
            f"training cancelled in epoch {len(progress.history)} of {config.epochs}{where}"
        )
    if not all(np.all(np.isfinite(w)) for w in model.get_weights()):
        raise TrainingDiverged(
            f"training diverged to non-finite weights (seed {seed}); lower learning_rate "
            f"(got {config.learning_rate})"
        )
    return _Member(
        model=model,
        seed=seed,
        history=progress.history,
        best_epoch=int(early_stopping.best_epoch) + 1,
        fit_seconds=fit_seconds,
    )


def _keras_predict(model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
    # A direct call, unlike predict(), traces no new tf.function per model.
    return lambda x: np.asarray(keras.ops.convert_to_numpy(model(x, training=False)))


def _score_alone(
    member: _Member,
    values: Bars,
    config: TrainingConfig,
    scalers: FeatureScalers,
    *,
    train_end: int,
    val_origins: np.ndarray,
    test_origins: np.ndarray,
) -> tuple[BacktestSummary, BacktestSummary]:
    """A member's own validation and test figures on the ensemble's windows (through Keras)."""
    # One call for both sets of windows: an eager Keras call costs seconds per call.
    both = np.concatenate([val_origins, test_origins])
    forecasts = forecast_prices(values, both, config, scalers, _keras_predict(member.model))
    val_pred, test_pred = forecasts[: val_origins.size], forecasts[val_origins.size :]
    return (
        score_forecasts(values.close, val_origins, val_pred, train_end=train_end),
        score_forecasts(values.close, test_origins, test_pred, train_end=train_end),
    )


def _member_metrics(
    member: _Member, validation: BacktestSummary, test: BacktestSummary
) -> MemberMetrics:
    """What a version keeps of one member: its training run and its own ratios."""
    return MemberMetrics(
        seed=member.seed,
        epochs_run=len(member.history),
        best_epoch=member.best_epoch,
        fit_seconds=member.fit_seconds,
        validation=BaselineRatios.of(validation),
        test=BaselineRatios.of(test),
    )


def train(
    bars: Bars | np.ndarray,
    config: TrainingConfig,
    hooks: TrainingHooks | None = None,
    parity_tolerance: float = 1e-4,
    warm_start: bytes | None = None,
) -> TrainResult:
    """Train `config.ensemble` networks, export their mean to ONNX, check parity and score it
    against naive and drift on the held-out test split.

    `bars` are whole bars, or closes alone when the config has no features. Member k (1-based)
    is trained with seed `config.member_seeds()[k - 1]`, that is seed + k - 1, on the same
    windows with its own early stopping; a member is the network a single training with its
    seed gives. The served model averages the members' scaled outputs in one graph.

    warm_start: the `.keras` bytes of a parent of the same architecture and inputs; each member
    starts from the parent's member of the same place and fine-tunes for `config.epochs`.
    """
    series = as_bars(bars)
    values = series.close
    n_bars = len(values)
    check_length(n_bars, config)
    hooks = hooks or TrainingHooks()

    train_end, val_end = split_bounds(n_bars, config.train_frac, config.val_frac)
    _, val_origins, test_origins = split_origins(n_bars, config)
    scalers, windows = fit_windows(series, config, train_end=train_end, val_end=val_end)
    x_test = encode_inputs(series, test_origins, config, scalers)
    starts: list[list[np.ndarray] | None] = [None] * config.ensemble
    if warm_start is not None:
        starts = list(parent_member_weights(load_keras(warm_start), config))

    members = [
        fit_member(windows, config, k, seed, hooks, initial_weights=starts[k - 1])
        for k, seed in enumerate(config.member_seeds(), start=1)
    ]
    if len(members) == 1:
        model = members[0].model
    else:
        model = build_ensemble(config, [m.model for m in members])

    started = time.perf_counter()
    keras_bytes = save_keras(model)
    onnx_bytes = to_onnx(model, config)
    exported = time.perf_counter()
    parity = parity_max_abs_diff(model, onnx_bytes, x_test)
    checked = time.perf_counter()
    if not parity <= parity_tolerance:
        raise ParityError(
            f"ONNX outputs differ from Keras by {parity:.3g} on the test windows "
            f"(tolerance {parity_tolerance:.3g})"
        )

    # Score what the API will serve: the ONNX graph's outputs decoded to prices, or their
    # blend with drift when validation says so.
    judged = judge_network(
        series, NetworkForecaster(config, scalers, OnnxPredictor(onnx_bytes).predict)
    )
    backtest = judged.assessment.backtest
    validation, calibration = judged.assessment.validation, judged.assessment.calibration
    if len(members) == 1:
        # A lone network's own figures, whether or not its blend is what is served.
        member_metrics = [
            _member_metrics(members[0], judged.network_validation, judged.network_test)
        ]
    else:
        member_metrics = [
            _member_metrics(
                m,
                *_score_alone(
                    m,
                    series,
                    config,
                    scalers,
                    train_end=train_end,
                    val_origins=val_origins,
                    test_origins=backtest.origins,
                ),
            )
            for m in members
        ]
    scored = time.perf_counter()

    fit_seconds = sum(m.fit_seconds for m in members)
    metrics = VersionMetrics(
        test=backtest.metrics,
        validation=validation,
        parity_max_abs_diff=parity,
        epochs_run=sum(len(m.history) for m in members),
        best_epoch=members[0].best_epoch if len(members) == 1 else None,
        train_seconds=fit_seconds,
        members=member_metrics,
        timings=Timings(
            fit_seconds=fit_seconds,
            export_seconds=exported - started,
            parity_seconds=checked - exported,
            backtest_seconds=scored - checked,
        ),
        forecaster=judged.record,
        blend=judged.blend,
    )
    return TrainResult(
        keras_bytes=keras_bytes,
        onnx_bytes=onnx_bytes,
        scalers=scalers,
        metrics=metrics,
        calibration=calibration,
        backtest=backtest,
        config=config,
        history=[entry for m in members for entry in m.history],
        library_versions=library_versions(),
    )
