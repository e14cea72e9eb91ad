"""Baselines as forecasters, the blend with drift fit on validation only, interval scores."""

from __future__ import annotations

import numpy as np
import pytest

from models.baselines import fit_baseline
from models.config import BlendMode, ModelType, TrainingConfig
from models.cost import epoch_windows, parameter_count
from models.evidence import Evidence
from models.features import split_origins
from models.forecasters import (
    BlendForecaster,
    DriftForecaster,
    NaiveForecaster,
    NetworkForecaster,
    blend_prices,
    choose_blend,
    fit_weights,
)
from models.intervals import winkler
from models.windows import split_bounds

TINY = TrainingConfig(
    lookback=10, horizon=3, layers=(4,), epochs=2, batch_size=64, seed=3, ensemble=1
)


def test_the_blend_is_drift_at_weight_0_and_the_network_at_weight_1() -> None:
    network = np.array([[110.0, 120.0], [90.0, 80.0]])
    drift = np.array([[100.0, 101.0], [100.0, 101.0]])
    np.testing.assert_allclose(blend_prices(network, drift, np.array([0.0, 0.0])), drift)
    np.testing.assert_allclose(blend_prices(network, drift, np.array([1.0, 1.0])), network)
    half = blend_prices(network, drift, np.array([0.5, 0.5]))
    np.testing.assert_allclose(half, np.sqrt(network * drift))  # halfway in log space


def test_weights_are_fit_per_step_by_the_mae_of_the_blend() -> None:
    rng = np.random.default_rng(0)
    drift = np.full((400, 2), 100.0)
    truth = 100.0 * np.exp(rng.normal(0.0, 0.02, size=(400, 2)))
    # Step 1's network knows the truth; step 2's is noise around drift.
    network = np.stack([truth[:, 0], 100.0 * np.exp(rng.normal(0.0, 0.02, 400))], axis=1)
    weights = fit_weights(network, drift, truth)
    assert weights[0] == 1.0
    assert weights[1] < 0.3


def test_auto_serves_the_blend_only_when_it_wins_out_of_fold_and_is_not_drift_itself() -> None:
    rng = np.random.default_rng(1)
    drift = np.full((300, 2), 100.0)
    truth = 100.0 * np.exp(rng.normal(0.0, 0.02, size=(300, 2)))
    noisy = 100.0 * np.exp(rng.normal(0.0, 0.02, size=(300, 2)))
    # Signal plus as much noise again: the best weight is about a half.
    half_right = truth * noisy / 100.0
    chosen = choose_blend(half_right, drift, truth, BlendMode.AUTO)
    assert all(0.3 < w < 0.7 for w in chosen.fit.weights)
    assert chosen.fit.served and "the blend is served" in chosen.fit.reason
    # Out of fold: the served validation forecasts are not those of the final weights.
    final = blend_prices(half_right, drift, np.array(chosen.fit.weights))
    assert not np.allclose(chosen.served_validation, final)
    # A network that points away from the truth: every weight is 0, and the version serves
    # the network as it is rather than drift under its name.
    wrong = 100.0 * 100.0 / truth
    pure = choose_blend(wrong, drift, truth, BlendMode.AUTO)
    assert pure.fit.weights == [0.0, 0.0] and not pure.fit.served
    assert "the blend would be drift itself" in pure.fit.reason
    assert choose_blend(wrong, drift, truth, BlendMode.ALWAYS).fit.served
    assert not choose_blend(half_right, drift, truth, BlendMode.NEVER).fit.served


