"""Forecast response schema."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from app.forecasting.service import Forecast


class PointOut(BaseModel):
    date: dt.date = Field(description="A trading session of the ticker's exchange")
    value: float = Field(description="Forecast close")


class ForecastOut(BaseModel):
    ticker: str
    model_version: int
    model_type: str
    target: str
    trained_at: dt.datetime
    data_as_of: dt.date = Field(description="Date of the last bar used as input")
    last_close: float
    horizon: int
    calendar: str
    points: list[PointOut]
    test_mae_ratio_vs_naive: float | None = Field(
        description="Model MAE / naive MAE on the version's held-out test windows "
        "(below 1 beats repeating the last close)"
    )

    @classmethod
    def from_forecast(cls, fc: Forecast) -> ForecastOut:
        """Render a forecast."""
        row = fc.version
        ratio = (row.metrics or {}).get("test", {}).get("mae_ratio_overall")
        return cls(
            ticker=fc.ticker,
            model_version=row.version,
            model_type=row.model_type,
            target=row.target,
            trained_at=row.created_at,
            data_as_of=fc.data_as_of,
            last_close=fc.last_close,
            horizon=len(fc.points),
            calendar=row.calendar,
            points=[PointOut(date=p.date, value=p.value) for p in fc.points],
            test_mae_ratio_vs_naive=ratio,
        )
