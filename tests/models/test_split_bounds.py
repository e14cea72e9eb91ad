"""split_bounds: time-ordered fractions of a series."""

from models.windows import split_bounds


def test_split_bounds_are_time_ordered_fractions_of_the_series() -> None:
    assert split_bounds(1000, 0.70, 0.15) == (700, 850)
    assert split_bounds(5031, 0.70, 0.15) == (3521, 4276)
    assert split_bounds(10, 0.5, 0.3) == (5, 8)
