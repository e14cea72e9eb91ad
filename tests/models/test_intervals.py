"""Conformal intervals, plain and volatility-scaled: calibration, coverage, stored shapes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from pydantic import ValidationError

from models.config import IntervalMethod, TrainingConfig
from models.evaluate import naive_forecast
from models.features import min_history
from models.intervals import (
    Calibration,
    calibrate,
    conformal_quantiles,
    forecast_history,
    trailing_volatility,
)

Z80 = 1.2815515655446004
PLAIN = IntervalMethod.PLAIN
SCALED = IntervalMethod.VOLATILITY


def random_walk(sigmas: np.ndarray, seed: int) -> np.ndarray:
    """Closes whose daily log returns are N(0, sigma_t): the best forecast is the last close."""
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.concatenate([[0.0], np.cumsum(rng.normal(0.0, sigmas))]))


def naive_coverage(
    calibration: Calibration, closes: np.ndarray, origins: np.ndarray, level: int
) -> float:
    """Share of actuals inside the level's interval around the naive forecast."""
    horizon = len(calibration.half_widths[str(level)])
    forecast = naive_forecast(closes[origins], horizon)
    actual = closes[origins[:, None] + np.arange(1, horizon + 1)[None, :]]
    scale = calibration.scale(closes, origins)
    covered = calibration.coverage(actual, forecast, scale, levels=(level,))
    return covered[str(level)].overall


def test_trailing_volatility_is_the_std_of_the_returns_ending_at_each_origin(
    gspc_closes: np.ndarray,
) -> None:
    origins = np.array([60, 1000, len(gspc_closes) - 1])
    sigma = trailing_volatility(gspc_closes, origins, 60)
    returns = np.diff(np.log(gspc_closes))
    for origin, value in zip(origins, sigma, strict=True):
        # returns[i - 1] is the return into close i.
        assert value == pytest.approx(np.std(returns[origin - 60 : origin], ddof=1))
    changed = gspc_closes.copy()
    changed[1001:] *= 2.0
    assert trailing_volatility(changed, origins[:2], 60) == pytest.approx(sigma[:2], rel=0)
    with pytest.raises(ValueError, match="60 closes before each origin"):
        trailing_volatility(gspc_closes, np.array([59]), 60)


def test_a_flat_window_does_not_divide_by_zero() -> None:
    closes = np.full(100, 50.0)
    assert trailing_volatility(closes, np.array([80]), 60)[0] > 0.0


def test_plain_intervals_cover_their_level_on_a_random_walk() -> None:
    sigma = 0.01
    closes = random_walk(np.full(8000, sigma), seed=0)
    cal_origins, test_origins = np.arange(60, 4000), np.arange(4000, 7990)
    forecast = naive_forecast(closes[cal_origins], 3)
    calibration = calibrate(
        closes, cal_origins, forecast, method=PLAIN, volatility_window=60, levels=(80, 95)
    )
    for k in range(3):
        assert calibration.half_widths["80"][k] == pytest.approx(
            Z80 * sigma * math.sqrt(k + 1), rel=0.08
        )
    for level in (80, 95):
        assert naive_coverage(calibration, closes, test_origins, level) == pytest.approx(
            level / 100, abs=0.025
        )


def test_volatility_scaling_keeps_coverage_when_the_test_years_are_wilder() -> None:
    # Calibrated in calm years (1% a day), judged in violent ones (3% a day): a fixed width
    # learnt in the calm misses far more often, a width scaled by the trailing volatility does not.
    sigmas = np.concatenate([np.full(3000, 0.01), np.full(3000, 0.03)])
    closes = random_walk(sigmas, seed=1)
    cal_origins, test_origins = np.arange(60, 2990), np.arange(3060, 5990)
    forecast = naive_forecast(closes[cal_origins], 5)
    fitted = {
        method: calibrate(
            closes, cal_origins, forecast, method=method, volatility_window=60, levels=(80, 95)
        )
        for method in (PLAIN, SCALED)
    }
    for level in (80, 95):
        plain = naive_coverage(fitted[PLAIN], closes, test_origins, level)
        scaled = naive_coverage(fitted[SCALED], closes, test_origins, level)
        assert plain < level / 100 - 0.25
        assert scaled == pytest.approx(level / 100, abs=0.03)


