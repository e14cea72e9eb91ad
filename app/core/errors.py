"""Domain errors that carry their HTTP status; app.main renders them all with one handler."""

from __future__ import annotations


class TickercastError(Exception):
    """Base class: `status` is the HTTP status, `str(error)` the message a user reads."""

    status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(TickercastError):
    status = 404


class TickerNotFound(NotFound):
    def __init__(self, ticker: str) -> None:
        super().__init__(
            f"No stored prices for ticker {ticker!r}. Import a CSV with "
            f"`PUT /prices/{ticker}` (body text/csv) or `tickercast prices import {ticker} FILE`, "
            f"or train it while the price source (yfinance) is reachable."
        )
        self.ticker = ticker


class ModelNotFound(NotFound):
    pass


class JobNotFound(NotFound):
    pass


class InvalidInput(TickercastError):
    """422: the message names the field or the line that is wrong."""

    status = 422


class CsvFormatError(InvalidInput):
    def __init__(self, message: str, line: int | None = None) -> None:
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"CSV refused, nothing was stored: {where}{message}")
        self.line = line


class Conflict(TickercastError):
    status = 409


class PayloadTooLarge(TickercastError):
    status = 413


class PriceSourceError(TickercastError):
    """The remote price source failed (network down, rate limited, no data)."""

    status = 502


class PriceSourceUnavailable(PriceSourceError):
    """The source could not be reached at all (network down, DNS, timeouts)."""

    status = 503


class RateLimited(PriceSourceError):
    status = 429


class NoPriceData(PriceSourceError):
    """The source answered but had no bars for the ticker and range."""

    status = 404
