"""What a fit hands to the registry, for a network or a baseline alike (no TensorFlow)."""

from __future__ import annotations

from dataclasses import dataclass, field

from models.backtest import Backtest
from models.config import TrainingConfig
from models.features import FeatureScalers
from models.intervals import Calibration
from models.metrics import VersionMetrics


@dataclass
class FitResult:
    """Everything a model version stores: artefacts, scalers, metrics and provenance.

    A baseline has no weights: no Keras file, no ONNX graph and no scalers; its forecast is
    the formula its metrics' `forecaster` record names.
    """

    keras_bytes: bytes | None
    onnx_bytes: bytes | None
    scalers: FeatureScalers | None
    metrics: VersionMetrics
    # Conformal half-widths per level and step, fit on the validation windows.
    calibration: Calibration
    # Every walk-forward window over the test tail (model, baselines, actuals).
    backtest: Backtest
    # The configuration trained: the request's, or the one a search chose.
    config: TrainingConfig
    # One entry per epoch of every member: member (1-based), epoch, loss, val_loss.
    history: list[dict[str, float]] = field(default_factory=list)
    library_versions: dict[str, str] = field(default_factory=dict)


@dataclass
class TrainResult(FitResult):
    """A trained network's result: it always has its weights, graph and scalers."""

    keras_bytes: bytes
    onnx_bytes: bytes
    scalers: FeatureScalers
