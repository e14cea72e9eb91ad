"""Bounded hyperparameter search with Optuna (imports TensorFlow and Optuna; training
processes only).

Why Optuna rather than KerasTuner: it runs in this process with no project directory or
service, its define-by-run trials sample conditional parameters plainly (the units of a second
layer exist only when there is one), its TPE sampler takes a seed so a search is reproducible,
and its MedianPruner judges a trial from the validation loss we report at every epoch with a
small Keras callback, inside our own fit (early stopping, cancel checks, determinism) rather
than a tuner's.

A trial fits one network on the training split and is scored on the validation split's loss
only: the search receives the bars up to the end of the validation split and nothing after,
so the backtest tail cannot steer it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import optuna

from models.config import TrainingConfig
from models.errors import ModelError
from models.features import Bars, as_bars
from models.metrics import SearchRecord, SearchTrial
from models.search_space import SearchSpace, SearchSpec
from models.train import (
    TrainingDiverged,
    TrainingHooks,
    TrainingProgress,
    check_length,
    fit_member,
    fit_windows,
)
from models.windows import split_bounds

# Trials the pruner lets finish before it compares, and epochs of each trial it never prunes.
PRUNER_STARTUP_TRIALS = 5
PRUNER_WARMUP_EPOCHS = 2


class SearchFailed(ModelError):
    """No trial of the search finished: nothing to choose from."""


@dataclass(frozen=True)
class TrialProgress:
    """Where a search stands at the end of an epoch of one trial."""

    trial: int  # 1-based
    trials: int  # most trials
    epoch: int  # 1-based, within the trial
    epochs: int
    logs: dict[str, float]


@dataclass
class SearchHooks:
    """Progress reports and the cancel check of a search job."""

    on_epoch_end: Callable[[TrialProgress], None] | None = None
    should_stop: Callable[[], bool] | None = None


@dataclass(frozen=True)
class SearchOutcome:
    """The chosen configuration (with the request's epochs and ensemble) and the record."""

    config: TrainingConfig
    record: SearchRecord


def sample(trial: optuna.Trial, space: SearchSpace) -> dict[str, Any]:
    """The parameters of one trial, drawn from the space (names as TrainingConfig's)."""
    n_layers = trial.suggest_int("layers", space.layers.low, space.layers.high)
    units = [str(u) for u in space.units]  # categorical choices kept as plain strings
    return {
        "model_type": trial.suggest_categorical("model_type", [m.value for m in space.model_type]),
        "lookback": trial.suggest_int(
            "lookback", space.lookback.low, space.lookback.high, step=space.lookback.step
        ),
        "layers": [
            int(trial.suggest_categorical(f"units_{i}", units)) for i in range(1, n_layers + 1)
        ],
        "dropout": trial.suggest_float("dropout", space.dropout.low, space.dropout.high),
        "learning_rate": trial.suggest_float(
            "learning_rate",
            space.learning_rate.low,
            space.learning_rate.high,
            log=space.learning_rate.log,
        ),
        "batch_size": int(
            trial.suggest_categorical("batch_size", [str(b) for b in space.batch_size])
        ),
    }


def configured(base: TrainingConfig, params: dict[str, Any], **more: Any) -> TrainingConfig:
    """The base config with a trial's parameters (validated as any config is)."""
    return TrainingConfig.from_dict({**base.to_dict(), **params, **more})


class _ReportToTrial(keras.callbacks.Callback):
    """Reports val_loss to the trial each epoch; stops the fit when the pruner says so or the
    search's deadline passes (checked after every training and validation batch)."""

    def __init__(self, trial: optuna.Trial, deadline: float) -> None:
        super().__init__()
        self.trial = trial
        self.deadline = deadline  # time.monotonic() seconds
        self.stopped: str | None = None
        # The deadline cut a validation pass short: that epoch's val_loss is not a score.
        self.cut_validation = False

    def _past_deadline(self) -> bool:
        if self.stopped is None and time.monotonic() >= self.deadline:
            self.stopped = "timeout"
            self.model.stop_training = True
        return self.stopped == "timeout"

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Stop at the deadline without waiting for the epoch's end."""
        self._past_deadline()

    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Stop the epoch's validation pass too at the deadline."""
        if self._past_deadline():
            self.cut_validation = True
            self.model.stop_evaluating = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Report the epoch's validation loss and ask the pruner."""
        val_loss = float((logs or {}).get("val_loss", np.nan))
        if np.isfinite(val_loss) and not self.cut_validation:
            self.trial.report(val_loss, epoch)
        if self.stopped is None and self.trial.should_prune():
            self.stopped = "pruned"
            self.model.stop_training = True


def search(
    bars: Bars | np.ndarray,
    base: TrainingConfig,
    spec: SearchSpec,
    hooks: SearchHooks | None = None,
) -> SearchOutcome:
    """Try up to spec.trials configurations within spec.timeout_s seconds; return the one with
    the lowest validation loss, with every trial's parameters, score and time.

    Each trial is a single network (seed base.seed) trained for spec.trial_epochs (default
    base.epochs) with early stopping; the returned config keeps base's epochs and ensemble.
    Raises TrainingCancelled when should_stop says so, SearchFailed when no trial finished.
    """
    hooks = hooks or SearchHooks()
    series = as_bars(bars)
    n_bars = len(series)
    trial_epochs = spec.trial_epochs or base.epochs
    space = spec.space
    # The longest lookback sampled must still leave every split a window.
    check_length(n_bars, configured(base, {"lookback": space.lookback.high}))
    train_end, val_end = split_bounds(n_bars, base.train_frac, base.val_frac)
    # Nothing after the validation split reaches a trial.
    seen = series.head(val_end)

    started = time.monotonic()
    deadline = started + spec.timeout_s
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=base.seed)
    pruner = optuna.pruners.MedianPruner(
        n_startup_trials=PRUNER_STARTUP_TRIALS, n_warmup_steps=PRUNER_WARMUP_EPOCHS
    )
    study = optuna.create_study(direction="minimize", sampler=sampler, pruner=pruner)

    def objective(trial: optuna.Trial) -> float:
        params = sample(trial, space)
        config = configured(base, params, ensemble=1, epochs=trial_epochs)
        _, windows = fit_windows(seen, config, train_end=train_end, val_end=val_end)
        report = _ReportToTrial(trial, deadline)

        def on_epoch_end(at: TrainingProgress) -> None:
            if hooks.on_epoch_end is not None:
                hooks.on_epoch_end(
                    TrialProgress(trial.number + 1, spec.trials, at.epoch, at.epochs, at.logs)
                )

        member = fit_member(
            windows,
            config,
            1,
            base.seed,
            TrainingHooks(on_epoch_end=on_epoch_end, should_stop=hooks.should_stop),
            extra_callbacks=(report,),
        )
        history = member.history[:-1] if report.cut_validation else member.history
        losses = [h["val_loss"] for h in history if np.isfinite(h.get("val_loss", np.nan))]
        trial.set_user_attr("epochs_run", len(member.history))
        if losses:
            trial.set_user_attr("val_loss", min(losses))
        if report.stopped is not None:
            trial.set_user_attr("stopped", report.stopped)
            raise optuna.TrialPruned(f"stopped: {report.stopped}")
        if not losses:
            raise TrainingDiverged("no finite validation loss")
        return min(losses)

    remaining = max(deadline - time.monotonic(), 0.0)
    study.optimize(objective, n_trials=spec.trials, timeout=remaining, catch=(TrainingDiverged,))
    seconds = time.monotonic() - started

    trials = [_trial_record(t) for t in study.trials]
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise SearchFailed(
            f"no trial of the search finished within timeout_s={spec.timeout_s:g} "
            f"({len(study.trials)} started); raise timeout_s or lower trial_epochs"
        )
    best = study.best_trial
    assert best.value is not None  # a complete trial has its value
    best_params = sample_params(best.params)
    record = SearchRecord(
        trials_requested=spec.trials,
        timeout_s=spec.timeout_s,
        trial_epochs=trial_epochs,
        sampler=f"TPESampler(seed={base.seed})",
        pruner=(
            f"MedianPruner(n_startup_trials={PRUNER_STARTUP_TRIALS}, "
            f"n_warmup_steps={PRUNER_WARMUP_EPOCHS})"
        ),
        space=space.model_dump(mode="json"),
        stopped_by="trials" if len(study.trials) >= spec.trials else "timeout",
        seconds=seconds,
        best_trial=best.number,
        best_val_loss=float(best.value),
        best_params=best_params,
        trials=trials,
    )
    return SearchOutcome(config=configured(base, best_params), record=record)


