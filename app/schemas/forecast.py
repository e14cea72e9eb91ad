"""Forecast response schema."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from app.forecasting.service import Forecast
from app.schemas.accuracy import Accuracy


class IntervalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    level: int = Field(description="Nominal coverage, percent (e.g. 80)")
    lower: float
    upper: float


class PointOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    date: dt.date = Field(description="A trading session of the ticker's exchange")
    value: float = Field(description="Forecast close")
    intervals: list[IntervalOut] = Field(
        default_factory=list,
        description="Split-conformal prediction intervals, one per requested level",
    )


class ForecastOut(BaseModel):
    ticker: str
    model_version: int
    model_type: str
    target: str
    trained_at: dt.datetime
    alias: str | None = Field(description="The alias that selected the version, if any")
    champion: bool = Field(description="Whether the served version is the ticker's champion")
    warning: str | None = Field(description="Why this forecast deserves less trust, if it does")
    data_as_of: dt.date = Field(description="Date of the last bar used as input")
    last_close: float
    horizon: int
    calendar: str
    accuracy: Accuracy
    points: list[PointOut]

    @classmethod
    def from_forecast(cls, fc: Forecast) -> ForecastOut:
        """Render a forecast."""
        row = fc.selection.row
        return cls(
            ticker=fc.ticker,
            model_version=row.version,
            model_type=row.model_type,
            target=row.target,
            trained_at=row.created_at,
            alias=fc.selection.alias,
            champion=fc.selection.is_champion,
            warning=" ".join(fc.warnings) or None,
            data_as_of=fc.data_as_of,
            last_close=fc.last_close,
            horizon=len(fc.points),
            calendar=row.calendar,
            accuracy=Accuracy.from_metrics(row.metrics),
            points=[PointOut.model_validate(p) for p in fc.points],
        )
