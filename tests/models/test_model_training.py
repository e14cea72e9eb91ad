"""End-to-end training of tiny networks on real S&P 500 closes (imports TensorFlow)."""

import numpy as np
import pytest

from models.architectures import build_model
from models.config import ModelType, TrainingConfig
from models.export import ParityError
from models.features import FeatureScalers, encode_inputs, min_training_bars, split_origins
from models.predictor import OnnxPredictor
from models.train import (
    InsufficientData,
    TrainingCancelled,
    TrainingHooks,
    TrainResult,
    load_keras,
    train,
)

TINY = TrainingConfig(lookback=10, horizon=3, layers=(4,), epochs=2, batch_size=32, seed=7)


@pytest.fixture(scope="module")
def epoch_reports() -> list[tuple[int, int, dict[str, float]]]:
    """Collect the on_epoch_end reports of the shared tiny training."""
    return []


@pytest.fixture(scope="module")
def lstm_result(
    recent_closes: np.ndarray, epoch_reports: list[tuple[int, int, dict[str, float]]]
) -> TrainResult:
    """Train the tiny LSTM once for every test in this module that only reads the result."""
    hooks = TrainingHooks(on_epoch_end=lambda e, n, logs: epoch_reports.append((e, n, logs)))
    return train(recent_closes, TINY, hooks)


def test_build_model_stacks_the_configured_layers() -> None:
    config = TINY.model_copy(update={"model_type": "gru", "layers": (6, 5), "dropout": 0.1})
    model = build_model(config)
    assert model.input_shape == (None, 10, 1)
    assert model.output_shape == (None, 3)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["InputLayer", "GRU", "Dropout", "GRU", "Dense"]
    assert model.layers[0].name == "window"


def test_bilstm_wraps_lstm_layers_in_bidirectional() -> None:
    model = build_model(TINY.model_copy(update={"model_type": "bilstm", "layers": (4, 3)}))
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["InputLayer", "Bidirectional", "Dropout", "Bidirectional", "Dense"]


def test_training_returns_artefacts_metrics_and_history(lstm_result: TrainResult) -> None:
    result = lstm_result
    assert result.keras_bytes[:2] == b"PK"  # a .keras file is a zip archive
    assert len(result.onnx_bytes) > 0
    assert isinstance(result.scalers, FeatureScalers)
    metrics = result.metrics
    # 800 closes: test origins 680..796, validation origins 560..676.
    assert metrics["test"]["n_windows"] == 117
    assert metrics["validation"]["n_windows"] == 117
    assert len(metrics["test"]["model"]["mae"]) == 3
    assert len(metrics["test"]["naive"]["mape"]) == 3
    assert len(metrics["test"]["mae_ratio"]) == 3
    assert metrics["test"]["mae_ratio_overall"] > 0.0
    assert metrics["epochs_run"] == 2
    assert metrics["best_epoch"] in (1, 2)
    assert metrics["train_seconds"] > 0.0
    assert [entry["epoch"] for entry in result.history] == [1, 2]
    assert {"loss", "val_loss"} <= set(result.history[0])
    assert set(result.library_versions) == {
        "tensorflow",
        "keras",
        "tf2onnx",
        "onnx",
        "onnxruntime",
        "numpy",
    }


def test_best_epoch_is_the_lowest_validation_loss(lstm_result: TrainResult) -> None:
    val_losses = [entry["val_loss"] for entry in lstm_result.history]
    assert lstm_result.metrics["best_epoch"] == int(np.argmin(val_losses)) + 1


def test_on_epoch_end_reports_every_epoch_with_losses(
    lstm_result: TrainResult, epoch_reports: list[tuple[int, int, dict[str, float]]]
) -> None:
    assert [(epoch, total) for epoch, total, _ in epoch_reports] == [(1, 2), (2, 2)]
    assert epoch_reports[0][2]["loss"] == lstm_result.history[0]["loss"]
    assert epoch_reports[1][2]["val_loss"] == lstm_result.history[1]["val_loss"]


