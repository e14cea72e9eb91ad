"""Types shared by the request and response schemas."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, Field, StringConstraints

from models.intervals import CALIBRATED_LEVELS

# Bounds on numbers in paths and queries: a version or an offset past these is no real one
# (PostgreSQL's integer ends at 2**31 - 1).
MAX_VERSION = 2**31 - 1
MAX_OFFSET = 1_000_000
# Dates the service can hold (pandas' Timestamp ends in 2262).
FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2199, 12, 31)
Day = Annotated[dt.date, Field(ge=FIRST_DAY, le=LAST_DAY)]

TICKER_PATTERN = r"^[A-Za-z0-9.^=\-]{1,15}$"
TICKER_RULE = "1-15 characters of letters, digits and .^=-"


def _upper(value: str) -> str:
    return value.upper()


# Tickers are stored upper-case, as Yahoo writes them (brk-b and BRK-B are one ticker).
Ticker = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=TICKER_PATTERN),
    AfterValidator(_upper),
]
TickerPath = Annotated[
    str,
    Path(pattern=TICKER_PATTERN, description=f"Ticker symbol: {TICKER_RULE}, e.g. ^GSPC"),
    AfterValidator(_upper),
]

ALIAS_PATTERN = r"^[a-z][a-z0-9_\-]{0,63}$"
AliasName = Annotated[
    str,
    StringConstraints(pattern=ALIAS_PATTERN),
]
AliasPath = Annotated[
    str,
    Path(pattern=ALIAS_PATTERN, description="Alias: lower-case letters, digits, _ and -"),
]

# Interval levels, percent: every version is calibrated for each of these.
DEFAULT_LEVELS: tuple[int, ...] = (80, 95)
Level = Annotated[int, Field(ge=min(CALIBRATED_LEVELS), le=max(CALIBRATED_LEVELS))]
LevelsQuery = Annotated[
    list[Level] | None,
    Query(
        description="Interval levels in percent, 1-99, repeatable "
        f"(default {' and '.join(map(str, DEFAULT_LEVELS))})"
    ),
]


def levels_or_default(level: list[int] | None) -> list[int]:
    """The levels asked for, sorted and once each, or the default ones."""
    return sorted(set(DEFAULT_LEVELS if level is None else level))
