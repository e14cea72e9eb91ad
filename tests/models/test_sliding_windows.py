"""make_windows and split_bounds: shapes, contents and time order."""

import numpy as np

from models.windows import make_windows, split_bounds


def test_windows_slide_one_step_with_inputs_then_targets() -> None:
    x, y = make_windows(np.arange(10.0), lookback=3, horizon=2)
    assert x.shape == (6, 3)
    assert y.shape == (6, 2)
    np.testing.assert_array_equal(x[0], [0, 1, 2])
    np.testing.assert_array_equal(y[0], [3, 4])
    np.testing.assert_array_equal(x[1], [1, 2, 3])
    np.testing.assert_array_equal(x[-1], [5, 6, 7])
    np.testing.assert_array_equal(y[-1], [8, 9])


def test_windows_are_writable_copies_not_views_of_the_series() -> None:
    series = np.arange(6.0)
    x, _ = make_windows(series, lookback=2, horizon=1)
    x[0, 0] = 99.0
    assert series[0] == 0.0


def test_series_exactly_one_window_long_gives_one_window() -> None:
    x, y = make_windows(np.arange(5.0), lookback=3, horizon=2)
    assert x.shape == (1, 3)
    assert y.shape == (1, 2)


def test_too_short_series_gives_empty_arrays_with_the_right_widths() -> None:
    x, y = make_windows(np.arange(4.0), lookback=3, horizon=2)
    assert x.shape == (0, 3)
    assert y.shape == (0, 2)


def test_split_bounds_are_time_ordered_fractions_of_the_series() -> None:
    assert split_bounds(1000, 0.70, 0.15) == (700, 850)
    assert split_bounds(5031, 0.70, 0.15) == (3521, 4276)
    assert split_bounds(10, 0.5, 0.3) == (5, 8)
