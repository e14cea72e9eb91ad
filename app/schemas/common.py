"""Types shared by the request and response schemas."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, Field, StringConstraints

from app.core.types import TICKER_PATTERN, TICKER_RULE, upper
from models.intervals import CALIBRATED_LEVELS

# Bounds on offsets in queries: past this is no real page.
MAX_OFFSET = 1_000_000

TickerPath = Annotated[
    str,
    Path(pattern=TICKER_PATTERN, description=f"Ticker symbol: {TICKER_RULE}, e.g. ^GSPC"),
    AfterValidator(upper),
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
