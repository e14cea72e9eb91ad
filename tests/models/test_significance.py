"""The Diebold-Mariano test: HAC variance over overlapping windows, edge cases, p-values."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from models.evaluate import naive_forecast
from models.significance import (
    diebold_mariano,
    diebold_mariano_on_differences,
    newey_west_variance,
    normal_cdf,
    overlap_lag,
    student_t_cdf,
    window_loss,
)

HORIZON = 5


def windows(closes: np.ndarray, origins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Actuals and the naive forecast of the h-step windows at these origins."""
    actual = closes[origins[:, None] + np.arange(1, HORIZON + 1)[None, :]]
    return actual, naive_forecast(closes[origins], HORIZON)


@pytest.fixture(scope="module")
def gspc_tail(gspc_closes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sample's last 750 one-day-apart 5-step windows: actuals and naive forecasts."""
    origins = np.arange(len(gspc_closes) - HORIZON - 750, len(gspc_closes) - HORIZON)
    return windows(gspc_closes, origins)


def test_the_window_loss_is_the_mean_absolute_error_over_its_steps() -> None:
    actual = np.array([[1.0, 2.0], [3.0, 5.0]])
    forecast = np.array([[2.0, 2.0], [3.0, 1.0]])
    np.testing.assert_allclose(window_loss(actual, forecast), [0.5, 2.0])


def test_windows_overlap_for_horizon_minus_one_origins_when_a_day_apart() -> None:
    assert overlap_lag(np.arange(100), 5) == 4
    assert overlap_lag(np.arange(0, 100, 2), 5) == 2  # 0, 2 and 4 share days; 0 and 6 do not
    assert overlap_lag(np.arange(0, 100, 5), 5) == 0
    assert overlap_lag(np.array([3]), 5) == 0


def test_a_clearly_better_forecast_gets_a_tiny_p_value(
    gspc_tail: tuple[np.ndarray, np.ndarray],
) -> None:
    actual, naive = gspc_tail
    # Halfway between naive and the truth: half the error in every window.
    better = 0.5 * naive + 0.5 * actual
    result = diebold_mariano(actual, better, naive, lag=HORIZON - 1)
    assert result.mean_loss_difference == pytest.approx(
        -0.5 * float(window_loss(actual, naive).mean())
    )
    assert result.statistic is not None and result.statistic < -5
    assert result.p_value is not None and result.p_value < 1e-6
    assert (result.n_windows, result.lag) == (750, 4)
    # And the test is one-sided: the worse forecast has no evidence for it at all.
    reverse = diebold_mariano(actual, naive, better, lag=HORIZON - 1)
    assert reverse.p_value is not None and reverse.p_value > 1 - 1e-6


def test_identical_forecasts_give_no_evidence_either_way(
    gspc_tail: tuple[np.ndarray, np.ndarray],
) -> None:
    actual, naive = gspc_tail
    result = diebold_mariano(actual, naive, naive.copy(), lag=HORIZON - 1)
    assert result.statistic is None
    assert result.p_value == 0.5
    assert result.mean_loss_difference == 0.0
    json.dumps(result.model_dump(mode="json"))  # no NaN to refuse


def test_constant_differences_have_no_variance_and_no_nan() -> None:
    better = diebold_mariano_on_differences(np.full(50, -0.25), lag=4)
    assert (better.statistic, better.p_value) == (None, 0.0)
    worse = diebold_mariano_on_differences(np.full(50, 0.25), lag=4)
    assert (worse.statistic, worse.p_value) == (None, 1.0)
    # Differences equal up to rounding give a finite statistic, not NaN.
    rounded = diebold_mariano_on_differences(np.full(50, -0.1) + np.arange(50) * 1e-18, lag=4)
    assert rounded.p_value is not None and math.isfinite(rounded.p_value)
    assert rounded.p_value < 1e-6


def test_too_few_windows_leave_the_test_undefined() -> None:
    one = diebold_mariano_on_differences(np.array([-1.0]), lag=4)
    assert (one.statistic, one.p_value, one.n_windows) == (None, None, 1)


def test_hac_keeps_noise_from_looking_significant_where_an_iid_variance_does_not() -> None:
    # Two equally good forecasts of a driftless random walk, one leaning up and one down by
    # 0.2% a day: any difference between them is noise. Their 5-step windows a day apart
    # overlap, so the i.i.d. variance (lag 0) understates the noise and rejects far more often
    # than the 10% a test at level 0.10 should; the Newey-West variance holds the level.
    rng = np.random.default_rng(1)
    n, trials, k = 750, 300, np.arange(1, HORIZON + 1)
    rejected = {"hac": 0, "iid": 0}
    for _ in range(trials):
        closes = 100 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n + HORIZON)))
        actual, naive = windows(closes, np.arange(n))
        up, down = naive * np.exp(0.002 * k), naive * np.exp(-0.002 * k)
        for name, lag in (("hac", HORIZON - 1), ("iid", 0)):
            p_value = diebold_mariano(actual, up, down, lag=lag).p_value
            assert p_value is not None
            rejected[name] += p_value < 0.10
    assert rejected["hac"] / trials < 0.13
    assert rejected["iid"] / trials > 0.15
    assert rejected["iid"] > 1.5 * rejected["hac"]


def test_newey_west_adds_bartlett_weighted_autocovariances() -> None:
    d = np.array([1.0, 2.0, 0.0, 3.0, -1.0, 1.0])
    u = d - d.mean()
    n = len(d)
    gamma = [float(u[j:] @ u[: n - j]) / n for j in range(3)]
    expected = gamma[0] + 2 * (2 / 3 * gamma[1] + 1 / 3 * gamma[2])
    assert newey_west_variance(d, 2) == pytest.approx(expected)
    assert newey_west_variance(d, 0) == pytest.approx(gamma[0])


def test_the_small_sample_correction_shrinks_the_statistic_and_uses_student_t() -> None:
    d = np.random.default_rng(3).normal(-0.1, 1.0, 40)
    raw = diebold_mariano_on_differences(d, lag=4, small_sample=False)
    hln = diebold_mariano_on_differences(d, lag=4)
    assert raw.statistic is not None and hln.statistic is not None
    n, h = 40, 5
    factor = math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    assert hln.statistic == pytest.approx(raw.statistic * factor)
    assert hln.p_value == pytest.approx(student_t_cdf(hln.statistic, n - 1))
    assert raw.p_value == pytest.approx(normal_cdf(raw.statistic))


@pytest.mark.parametrize(
    ("t", "df", "cdf"),
    [
        (2.228138851986, 10, 0.975),  # the two-sided 5% critical value of t(10)
        (-1.812461123, 10, 0.05),
        (1.0, 1, 0.75),  # Cauchy
        (0.0, 7, 0.5),
        (-1.6448536269514722, 1e7, 0.05),  # a normal, in the limit
    ],
)
def test_student_t_cdf_matches_tabulated_values(t: float, df: float, cdf: float) -> None:
    # t(1e7) differs from the normal by about 1.5e-8 there.
    assert student_t_cdf(t, df) == pytest.approx(cdf, abs=3e-8)
