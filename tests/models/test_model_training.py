"""End-to-end training of tiny networks on real S&P 500 closes (imports TensorFlow)."""

import json

import numpy as np
import pytest

from models.architectures import build_model
from models.config import ModelType, TrainingConfig
from models.export import ParityError
from models.features import FeatureScalers, encode_inputs, min_training_bars, split_origins
from models.metrics import VersionMetrics
from models.predictor import OnnxPredictor
from models.train import (
    InsufficientData,
    TrainingCancelled,
    TrainingHooks,
    TrainingProgress,
    TrainResult,
    load_keras,
    train,
)

TINY = TrainingConfig(
    lookback=10, horizon=3, layers=(4,), epochs=2, batch_size=32, seed=7, ensemble=1
)

# Each test trains real (tiny) networks.
pytestmark = pytest.mark.training


@pytest.fixture(scope="module")
def epoch_reports() -> list[TrainingProgress]:
    """Collect the on_epoch_end reports of the shared tiny training."""
    return []


@pytest.fixture(scope="module")
def lstm_result(recent_closes: np.ndarray, epoch_reports: list[TrainingProgress]) -> TrainResult:
    """Train the tiny LSTM once for every test in this module that only reads the result."""
    return train(recent_closes, TINY, TrainingHooks(on_epoch_end=epoch_reports.append))


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
    assert metrics.test.n_windows == 117
    assert metrics.validation is not None and metrics.validation.n_windows == 117
    assert len(metrics.test.model.mae) == 3
    assert len(metrics.test.naive.mape) == 3
    assert metrics.test.mae_ratio is not None and len(metrics.test.mae_ratio) == 3
    assert metrics.test.mae_ratio_overall is not None and metrics.test.mae_ratio_overall > 0.0
    assert metrics.epochs_run == 2
    assert metrics.best_epoch in (1, 2)
    assert metrics.train_seconds is not None and metrics.train_seconds > 0.0
    assert metrics.timings is not None
    assert metrics.timings.fit_seconds == metrics.train_seconds
    assert min(metrics.timings.export_seconds, metrics.timings.backtest_seconds) > 0.0
    assert [entry["epoch"] for entry in result.history] == [1, 2]
    assert {"member", "loss", "val_loss"} <= set(result.history[0])
    assert set(result.library_versions) == {
        "tensorflow",
        "keras",
        "tf2onnx",
        "onnx",
        "onnxruntime",
        "numpy",
    }


def test_validation_is_scored_like_the_backtest_against_both_baselines(
    lstm_result: TrainResult,
) -> None:
    validation = lstm_result.metrics.validation
    assert validation is not None and validation.drift is not None
    assert validation.mu == lstm_result.metrics.test.mu
    assert validation.mae_ratio_vs_drift_overall == pytest.approx(
        validation.model.overall.mae / validation.drift.overall.mae
    )
    assert validation.first_origin == 560 and validation.last_origin == 676


def test_stored_metrics_read_back_as_they_were(lstm_result: TrainResult) -> None:
    stored = json.loads(json.dumps(lstm_result.metrics.model_dump(mode="json"), allow_nan=False))
    assert VersionMetrics.model_validate(stored) == lstm_result.metrics
    # Keys the app reads by name today keep their names.
    assert (
        stored["test"]["skill_vs_naive_overall"] == lstm_result.metrics.test.skill_vs_naive_overall
    )
    assert stored["test"]["coverage"]["80"]["overall"] > 0.0


def test_a_lone_network_is_its_own_only_member(lstm_result: TrainResult) -> None:
    (member,) = lstm_result.metrics.members
    assert member.seed == 7 and member.epochs_run == 2
    # The member is the network as it is, whether the version serves it or its blend.
    blend = lstm_result.metrics.blend
    assert blend is not None and blend.test_network is not None
    assert member.test.mae_ratio == blend.test_network.mae_ratio
    if not blend.served:
        assert member.test.mae_ratio == lstm_result.metrics.test.mae_ratio
        assert member.validation.mae_ratio_vs_drift_overall == (
            lstm_result.metrics.validation.mae_ratio_vs_drift_overall  # type: ignore[union-attr]
        )


def test_best_epoch_is_the_lowest_validation_loss(lstm_result: TrainResult) -> None:
    val_losses = [entry["val_loss"] for entry in lstm_result.history]
    assert lstm_result.metrics.best_epoch == int(np.argmin(val_losses)) + 1


