"""Domain errors that carry their HTTP status; app/api/errors.py renders every one alike."""

from __future__ import annotations


class TickercastError(Exception):
    """Base class: `status` is the HTTP status, `message` the sentence a user reads.

    `code` names the kind of problem for programs; `headers` go out with the answer
    (`Retry-After`, `WWW-Authenticate`).
    """

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class NotFound(TickercastError):
    status, code = 404, "not_found"


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

    status, code = 422, "invalid_input"


class CsvFormatError(InvalidInput):
    def __init__(self, message: str, line: int | None = None) -> None:
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"CSV refused, nothing was stored: {where}{message}")
        self.line = line


class Unauthorized(TickercastError):
    """401: no key was sent where one is needed."""

    status, code = 401, "unauthorized"


class Forbidden(TickercastError):
    """403: the key is wrong, or lacks the scope this needs."""

    status, code = 403, "forbidden"


class Conflict(TickercastError):
    status, code = 409, "conflict"


class TooManyRequests(TickercastError):
    """429: a rate limit; `Retry-After` says when to come back."""

    status, code = 429, "rate_limited"


# Seconds a client is asked to wait before trying again after a 503.
RETRY_AFTER_SECONDS = 5


class ServiceUnavailable(TickercastError):
    """503: the database (or Redis) is busy or unreachable; it is worth trying again.

    Answered with `Retry-After: RETRY_AFTER_SECONDS` unless the raiser says otherwise.
    """

    status, code = 503, "unavailable"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(
            message, headers={"Retry-After": str(RETRY_AFTER_SECONDS), **(headers or {})}
        )


class ModelCorrupted(TickercastError):
    """500: a stored model blob no longer matches the SHA-256 recorded when it was registered.

    Serving it would answer with wrong numbers; the message names the version and the blob.
    """

    status, code = 500, "model_corrupted"


# Seconds a client is asked to wait after a 507: freeing a disk takes an operator.
DISK_FULL_RETRY_AFTER_SECONDS = 60


class InsufficientStorage(TickercastError):
    """507: a disk the service writes to is full; the message names it. Nothing was written."""

    status, code = 507, "insufficient_storage"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"Retry-After": str(DISK_FULL_RETRY_AFTER_SECONDS)})


class PriceSourceError(TickercastError):
    """The remote price source failed (network down, rate limited, no data)."""

    status, code = 502, "price_source_error"


class PriceSourceUnavailable(PriceSourceError):
    """The source could not be reached at all (network down, DNS, timeouts)."""

    status, code = 503, "price_source_unavailable"


class RateLimited(PriceSourceError):
    status, code = 429, "price_source_rate_limited"


class NoPriceData(PriceSourceError):
    """The source answered but had no bars for the ticker and range."""

    status, code = 404, "no_price_data"


class Gone(TickercastError):
    """410: what was asked for existed and was removed on purpose (a pruned version)."""

    status, code = 410, "gone"
