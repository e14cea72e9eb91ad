"""Encoding closes into inputs/targets: history convention, round trips and no scaler leakage."""

import json

import numpy as np
import pytest

from models.config import IntervalMethod, Target, TrainingConfig
from models.features import (
    FeatureScalers,
    Scaler,
    decode_outputs,
    encode_inputs,
    encode_targets,
    fit_scalers,
    min_history,
    min_training_bars,
    split_origins,
    valid_origins,
)
from models.windows import split_bounds

TARGETS = list(Target)


def small_config(target: Target = Target.LOG_RETURN) -> TrainingConfig:
    """Return the tiny lookback/horizon used across these tests."""
    return TrainingConfig(lookback=10, horizon=3, target=target)


def test_min_history_is_lookback_plus_one_close() -> None:
    assert min_history(small_config()) == 11
    assert min_history(small_config(Target.PRICE)) == 11


def test_valid_origins_need_full_history_and_full_horizon() -> None:
    origins = valid_origins(30, small_config(), 0, 30)
    # First origin has closes[0..10] behind it; last has closes[27..29] ahead of it.
    assert origins[0] == 10
    assert origins[-1] == 26
    assert len(origins) == 17
    np.testing.assert_array_equal(valid_origins(30, small_config(), 20, 24), [20, 21, 22, 23])
    assert valid_origins(12, small_config(), 0, 12).size == 0


def test_log_return_inputs_are_the_lookback_daily_log_returns_ending_at_the_origin(
    recent_closes: np.ndarray,
) -> None:
    config = small_config()
    scalers = fit_scalers(recent_closes, config, 500)
    x = encode_inputs(recent_closes, np.array([100, 250]), config, scalers)
    assert x.shape == (2, 10, 1)
    assert x.dtype == np.float32
    expected = np.diff(np.log(recent_closes[240:251]))
    np.testing.assert_allclose(scalers.input.inverse_transform(x[1, :, 0]), expected, atol=1e-7)


def test_price_inputs_are_the_lookback_closes_ending_at_the_origin(
    recent_closes: np.ndarray,
) -> None:
    config = small_config(Target.PRICE)
    scalers = fit_scalers(recent_closes, config, 500)
    x = encode_inputs(recent_closes, np.array([250]), config, scalers)
    np.testing.assert_allclose(
        scalers.input.inverse_transform(x[0, :, 0]), recent_closes[241:251], rtol=1e-6
    )


@pytest.mark.parametrize("target", TARGETS)
def test_inputs_do_not_depend_on_closes_after_the_origin(
    recent_closes: np.ndarray, target: Target
) -> None:
    config = small_config(target)
    scalers = fit_scalers(recent_closes, config, 500)
    changed = recent_closes.copy()
    changed[301:] *= 2.0
    before = encode_inputs(recent_closes, np.array([300]), config, scalers)
    after = encode_inputs(changed, np.array([300]), config, scalers)
    np.testing.assert_array_equal(before, after)


def test_log_return_targets_are_cumulative_log_returns_from_the_origin_close(
    recent_closes: np.ndarray,
) -> None:
    config = small_config()
    scalers = fit_scalers(recent_closes, config, 500)
    y = encode_targets(recent_closes, np.array([300]), config, scalers)
    assert y.shape == (1, 3)
    expected = np.log(recent_closes[301:304] / recent_closes[300])
    np.testing.assert_allclose(scalers.output.inverse_transform(y[0]), expected, atol=1e-7)


@pytest.mark.parametrize("target", TARGETS)
def test_decoding_encoded_targets_gives_back_the_future_closes(
    gspc_closes: np.ndarray, target: Target
) -> None:
    config = TrainingConfig(lookback=60, horizon=5, target=target)
    train_end, _ = split_bounds(len(gspc_closes), config.train_frac, config.val_frac)
    scalers = fit_scalers(gspc_closes, config, train_end)
    origins = valid_origins(len(gspc_closes), config, 0, len(gspc_closes))
    y = encode_targets(gspc_closes, origins, config, scalers)
    prices = decode_outputs(y, gspc_closes[origins], config, scalers)
    future = gspc_closes[origins[:, None] + np.arange(1, 6)[None, :]]
    assert prices.shape == (len(origins), 5)
    np.testing.assert_allclose(prices, future, rtol=1e-6)


