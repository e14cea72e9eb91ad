"""Forecast response schema."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from app.db.tables import ModelVersion
from app.forecasting.service import Forecast


class IntervalOut(BaseModel):
    level: int = Field(description="Nominal coverage, percent (e.g. 80)")
    lower: float
    upper: float


class PointOut(BaseModel):
    date: dt.date = Field(description="A trading session of the ticker's exchange")
    value: float = Field(description="Forecast close")
    intervals: list[IntervalOut] = Field(
        default_factory=list,
        description="Split-conformal prediction intervals, one per requested level",
    )


class Accuracy(BaseModel):
    """How the served version did on its walk-forward backtest over held-out data."""

    skill_vs_naive: float | None = Field(
        description="1 - MAE(model) / MAE(repeat the last close); above 0 beats naive"
    )
    skill_vs_drift: float | None = Field(
        description="1 - MAE(model) / MAE(last close + average daily change of training data)"
    )
    coverage_80: float | None = Field(
        description="Share of backtest actuals inside the 80% interval (nominal 0.80)"
    )
    mae_ratio_vs_naive: float | None
    backtest_windows: int | None

    @classmethod
    def from_metrics(cls, metrics: dict[str, Any] | None) -> Accuracy:
        """Read the figures out of a version's stored metrics."""
        test = (metrics or {}).get("test", {})
        cov = test.get("coverage", {}).get("80", {})
        return cls(
            skill_vs_naive=test.get("skill_vs_naive_overall"),
            skill_vs_drift=test.get("skill_vs_drift_overall"),
            coverage_80=cov.get("overall"),
            mae_ratio_vs_naive=test.get("mae_ratio_overall"),
            backtest_windows=test.get("n_windows"),
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
        row: ModelVersion = fc.selection.version
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
            points=[
                PointOut(
                    date=p.date,
                    value=p.value,
                    intervals=[
                        IntervalOut(level=i.level, lower=i.lower, upper=i.upper)
                        for i in p.intervals
                    ],
                )
                for p in fc.points
            ],
        )