def test_on_epoch_end_reports_every_epoch_with_losses(
    lstm_result: TrainResult, epoch_reports: list[TrainingProgress]
) -> None:
    assert [(p.member, p.members, p.seed, p.epoch, p.epochs) for p in epoch_reports] == [
        (1, 1, 7, 1, 2),
        (1, 1, 7, 2, 2),
    ]
    assert epoch_reports[0].logs["loss"] == lstm_result.history[0]["loss"]
    assert epoch_reports[1].logs["val_loss"] == lstm_result.history[1]["val_loss"]


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
    assert result.metrics.parity_max_abs_diff is not None
    assert 0.0 <= result.metrics.parity_max_abs_diff <= 1e-4


def test_price_target_trains_and_scores_in_price_space(recent_closes: np.ndarray) -> None:
    result = train(recent_closes, TINY.model_copy(update={"target": "price", "epochs": 1}))
    assert result.scalers.output.kind == "minmax"
    # Errors are in index points: a tiny net is off by more than a cent, far less than the level.
    assert 0.0 < result.metrics.test.model.overall.mae < float(recent_closes.max())
    assert result.metrics.parity_max_abs_diff is not None
    assert result.metrics.parity_max_abs_diff <= 1e-4


def test_same_seed_gives_identical_weights(
    recent_closes: np.ndarray, lstm_result: TrainResult
) -> None:
    again = train(recent_closes, TINY)
    first = load_keras(lstm_result.keras_bytes).get_weights()
    second = load_keras(again.keras_bytes).get_weights()
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert again.metrics.test.model == lstm_result.metrics.test.model


def test_should_stop_is_asked_at_every_epoch_end(recent_closes: np.ndarray) -> None:
    seen: list[int] = []
    hooks = TrainingHooks(
        on_epoch_end=lambda at: seen.append(at.epoch),
        should_stop=lambda: len(seen) >= 1,
        stop_check_seconds=3600.0,  # never between batches
    )
    with pytest.raises(TrainingCancelled, match="in epoch 1 of 5"):
        train(recent_closes, TINY.model_copy(update={"epochs": 5}), hooks)
    assert seen == [1]


def test_should_stop_cancels_between_batches_without_waiting_for_the_epoch_end(
    recent_closes: np.ndarray,
) -> None:
    # 547 training windows in batches of 8: 69 batches an epoch. With no wait between checks,
    # should_stop is asked before the member and after every batch; a yes on the fifth ask
    # must end training there, four batches into the first epoch.
    asked: list[int] = []

    def should_stop() -> bool:
        asked.append(1)
        return len(asked) >= 5

    config = TINY.model_copy(update={"epochs": 1000, "patience": 1000, "batch_size": 8})
    with pytest.raises(TrainingCancelled, match="in epoch 1 of 1000"):
        train(recent_closes, config, TrainingHooks(should_stop=should_stop, stop_check_seconds=0))
    assert len(asked) == 5


def test_too_short_series_raises_insufficient_data_naming_the_need(
    recent_closes: np.ndarray,
) -> None:
    need = min_training_bars(TINY)
    # The first validation origin needs 60 daily log returns behind it for the interval scale:
    # floor(0.70 * 86) = 60.
    assert need == 86
    expected = f"at least {need} bars for lookback=10, horizon=3.*volatility_window=60.*got 85"
    with pytest.raises(InsufficientData, match=expected):
        train(recent_closes[: need - 1], TINY)


def test_insufficient_data_is_a_value_error() -> None:
    assert issubclass(InsufficientData, ValueError)


def test_invalid_config_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="horizon"):
        TrainingConfig.from_dict({**TINY.to_dict(), "horizon": 0})


def test_should_stop_before_training_cancels_without_an_epoch(recent_closes: np.ndarray) -> None:
    seen: list[int] = []
    hooks = TrainingHooks(on_epoch_end=lambda at: seen.append(at.epoch), should_stop=lambda: True)
    with pytest.raises(TrainingCancelled, match="before the first epoch"):
        train(recent_closes, TINY, hooks)
    assert seen == []


def test_parity_beyond_tolerance_raises_parity_error_with_the_figure(
    recent_closes: np.ndarray,
) -> None:
    # No real difference is negative, so this tolerance always fails the check.
    with pytest.raises(ParityError, match=r"differ from Keras by \d.*tolerance -1"):
        train(recent_closes, TINY.model_copy(update={"epochs": 1}), parity_tolerance=-1.0)


@pytest.fixture(scope="module")
def ensemble_reports() -> list[TrainingProgress]:
    """Collect the on_epoch_end reports of the tiny ensemble's training."""
    return []