@pytest.mark.parametrize("target", TARGETS)
def test_scalers_ignore_every_close_after_the_training_split(
    gspc_closes: np.ndarray, target: Target
) -> None:
    config = TrainingConfig(lookback=60, horizon=5, target=target)
    train_end = 3500
    changed = gspc_closes.copy()
    changed[train_end:] = changed[train_end:] * 3.0 + 500.0
    original = fit_scalers(gspc_closes, config, train_end)
    assert fit_scalers(changed, config, train_end) == original
    # The check has teeth: moving the boundary into the changed closes does change them.
    assert fit_scalers(changed, config, train_end + 100) != original


def test_log_return_input_scaler_standardises_training_returns(gspc_closes: np.ndarray) -> None:
    config = TrainingConfig()
    scalers = fit_scalers(gspc_closes, config, 3000)
    scaled = scalers.input.transform(np.diff(np.log(gspc_closes[:3000])))
    assert scaled.mean() == pytest.approx(0.0, abs=1e-12)
    assert scaled.std() == pytest.approx(1.0)
    assert scalers.input.kind == "standard"
    assert scalers.output.kind == "standard"


def test_price_scalers_are_min_max_over_training_closes(gspc_closes: np.ndarray) -> None:
    scalers = fit_scalers(gspc_closes, TrainingConfig(target="price"), 3000)
    assert scalers.input.kind == "minmax"
    assert scalers.input.params == {
        "min": float(gspc_closes[:3000].min()),
        "max": float(gspc_closes[:3000].max()),
    }


def test_scalers_survive_a_json_round_trip(gspc_closes: np.ndarray) -> None:
    scalers = fit_scalers(gspc_closes, TrainingConfig(), 3000)
    restored = FeatureScalers.from_dict(json.loads(json.dumps(scalers.to_dict())))
    assert restored == scalers
    x = np.array([-0.02, 0.0, 0.01])
    np.testing.assert_array_equal(restored.output.transform(x), scalers.output.transform(x))


def test_constant_series_scaler_stays_invertible() -> None:
    scaler = Scaler.fit("minmax", np.full(5, 7.0))
    values = np.array([7.0, 8.0])
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(values)), values)


def test_origins_without_enough_history_are_rejected(recent_closes: np.ndarray) -> None:
    config = small_config()
    scalers = fit_scalers(recent_closes, config, 500)
    with pytest.raises(ValueError, match="origins need 10 closes before"):
        encode_inputs(recent_closes, np.array([9]), config, scalers)
    with pytest.raises(ValueError, match="3 after"):
        encode_targets(recent_closes, np.array([797]), config, scalers)


def test_train_and_validation_targets_stay_inside_their_split() -> None:
    config = small_config()
    train, val, test = split_origins(800, config)
    assert (train[0], train[-1]) == (10, 556)  # targets end at close 559 < train_end 560
    assert (val[0], val[-1]) == (560, 676)  # targets end at close 679 < val_end 680
    assert (test[0], test[-1]) == (680, 796)  # targets end at the last close, 799


def test_min_training_bars_is_the_shortest_series_with_every_split_non_empty() -> None:
    config = small_config().model_copy(update={"interval_method": IntervalMethod.PLAIN})
    need = min_training_bars(config)
    assert need == 24
    assert all(origins.size > 0 for origins in split_origins(need, config))
    assert any(origins.size == 0 for origins in split_origins(need - 1, config))


def test_volatility_scaled_intervals_need_a_volatility_window_before_validation() -> None:
    config = small_config()
    assert config.interval_method == IntervalMethod.VOLATILITY
    need = min_training_bars(config)
    # The first validation origin is train_end = floor(0.70 * n): 60 returns need n = 86.
    assert need == 86
    assert split_origins(need, config)[1][0] == config.volatility_window
    assert split_origins(need - 1, config)[1][0] == config.volatility_window - 1