def test_scaled_half_widths_are_multiples_of_the_volatility_at_the_forecast_origin(
    gspc_closes: np.ndarray,
) -> None:
    calibration = Calibration(
        method=SCALED, score="s", n_windows=10, volatility_window=60, half_widths={"80": [1.0, 2.0]}
    )
    origins = np.array([100, 4000])
    sigma = trailing_volatility(gspc_closes, origins, 60)
    forecast = np.array([[10.0, 11.0], [20.0, 21.0]])
    lower, upper = calibration.bounds(forecast, 80, calibration.scale(gspc_closes, origins))
    expected = sigma[:, None] * np.array([[1.0, 2.0]])
    np.testing.assert_allclose(upper, forecast * np.exp(expected))
    np.testing.assert_allclose(lower, forecast * np.exp(-expected))
    with pytest.raises(ValueError, match="needs the scale"):
        calibration.bounds(forecast, 80)
    with pytest.raises(ValueError, match="level 95 is not calibrated"):
        calibration.bounds(forecast, 95, sigma)


def test_the_plain_calibration_stored_before_scaling_still_reads_and_draws_the_same_bounds() -> (
    None
):
    stored = {
        "method": "split-conformal",
        "score": "abs log(actual / forecast)",
        "n_windows": 117,
        "half_widths": {"80": [0.01, 0.02, 0.03], "95": [0.02, 0.03, 0.05]},
    }
    calibration = Calibration.model_validate(stored)
    assert calibration.method == PLAIN and calibration.volatility_window is None
    assert calibration.levels == [80, 95] and calibration.history_needed() == 1
    forecast = np.array([[100.0, 101.0]])
    lower, upper = calibration.bounds(forecast, 95)
    np.testing.assert_allclose(lower, [[100 * math.exp(-0.02), 101 * math.exp(-0.03)]])
    np.testing.assert_allclose(upper, [[100 * math.exp(0.02), 101 * math.exp(0.03)]])


def test_a_calibration_survives_a_json_round_trip() -> None:
    closes = random_walk(np.full(300, 0.01), seed=2)
    origins = np.arange(60, 290)
    calibration = calibrate(
        closes, origins, naive_forecast(closes[origins], 2), method=SCALED, volatility_window=20
    )
    stored = json.loads(json.dumps(calibration.model_dump(mode="json")))
    assert stored["method"] == "volatility" and stored["volatility_window"] == 20
    assert set(stored["half_widths"]) == {str(level) for level in range(1, 100)}
    assert Calibration.model_validate(stored) == calibration


def test_the_window_is_set_exactly_for_volatility_scaling() -> None:
    with pytest.raises(ValidationError, match="volatility_window"):
        Calibration(method=SCALED, score="s", n_windows=1, half_widths={"80": [1.0]})
    with pytest.raises(ValidationError, match="volatility_window"):
        Calibration(
            method=PLAIN, score="s", n_windows=1, volatility_window=60, half_widths={"80": [1.0]}
        )


@pytest.mark.parametrize(
    ("lookback", "method", "window", "needed"),
    [(60, SCALED, 60, 61), (20, SCALED, 60, 61), (100, SCALED, 60, 101), (20, PLAIN, 60, 21)],
)
def test_a_served_forecast_reads_the_input_window_or_the_volatility_window(
    lookback: int, method: IntervalMethod, window: int, needed: int
) -> None:
    config = TrainingConfig(lookback=lookback, interval_method=method, volatility_window=window)
    calibration = Calibration(
        method=method,
        score="s",
        n_windows=1,
        volatility_window=window if method == SCALED else None,
        half_widths={"80": [1.0]},
    )
    assert forecast_history(min_history(config), calibration) == needed
    assert forecast_history(min_history(config), None) == lookback + 1
    # A baseline reads one close: its intervals' window decides.
    assert forecast_history(1, calibration) == (window + 1 if method == SCALED else 1)


def test_conformal_levels_are_validated() -> None:
    with pytest.raises(ValueError, match="level"):
        conformal_quantiles(np.ones((5, 2)), levels=(100,))