def test_stored_keras_and_onnx_artefacts_forecast_alike(
    lstm_result: TrainResult, recent_closes: np.ndarray
) -> None:
    _, _, test_origins = split_origins(len(recent_closes), TINY)
    x = encode_inputs(recent_closes, test_origins, TINY, lstm_result.scalers)
    keras_pred = load_keras(lstm_result.keras_bytes).predict(x, verbose=0)
    onnx_pred = OnnxPredictor(lstm_result.onnx_bytes).predict(x)
    assert onnx_pred.shape == (117, 3)
    assert np.max(np.abs(keras_pred - onnx_pred)) <= 1e-4


@pytest.mark.parametrize("model_type", ["lstm", "rnn", "gru", "bilstm"])
def test_onnx_export_matches_keras_for_every_architecture(
    model_type: ModelType, recent_closes: np.ndarray, lstm_result: TrainResult
) -> None:
    if model_type == "lstm":
        result = lstm_result
    else:
        config = TINY.model_copy(update={"model_type": model_type, "epochs": 1})
        result = train(recent_closes, config)
    assert 0.0 <= result.metrics["parity_max_abs_diff"] <= 1e-4


def test_price_target_trains_and_scores_in_price_space(recent_closes: np.ndarray) -> None:
    result = train(recent_closes, TINY.model_copy(update={"target": "price", "epochs": 1}))
    assert result.scalers.output.kind == "minmax"
    # Errors are in index points: a tiny net is off by more than a cent, far less than the level.
    overall = result.metrics["test"]["model"]["overall"]
    assert 0.0 < overall["mae"] < float(recent_closes.max())
    assert result.metrics["parity_max_abs_diff"] <= 1e-4


def test_same_seed_gives_identical_weights(
    recent_closes: np.ndarray, lstm_result: TrainResult
) -> None:
    again = train(recent_closes, TINY)
    first = load_keras(lstm_result.keras_bytes).get_weights()
    second = load_keras(again.keras_bytes).get_weights()
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert again.metrics["test"]["model"] == lstm_result.metrics["test"]["model"]


def test_should_stop_cancels_training_after_the_current_epoch(recent_closes: np.ndarray) -> None:
    seen: list[int] = []
    hooks = TrainingHooks(
        on_epoch_end=lambda epoch, total, logs: seen.append(epoch),
        should_stop=lambda: len(seen) >= 1,
    )
    with pytest.raises(TrainingCancelled, match="after epoch 1 of 5"):
        train(recent_closes, TINY.model_copy(update={"epochs": 5}), hooks)
    assert seen == [1]


def test_too_short_series_raises_insufficient_data_naming_the_need(
    recent_closes: np.ndarray,
) -> None:
    need = min_training_bars(TINY)
    assert need == 24  # train [0, 16) holds 3 windows; val [16, 20) and test [20, 24) one each
    expected = f"at least {need} bars for lookback=10, horizon=3.*got {need - 1}"
    with pytest.raises(InsufficientData, match=expected):
        train(recent_closes[: need - 1], TINY)


def test_insufficient_data_is_a_value_error() -> None:
    assert issubclass(InsufficientData, ValueError)


def test_invalid_config_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="horizon"):
        TrainingConfig.from_dict({**TINY.to_dict(), "horizon": 0})


def test_should_stop_before_training_cancels_without_an_epoch(recent_closes: np.ndarray) -> None:
    seen: list[int] = []
    hooks = TrainingHooks(on_epoch_end=lambda e, n, logs: seen.append(e), should_stop=lambda: True)
    with pytest.raises(TrainingCancelled, match="before the first epoch"):
        train(recent_closes, TINY, hooks)
    assert seen == []


def test_parity_beyond_tolerance_raises_parity_error_with_the_figure(
    recent_closes: np.ndarray,
) -> None:
    # No real difference is negative, so this tolerance always fails the check.
    with pytest.raises(ParityError, match=r"differ from Keras by \d.*tolerance -1"):
        train(recent_closes, TINY.model_copy(update={"epochs": 1}), parity_tolerance=-1.0)