@pytest.fixture(scope="module")
def ensemble_result(
    recent_closes: np.ndarray, ensemble_reports: list[TrainingProgress]
) -> TrainResult:
    """Two members with seeds 7 and 8: the first is the module's lone network again."""
    config = TINY.model_copy(update={"ensemble": 2})
    return train(recent_closes, config, TrainingHooks(on_epoch_end=ensemble_reports.append))


def test_ensemble_members_train_in_turn_and_say_which_one_is_training(
    ensemble_result: TrainResult, ensemble_reports: list[TrainingProgress]
) -> None:
    assert [(p.member, p.members, p.seed, p.epoch, p.epochs) for p in ensemble_reports] == [
        (1, 2, 7, 1, 2),
        (1, 2, 7, 2, 2),
        (2, 2, 8, 1, 2),
        (2, 2, 8, 2, 2),
    ]
    assert [(e["member"], e["epoch"]) for e in ensemble_result.history] == [
        (1, 1),
        (1, 2),
        (2, 1),
        (2, 2),
    ]
    assert ensemble_result.metrics.epochs_run == 4
    assert ensemble_result.metrics.best_epoch is None  # each member has its own
    assert [m.seed for m in ensemble_result.metrics.members] == [7, 8]


def test_an_ensemble_member_is_the_network_its_seed_trains_alone(
    ensemble_result: TrainResult, lstm_result: TrainResult
) -> None:
    ensemble = load_keras(ensemble_result.keras_bytes)
    alone = load_keras(lstm_result.keras_bytes)
    first = ensemble.get_layer("member_1")
    for a, b in zip(first.get_weights(), alone.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    member = ensemble_result.metrics.members[0]
    alone_network = lstm_result.metrics.blend
    assert alone_network is not None and alone_network.test_network is not None
    assert member.test.mae_ratio == pytest.approx(alone_network.test_network.mae_ratio, rel=1e-6)
    assert member.fit_seconds > 0.0 and member.best_epoch in (1, 2)


def test_the_served_graph_is_the_mean_of_the_members_scaled_outputs(
    ensemble_result: TrainResult, recent_closes: np.ndarray
) -> None:
    _, _, test_origins = split_origins(len(recent_closes), TINY)
    x = encode_inputs(recent_closes, test_origins, TINY, ensemble_result.scalers)
    ensemble = load_keras(ensemble_result.keras_bytes)
    members = [ensemble.get_layer(f"member_{k}") for k in (1, 2)]
    mean = np.mean([np.asarray(m(x, training=False)) for m in members], axis=0)
    served = OnnxPredictor(ensemble_result.onnx_bytes).predict(x)
    assert served.shape == (117, 3)
    assert np.max(np.abs(served - mean)) <= 1e-4
    assert ensemble_result.metrics.parity_max_abs_diff is not None
    assert ensemble_result.metrics.parity_max_abs_diff <= 1e-4


def test_an_ensemble_keeps_each_member_s_own_ratios_to_both_baselines(
    ensemble_result: TrainResult,
) -> None:
    test = ensemble_result.metrics.test
    members = ensemble_result.metrics.members
    for member in members:
        assert len(member.test.mae_ratio) == len(member.test.mae_ratio_vs_drift) == 3
        assert member.validation.mae_ratio_overall is not None
    # Averaging the forecasts gives an error no larger than the members' average (MAE is
    # convex), step by step on the same windows.
    for k in range(3):
        ratios = [m.test.mae_ratio[k] for m in members]
        assert test.mae_ratio is not None
        combined = test.mae_ratio[k]
        assert combined is not None
        assert combined <= np.mean([r for r in ratios if r is not None]) + 1e-9
    assert ensemble_result.metrics.timings is not None
    assert ensemble_result.metrics.timings.fit_seconds == pytest.approx(
        sum(m.fit_seconds for m in members)
    )


def test_cancelling_between_members_stops_before_the_next_one(recent_closes: np.ndarray) -> None:
    # Asked before member 1, at its only epoch's end, then before member 2: say yes there.
    asked: list[int] = []

    def should_stop() -> bool:
        asked.append(1)
        return len(asked) == 3

    seen: list[TrainingProgress] = []
    hooks = TrainingHooks(
        on_epoch_end=seen.append, should_stop=should_stop, stop_check_seconds=3600.0
    )
    config = TINY.model_copy(update={"ensemble": 3, "epochs": 1})
    with pytest.raises(TrainingCancelled, match="before member 2 of 3"):
        train(recent_closes, config, hooks)
    assert [(p.member, p.epoch) for p in seen] == [(1, 1)]
