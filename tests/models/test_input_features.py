"""Input features from whole bars and the recursive strategy (numpy only, no TensorFlow)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from models.backtest import forecast_prices
from models.config import Feature, Strategy, Target, TrainingConfig
from models.features import (
    Bars,
    FeatureScalers,
    MissingBars,
    Scaler,
    encode_inputs,
    encode_step,
    fit_scalers,
    min_history,
    split_origins,
)
from models.windows import split_bounds

GSPC_CSV = Path(__file__).resolve().parents[2] / "app" / "data" / "GSPC.csv"
ALL_FEATURES = (
    Feature.OPEN,
    Feature.HIGH,
    Feature.LOW,
    Feature.RANGE,
    Feature.VOLUME,
    Feature.DAY_OF_WEEK,
)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """The last 600 S&P 500 bars as the price store returns them (lower-case columns)."""
    raw = pd.read_csv(GSPC_CSV, parse_dates=["Date"]).sort_values("Date").tail(600)
    raw = raw.rename(columns=str.lower).set_index("date")
    return raw[["open", "high", "low", "close", "volume"]].astype(float)


def test_each_feature_is_its_formula_over_the_window(frame: pd.DataFrame) -> None:
    config = TrainingConfig(lookback=5, horizon=2, features=ALL_FEATURES)
    bars = Bars.from_frame(frame)
    identity = Scaler("standard", {"mean": 0.0, "std": 1.0})
    scalers = FeatureScalers(
        input=identity, output=identity, features={f.value: identity for f in ALL_FEATURES}
    )
    i = 100
    x = encode_inputs(bars, np.array([i]), config, scalers)[0]
    assert x.shape == (5, 7)
    rows = frame.iloc[i - 4 : i + 1]
    previous = frame["close"].to_numpy()[i - 5 : i]
    np.testing.assert_allclose(x[:, 0], np.log(rows["close"].to_numpy() / previous), rtol=1e-5)
    np.testing.assert_allclose(x[:, 1], np.log(rows["open"].to_numpy() / previous), rtol=1e-5)
    np.testing.assert_allclose(x[:, 2], np.log(rows["high"].to_numpy() / previous), rtol=1e-5)
    np.testing.assert_allclose(x[:, 3], np.log(rows["low"].to_numpy() / previous), rtol=1e-5)
    np.testing.assert_allclose(
        x[:, 4], np.log(rows["high"].to_numpy() / rows["low"].to_numpy()), rtol=1e-5
    )
    volume = rows["volume"].to_numpy()
    np.testing.assert_allclose(x[:, 5], (volume - volume.mean()) / volume.std(), rtol=1e-5)
    np.testing.assert_array_equal(x[:, 6], rows.index.dayofweek.to_numpy())


def test_features_are_built_identically_in_training_and_in_serving(frame: pd.DataFrame) -> None:
    # Training encodes every origin of the whole series; serving reads only the newest bars up
    # to the origin from the store. The same origin must give the same window, bit for bit.
    config = TrainingConfig(lookback=20, horizon=3, features=ALL_FEATURES)
    train_end, _ = split_bounds(len(frame), config.train_frac, config.val_frac)
    scalers = fit_scalers(Bars.from_frame(frame), config, train_end)
    _, _, test_origins = split_origins(len(frame), config)
    training = encode_inputs(Bars.from_frame(frame), test_origins, config, scalers)
    need = min_history(config)
    for row, origin in zip(training, test_origins, strict=True):
        stored = frame.iloc[origin + 1 - need : origin + 1]
        served = encode_inputs(Bars.from_frame(stored), np.array([need - 1]), config, scalers)
        np.testing.assert_array_equal(served[0], row)


def test_feature_scalers_are_fit_on_the_training_split_only(frame: pd.DataFrame) -> None:
    config = TrainingConfig(lookback=10, horizon=3, features=(Feature.VOLUME, Feature.RANGE))
    train_end, _ = split_bounds(len(frame), config.train_frac, config.val_frac)
    changed = frame.copy()
    changed.iloc[train_end:, changed.columns.get_loc("volume")] *= 50.0
    changed.iloc[train_end:, changed.columns.get_loc("high")] *= 1.5
    before = fit_scalers(Bars.from_frame(frame), config, train_end).to_dict()
    after = fit_scalers(Bars.from_frame(changed), config, train_end).to_dict()
    assert after == before
    assert set(before["features"]) == {"volume", "range"}


def test_scalers_read_back_with_their_features_and_old_records_have_none(
    frame: pd.DataFrame,
) -> None:
    config = TrainingConfig(lookback=10, horizon=3, features=(Feature.DAY_OF_WEEK,))
    scalers = fit_scalers(Bars.from_frame(frame), config, 400)
    assert FeatureScalers.from_dict(scalers.to_dict()) == scalers
    old = {k: v for k, v in scalers.to_dict().items() if k != "features"}
    assert FeatureScalers.from_dict(old).features == {}


def test_a_missing_volume_column_names_the_feature_and_the_column(frame: pd.DataFrame) -> None:
    config = TrainingConfig(lookback=10, horizon=3, features=(Feature.VOLUME,))
    without = Bars.from_frame(frame.drop(columns=["volume"]))
    with pytest.raises(MissingBars, match="feature volume needs the volume.*no volume column"):
        fit_scalers(without, config, 400)


def test_an_empty_volume_where_a_window_reads_it_names_the_day(frame: pd.DataFrame) -> None:
    config = TrainingConfig(lookback=10, horizon=3, features=(Feature.VOLUME,))
    scalers = fit_scalers(Bars.from_frame(frame), config, 400)
    holed = frame.copy()
    holed.iloc[-3, holed.columns.get_loc("volume")] = np.nan
    day = holed.index[-3].date().isoformat()
    with pytest.raises(MissingBars, match=f"feature volume needs the volume of the bar of {day}"):
        encode_inputs(Bars.from_frame(holed), np.array([599]), config, scalers)
    # A window that ends before the hole does not need that bar.
    assert encode_inputs(Bars.from_frame(holed), np.array([590]), config, scalers).shape == (
        1,
        10,
        2,
    )


class LinearNet:
    """A fixed linear map of the window's close channel to one output: a network stand-in
    whose output is easy to follow by hand (the function forecast_prices calls)."""

    def __init__(self, weights: np.ndarray) -> None:
        self.weights = weights
        self.calls = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.calls += 1
        return (x[:, :, 0] @ self.weights)[:, None].astype(np.float32)


@pytest.mark.parametrize("target", [Target.LOG_RETURN, Target.PRICE])
def test_a_recursive_forecast_of_horizon_1_equals_the_direct_one_of_the_same_network(
    frame: pd.DataFrame, target: Target
) -> None:
    closes = frame["close"].to_numpy()
    direct = TrainingConfig(lookback=8, horizon=1, target=target)
    recursive = TrainingConfig(lookback=8, horizon=1, target=target, strategy=Strategy.RECURSIVE)
    scalers = fit_scalers(closes, direct, 400)
    assert fit_scalers(closes, recursive, 400) == scalers
    net = LinearNet(np.linspace(-0.2, 0.3, 8))
    origins = np.arange(450, 590)
    np.testing.assert_array_equal(
        forecast_prices(closes, origins, recursive, scalers, net),
        forecast_prices(closes, origins, direct, scalers, net),
    )


@pytest.mark.parametrize("target", [Target.LOG_RETURN, Target.PRICE])
def test_a_recursive_forecast_feeds_each_step_back_as_the_newest_close(
    frame: pd.DataFrame, target: Target
) -> None:
    closes = frame["close"].to_numpy()
    config = TrainingConfig(lookback=8, horizon=4, target=target, strategy=Strategy.RECURSIVE)
    one_step = TrainingConfig(lookback=8, horizon=1, target=target)
    scalers = fit_scalers(closes, config, 400)
    net = LinearNet(np.linspace(-0.2, 0.3, 8))
    origin = 500
    forecast = forecast_prices(closes, np.array([origin]), config, scalers, net)[0]
    assert net.calls == 4
    # By hand: append each forecast to the series and forecast one step from there.
    series = closes[: origin + 1].copy()
    for step in range(4):
        nxt = forecast_prices(series, np.array([len(series) - 1]), one_step, scalers, net)[0, 0]
        assert forecast[step] == pytest.approx(nxt, rel=1e-6)
        series = np.append(series, nxt)


def test_encode_step_extends_a_window_as_encode_inputs_would(frame: pd.DataFrame) -> None:
    closes = frame["close"].to_numpy()
    config = TrainingConfig(lookback=8, horizon=2, strategy=Strategy.RECURSIVE)
    scalers = fit_scalers(closes, config, 400)
    x = encode_inputs(closes, np.array([499]), config, scalers)
    step = encode_step(closes[500:501], closes[499:500], config, scalers)
    shifted = np.concatenate([x[:, 1:, :], step], axis=1)
    np.testing.assert_allclose(
        shifted, encode_inputs(closes, np.array([500]), config, scalers), atol=1e-6
    )


def test_recursive_with_bar_features_is_refused_naming_them() -> None:
    with pytest.raises(ValidationError, match=r"recursive.*\['volume'\]"):
        TrainingConfig(strategy=Strategy.RECURSIVE, features=(Feature.VOLUME,))


def test_log_return_is_refused_as_a_feature_of_the_log_return_target() -> None:
    with pytest.raises(ValidationError, match="log_return is already the input"):
        TrainingConfig(features=(Feature.LOG_RETURN,))
    assert TrainingConfig(target=Target.PRICE, features=("log_return",)).n_inputs == 2


def test_repeated_features_are_refused() -> None:
    with pytest.raises(ValidationError, match="must not repeat"):
        TrainingConfig(features=("volume", "volume"))


def test_a_config_stored_before_features_reads_as_closes_only_and_direct() -> None:
    stored = TrainingConfig().to_dict()
    del stored["features"], stored["strategy"]
    config = TrainingConfig.from_stored(stored)
    assert config.features == ()
    assert config.strategy == Strategy.DIRECT
    assert config.n_inputs == 1 and config.output_steps == config.horizon
