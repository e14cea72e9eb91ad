"""Price schemas."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from app.core.errors import TickercastError
from app.core.types import Ticker
from app.schemas.errors import ErrorOut, error_out

# Tickers in one POST /prices/refresh: a universe such as the S&P 500.
MAX_REFRESH_TICKERS = 500


class BarOut(BaseModel):
    date: dt.date
    open: float
    high: float
    low: float
    close: float
    adj_close: float | None
    volume: float | None


class PricesOut(BaseModel):
    ticker: str
    calendar: str
    count: int
    bars: list[BarOut]


class ImportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    ticker: str
    rows: int
    first: dt.date | None
    last: dt.date | None
    stored_rows: int
    implausible: int = Field(
        0, description="Bars stored although implausible (only with strict=false)"
    )
    implausible_examples: list[str] = Field(
        default_factory=list, description="The first of them, by line, with what is wrong"
    )
    quarantined: int = Field(
        0,
        description="Of those, bars whose prices are beyond belief (above any listed price, or "
        "many times away from the closes beside them): stored, but no forecast, training or "
        "live score reads them (only with strict=false)",
    )


class RefreshOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    ticker: str
    source: str = Field(description="The price source asked (yfinance)")
    fetched: int = Field(description="Bars the source returned, the week of overlap included")
    added: int = Field(description="Days that were not stored before")
    last: dt.date | None = Field(description="The newest stored bar now")
    stored_rows: int


class DeleteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    ticker: str
    deleted: int = Field(description="Bars removed")
    stored_rows: int = Field(description="Bars left")


class BatchRefreshRequest(BaseModel):
    """POST /prices/refresh: refresh many tickers from the price source at once."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"tickers": ["^GSPC", "AAPL", "NOPE"]}]}
    )

    tickers: list[Ticker] = Field(
        min_length=1,
        max_length=MAX_REFRESH_TICKERS,
        description=f"Ticker symbols, at most {MAX_REFRESH_TICKERS}; each is answered in order",
    )


class BatchRefreshItem(BaseModel):
    """One ticker's answer: what its refresh stored, or the error a single refresh would get."""

    ticker: str
    status: int = Field(description="200, or the source's error status (404, 429, 502, 503)")
    refresh: RefreshOut | None = Field(None, description="Present when status is 200")
    error: ErrorOut | None = Field(None, description="Present when status is not 200")


class BatchRefreshOut(BaseModel):
    """Every ticker's answer in the order asked; one failing ticker fails only its item."""

    count: int = Field(description="Items in results: one per distinct ticker asked")
    failed: int = Field(description="Items whose status is not 200")
    batches: int = Field(description="Batch calls made to the source (yf.download with a list)")
    from_batches: int = Field(description="Tickers read from a batch's answer")
    alone: int = Field(
        description="Tickers fetched one by one: not stored yet, or a batch could not read them"
    )
    results: list[BatchRefreshItem]

    @classmethod
    def of(
        cls,
        outcomes: Mapping[str, object],
        *,
        batches: int,
        from_batches: int,
        alone: int,
    ) -> BatchRefreshOut:
        """Items from each ticker's refresh summary, or its TickercastError."""
        results = [
            BatchRefreshItem(
                ticker=ticker,
                status=outcome.status,
                error=error_out(outcome.status, outcome.code, outcome.message),
            )
            if isinstance(outcome, TickercastError)
            else BatchRefreshItem(
                ticker=ticker, status=200, refresh=RefreshOut.model_validate(outcome)
            )
            for ticker, outcome in outcomes.items()
        ]
        return cls(
            count=len(results),
            failed=sum(item.status != 200 for item in results),
            batches=batches,
            from_batches=from_batches,
            alone=alone,
            results=results,
        )