def sample_params(params: dict[str, Any]) -> dict[str, Any]:
    """A trial's Optuna parameters as TrainingConfig fields (units_1.. become layers)."""
    n_layers = int(params["layers"])
    return {
        "model_type": params["model_type"],
        "lookback": int(params["lookback"]),
        "layers": [int(params[f"units_{i}"]) for i in range(1, n_layers + 1)],
        "dropout": float(params["dropout"]),
        "learning_rate": float(params["learning_rate"]),
        "batch_size": int(params["batch_size"]),
    }


def _trial_record(trial: optuna.trial.FrozenTrial) -> SearchTrial:
    """What the record keeps of one trial."""
    state = {
        optuna.trial.TrialState.COMPLETE: "complete",
        optuna.trial.TrialState.PRUNED: "pruned",
        optuna.trial.TrialState.FAIL: "fail",
    }.get(trial.state, trial.state.name.lower())
    stopped = trial.user_attrs.get("stopped")
    if state == "pruned" and stopped == "timeout":
        state = "pruned at the deadline"
    complete = trial.state == optuna.trial.TrialState.COMPLETE
    val_loss = trial.value if complete else trial.user_attrs.get("val_loss")
    duration = trial.duration.total_seconds() if trial.duration is not None else 0.0
    return SearchTrial(
        number=trial.number,
        params=sample_params(trial.params) if "layers" in trial.params else dict(trial.params),
        state=state,
        val_loss=None if val_loss is None else float(val_loss),
        epochs_run=int(trial.user_attrs.get("epochs_run", 0)),
        seconds=duration,
    )
