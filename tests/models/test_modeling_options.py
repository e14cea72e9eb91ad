"""Training with bar features, the recursive strategy and a warm start (tiny real networks)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.backtest import forecast_prices
from models.config import Feature, Strategy, TrainingConfig
from models.features import Bars, MissingBars, split_origins
from models.predictor import OnnxPredictor
from models.train import TrainResult, load_keras, train

GSPC_CSV = Path(__file__).resolve().parents[2] / "app" / "data" / "GSPC.csv"
TINY = TrainingConfig(
    lookback=10, horizon=3, layers=(4,), epochs=2, batch_size=32, seed=7, ensemble=1
)

# Each test trains real (tiny) networks.
pytestmark = pytest.mark.training


@pytest.fixture(scope="module")
def bars() -> Bars:
    """The last 500 S&P 500 bars with open, high, low, close and volume."""
    raw = pd.read_csv(GSPC_CSV, parse_dates=["Date"]).sort_values("Date").tail(500)
    frame = raw.rename(columns=str.lower).set_index("date")
    return Bars.from_frame(frame[["open", "high", "low", "close", "volume"]].astype(float))


def test_a_network_with_features_reads_every_channel_and_exports_them(bars: Bars) -> None:
    config = TINY.model_copy(update={"features": (Feature.RANGE, Feature.VOLUME)})
    result = train(bars, config)
    predictor = OnnxPredictor(result.onnx_bytes)
    assert predictor.inputs == 3
    assert set(result.scalers.features) == {"range", "volume"}
    # The backtest is what the ONNX graph gives on windows built from the bars.
    origins = result.backtest.origins
    served = forecast_prices(bars, origins, config, result.scalers, predictor.predict)
    np.testing.assert_allclose(served, result.backtest.extra["network"], rtol=1e-6)


def test_training_on_closes_alone_with_a_volume_feature_is_refused(bars: Bars) -> None:
    config = TINY.model_copy(update={"features": (Feature.VOLUME,)})
    with pytest.raises(MissingBars, match="no volume column"):
        train(bars.close, config)


RECURSIVE = TINY.model_copy(update={"strategy": Strategy.RECURSIVE})


@pytest.fixture(scope="module")
def recursive_result(bars: Bars) -> TrainResult:
    return train(bars.close, RECURSIVE)


def test_a_recursive_forecast_of_horizon_1_equals_the_direct_one_of_the_same_network(
    bars: Bars, recursive_result: TrainResult
) -> None:
    network = OnnxPredictor(recursive_result.onnx_bytes)
    one_step = {"horizon": 1}
    recursive = RECURSIVE.model_copy(update=one_step)
    direct = RECURSIVE.model_copy(update={**one_step, "strategy": Strategy.DIRECT})
    origins = recursive_result.backtest.origins
    scalers = recursive_result.scalers
    np.testing.assert_array_equal(
        forecast_prices(bars, origins, recursive, scalers, network.predict),
        forecast_prices(bars, origins, direct, scalers, network.predict),
    )
    # And the first step of the horizon-3 backtest is that same one-step forecast.
    np.testing.assert_allclose(
        recursive_result.backtest.model[:, 0],
        forecast_prices(bars, origins, direct, scalers, network.predict)[:, 0],
        rtol=1e-12,
    )


def test_a_recursive_network_has_one_output_and_is_backtested_over_the_horizon(
    bars: Bars, recursive_result: TrainResult
) -> None:
    config, result = RECURSIVE, recursive_result
    assert OnnxPredictor(result.onnx_bytes).horizon == 1
    _, _, test_origins = split_origins(len(bars), config)
    assert result.backtest.model.shape == (test_origins.size, config.horizon)
    assert result.metrics.test.mae_ratio is not None
    assert len(result.metrics.test.mae_ratio) == config.horizon
    assert np.all(np.isfinite(result.backtest.model))


def test_a_warm_start_begins_from_the_parents_weights(bars: Bars) -> None:
    config = TINY.model_copy(update={"ensemble": 2, "epochs": 1})
    # Another seed and another stretch of the series: weights far from this seed's start.
    parent = train(bars.close[:300], config.model_copy(update={"seed": 1000}))
    child = train(bars.close, config, warm_start=parent.keras_bytes)
    scratch = train(bars.close, config)
    parent_weights = load_keras(parent.keras_bytes).get_weights()
    child_weights = load_keras(child.keras_bytes).get_weights()
    scratch_weights = load_keras(scratch.keras_bytes).get_weights()
    # One epoch moves the weights a little from where they started: each member stays near
    # the parent's member of the same place, not near a fresh start with its seed.
    from_parent = [np.abs(c - p).mean() for c, p in zip(child_weights, parent_weights, strict=True)]
    from_scratch = [
        np.abs(c - s).mean() for c, s in zip(child_weights, scratch_weights, strict=True)
    ]
    assert sum(from_parent) < 0.5 * sum(from_scratch)
