"""Price schemas."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


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
