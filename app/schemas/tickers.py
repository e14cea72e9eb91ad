"""Ticker listing schema."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class TickerOut(BaseModel):
    ticker: str
    calendar: str = Field(description="Exchange calendar (exchange_calendars name)")
    source: str = Field(description="Where the bars came from: csv or yfinance")
    first: dt.date | None = Field(description="First stored day")
    last: dt.date | None = Field(description="Last stored day")
    bars: int = Field(description="Stored daily bars")
