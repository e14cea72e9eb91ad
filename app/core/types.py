"""Values every layer checks alike: ticker symbols, the days the service can hold, version
numbers. The API's schemas (app/schemas/common.py) and the domains both build on these."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

# A version past this is no real one (PostgreSQL's integer ends at 2**31 - 1).
MAX_VERSION = 2**31 - 1
# Dates the service can hold (pandas' Timestamp ends in 2262).
FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2199, 12, 31)
Day = Annotated[dt.date, Field(ge=FIRST_DAY, le=LAST_DAY)]

TICKER_PATTERN = r"^[A-Za-z0-9.^=\-]{1,15}$"
TICKER_RULE = "1-15 characters of letters, digits and .^=-"


def upper(value: str) -> str:
    """Tickers are stored upper-case, as Yahoo writes them (brk-b and BRK-B are one ticker)."""
    return value.upper()


Ticker = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=TICKER_PATTERN),
    AfterValidator(upper),
]


def range_problem(start: dt.date | None, end: dt.date | None) -> str | None:
    """What is wrong with a range of days (either end open, both inclusive), or None: the one
    rule for every range a caller gives (bars read or deleted, a job's training data)."""
    if start is not None and end is not None and start > end:
        return f"start ({start}) must not be after end ({end})"
    return None
