"""Bars that parse but make no sense: prices out of their own range, days the exchange was shut."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from app.prices.calendars import sessions_between

# Relative slack for prices rounded in the file (a close written as 2506.85 against a high of
# 2506.850098).
TOLERANCE = 1e-6
# A bar whose price is more than this factor above or below the closes on both sides of it (or
# of its one neighbour, at either end of the series) is a typo or a unit error, not a day's
# move: the largest one-day moves of listed stocks are a few times, and a split followed by
# the bars that continue at the new level is consistent with the bar after it.
MAX_MOVE = 5.0
# No listed price comes near this (Berkshire Hathaway A trades under 1e6); above it the
# networks' float32 inputs and the intervals overflow (issue 19: a bar at 1e308 gave "upper":
# null). Kept equal to MAX_PRICE in migration 0013.
MAX_PRICE = 1e9


@dataclass(frozen=True)
class Implausible:
    """One bar that breaks OHLC sense or falls on a day that is not a session."""

    day: dt.date
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else self.day.isoformat()
        return f"{where}: {self.reason}"


def implausible_bars(
    frame: pd.DataFrame, calendar: str, lines: dict[dt.date, int] | None = None
) -> list[Implausible]:
    """Every bar with high below low, open or close outside [low, high], or on a non-session."""
    lines = lines or {}
    low = frame["low"].to_numpy() * (1 - TOLERANCE)
    high = frame["high"].to_numpy() * (1 + TOLERANCE)
    found: dict[dt.date, list[str]] = {}
    days = [ts.date() for ts in frame.index]

    def note(mask: np.ndarray, say: str) -> None:
        for i in np.flatnonzero(mask):
            row = frame.iloc[i]
            found.setdefault(days[i], []).append(
                say.format(open=row.open, high=row.high, low=row.low, close=row.close)
            )

    note(frame["high"].to_numpy() < frame["low"].to_numpy(), "High {high:g} is below Low {low:g}")
    for column in ("open", "close"):
        values = frame[column].to_numpy()
        label = column.capitalize()
        note(
            (values < low) | (values > high),
            label + " {" + column + ":g} is outside Low {low:g} to High {high:g}",
        )
    if days:
        # Days beyond what the calendar knows cannot be judged, and are let be.
        lo, hi, sessions = sessions_between(calendar, days[0], days[-1])
        for day in days:
            if lo <= day <= hi and day not in sessions:
                found.setdefault(day, []).append(f"{day.isoformat()} is not a {calendar} session")
    return [
        Implausible(day, lines.get(day), "; ".join(reasons))
        for day, reasons in sorted(found.items())
    ]


def implausible_prices(
    frame: pd.DataFrame, neighbours: pd.Series, lines: dict[dt.date, int] | None = None
) -> list[Implausible]:
    """Bars of `frame` priced above MAX_PRICE, or more than MAX_MOVE times away from the closes
    beside them. `neighbours` are the closes of the series the bars join, by day (the stored
    bars around them, with the file's own bars in place of the stored ones of the same days)."""
    lines = lines or {}
    closes = neighbours.sort_index()
    before = closes.shift(1).reindex(frame.index).to_numpy()
    after = closes.shift(-1).reindex(frame.index).to_numpy()
    found: dict[dt.date, list[str]] = {}
    days = [ts.date() for ts in frame.index]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for column in ("open", "high", "low", "close"):
            values = frame[column].to_numpy()
            label = column.capitalize()
            for i in np.flatnonzero(values > MAX_PRICE):
                found.setdefault(days[i], []).append(
                    f"{label} {values[i]:g} is above {MAX_PRICE:g}, more than any listed price"
                )
            off_before = np.isnan(before) | (np.abs(np.log(values / before)) > np.log(MAX_MOVE))
            off_after = np.isnan(after) | (np.abs(np.log(values / after)) > np.log(MAX_MOVE))
            judged = ~(np.isnan(before) & np.isnan(after)) & (values <= MAX_PRICE)
            for i in np.flatnonzero(off_before & off_after & judged):
                beside = " and ".join(f"{v:g}" for v in (before[i], after[i]) if not np.isnan(v))
                found.setdefault(days[i], []).append(
                    f"{label} {values[i]:g} is more than {MAX_MOVE:g} times away from the "
                    f"close(s) beside it ({beside})"
                )
    return [
        Implausible(day, lines.get(day), "; ".join(reasons))
        for day, reasons in sorted(found.items())
    ]