@pytest.mark.training
def test_the_blend_is_fit_on_validation_alone_a_signal_planted_in_the_test_tail_changes_nothing(
    recent_closes: np.ndarray,
) -> None:
    from models.train import train

    n = len(recent_closes)
    _, val_end = split_bounds(n, TINY.train_frac, TINY.val_frac)
    planted = recent_closes.copy()
    # A trend only after the validation split: drift-like forecasts would love it.
    planted[val_end:] *= np.exp(0.01 * np.arange(1, n - val_end + 1))
    before, after = train(recent_closes, TINY), train(planted, TINY)
    assert before.metrics.blend is not None and after.metrics.blend is not None
    assert after.metrics.blend.weights == before.metrics.blend.weights
    assert after.metrics.blend.served == before.metrics.blend.served
    assert after.metrics.validation == before.metrics.validation
    assert after.calibration == before.calibration
    # The tail did change, and the test figures with it: the test can fail.
    assert after.metrics.test.mae_ratio != before.metrics.test.mae_ratio


@pytest.mark.training
def test_a_network_version_reports_its_network_and_its_blend_on_the_same_windows(
    recent_closes: np.ndarray,
) -> None:
    from models.predictor import OnnxPredictor
    from models.train import train

    result = train(recent_closes, TINY)
    blend = result.metrics.blend
    record = result.metrics.forecaster
    assert blend is not None and record is not None
    network = NetworkForecaster(TINY, result.scalers, OnnxPredictor(result.onnx_bytes).predict)
    origins = result.backtest.origins
    np.testing.assert_allclose(
        result.backtest.extra["network"], network.forecast(recent_closes, origins), rtol=1e-6
    )
    assert record.mu is not None
    blended = BlendForecaster(network, record.mu, tuple(blend.weights))
    np.testing.assert_allclose(
        result.backtest.extra["blend"], blended.forecast(recent_closes, origins), rtol=1e-6
    )
    served = result.backtest.extra["blend" if blend.served else "network"]
    np.testing.assert_array_equal(result.backtest.model, served)
    assert record.kind.value == ("blend" if blend.served else "network")


@pytest.mark.parametrize("kind", [ModelType.NAIVE, ModelType.DRIFT])
def test_a_baseline_is_judged_on_the_windows_a_network_with_its_config_gets(
    kind: ModelType, recent_closes: np.ndarray
) -> None:
    config = TINY.model_copy(update={"model_type": kind})
    result = fit_baseline(recent_closes, config)
    assert result.keras_bytes is None and result.onnx_bytes is None and result.scalers is None
    _, val, test = split_origins(len(recent_closes), TINY)
    np.testing.assert_array_equal(result.backtest.origins, test)
    train_end, _ = split_bounds(len(recent_closes), TINY.train_frac, TINY.val_frac)
    mu = float(np.mean(np.diff(np.log(recent_closes[:train_end]))))
    expected = (NaiveForecaster(3) if kind is ModelType.NAIVE else DriftForecaster(3, mu)).forecast(
        recent_closes, test
    )
    np.testing.assert_allclose(result.backtest.model, expected, rtol=1e-12)
    ratios = result.metrics.test.mae_ratio if kind is ModelType.NAIVE else None
    if ratios is not None:
        assert ratios == [1.0, 1.0, 1.0]
    assert result.calibration.n_windows == len(val)
    assert set(result.metrics.test.coverage or {}) >= {"80", "95"}
    assert Evidence.read(result.metrics).is_baseline
    assert parameter_count(config) == 0 and epoch_windows(len(recent_closes), config) == 0


def test_the_interval_score_is_the_width_plus_the_miss_times_2_over_alpha() -> None:
    actual = np.array([[100.0], [112.0], [85.0]])
    lower, upper = np.full((3, 1), 90.0), np.full((3, 1), 110.0)
    scores = winkler(actual, lower, upper, level=80)  # alpha 0.2: a miss costs 10 times
    np.testing.assert_allclose(scores[:, 0], [20.0, 20.0 + 10 * 2.0, 20.0 + 10 * 5.0])


def test_a_baseline_request_refuses_network_only_options() -> None:
    with pytest.raises(ValueError, match="baseline reads the closes alone"):
        TrainingConfig(model_type="drift", features=("volume",))  # type: ignore[arg-type]
