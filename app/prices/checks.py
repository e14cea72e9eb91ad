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
