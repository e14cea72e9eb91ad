"""Types shared by the request and response schemas."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, StringConstraints

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
