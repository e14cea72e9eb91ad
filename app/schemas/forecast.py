"""Forecast response schema."""

from __future__ import annotations

import datetime as dt
from typing import cast

from annotated_types import Le
from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.core.types import Ticker
from app.schemas.accuracy import Accuracy
from app.schemas.common import DEFAULT_LEVELS, Level, levels_or_default
from app.schemas.errors import ErrorOut
from models.config import TrainingConfig

# The longest horizon any version can be trained for, so the longest a request may ask.
MAX_HORIZON = next(
    cast(int, m.le) for m in TrainingConfig.model_fields["horizon"].metadata if isinstance(m, Le)
)
# Tickers in one POST /forecasts: a dashboard's whole watch list, and an answer of a few MB.
MAX_BATCH_TICKERS = 500
# Intervals in one POST /forecasts answer (tickers x steps x distinct levels): the most that
# the largest request with the default levels asks for. More levels need fewer tickers or
# steps, so that no request (99 levels of 500 tickers over 60 steps: 3 million intervals)
# makes an answer many times that size.
MAX_BATCH_INTERVALS = MAX_BATCH_TICKERS * MAX_HORIZON * len(DEFAULT_LEVELS)


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
    model_type: str = Field(
        description="lstm, gru, rnn or bilstm for a network version; naive or drift for a "
        "baseline version, whose forecast is the formula"
    )
    baseline: bool = Field(
        description="Whether the served version is a baseline formula (naive or drift) rather "
        "than a network; a baseline serves as champion when no network has earned it"
    )
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


class ForecastBatchRequest(BaseModel):
    """POST /forecasts: the same question for many tickers, each from its own served version."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"tickers": ["^GSPC", "AAPL", "NOPE"], "horizon": 5}]},
    )

    tickers: list[Ticker] = Field(
        min_length=1,
        max_length=MAX_BATCH_TICKERS,
        description=f"Ticker symbols, at most {MAX_BATCH_TICKERS}; each is answered in order",
    )
    horizon: int | None = Field(
        None, ge=1, le=MAX_HORIZON, description="Steps, up to each version's trained horizon"
    )
    level: list[Level] | None = Field(
        None,
        description="Interval levels in percent, 1-99 (default 80 and 95); tickers x horizon "
        f"(default {MAX_HORIZON}) x distinct levels must be at most {MAX_BATCH_INTERVALS}",
    )

    @model_validator(mode="after")
    def _answer_size(self) -> ForecastBatchRequest:
        levels = len(levels_or_default(self.level))
        steps = self.horizon or MAX_HORIZON
        intervals = len(self.tickers) * steps * levels
        if intervals > MAX_BATCH_INTERVALS:
            raise ValueError(
                f"the answer would hold {intervals} intervals ({len(self.tickers)} tickers x "
                f"{steps} steps x {levels} levels), more than {MAX_BATCH_INTERVALS}: ask for "
                "fewer tickers, a shorter horizon or fewer levels"
            )
        return self


class ForecastBatchItem(BaseModel):
    """One ticker's answer: its forecast, or the error a single request would have got."""

    ticker: str
    status: int = Field(description="200, or the error's HTTP status (404, 422, 500)")
    forecast: ForecastOut | None = Field(None, description="Present when status is 200")
    error: ErrorOut | None = Field(None, description="Present when status is not 200")


class ForecastBatchOut(BaseModel):
    """Every ticker's answer, in the order asked; one failing ticker fails only its item."""

    count: int = Field(description="Items in results: one per ticker asked")
    failed: int = Field(description="Items whose status is not 200")
    results: list[ForecastBatchItem]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "count": 2,
                    "failed": 1,
                    "results": [
                        {
                            "ticker": "^GSPC",
                            "status": 200,
                            "forecast": {
                                "ticker": "^GSPC",
                                "model_version": 3,
                                "model_type": "lstm",
                                "baseline": False,
                                "target": "log_return",
                                "trained_at": "2026-12-01T10:00:00Z",
                                "alias": "champion",
                                "champion": True,
                                "warning": None,
                                "data_as_of": "2018-12-31",
                                "last_close": 2506.85,
                                "horizon": 1,
                                "calendar": "XNYS",
                                "accuracy": {
                                    "serves": "network",
                                    "blend_weights": None,
                                    "skill_vs_naive": 0.0059,
                                    "skill_vs_drift": 0.0033,
                                    "mae_ratio_vs_naive": [0.9987],
                                    "mae_ratio_vs_drift": [0.9993],
                                    "beats_baselines": True,
                                    "drift_baseline": "log",
                                    "coverage_80": 0.784,
                                    "coverage_95": 0.943,
                                    "backtest_windows": 750,
                                },
                                "points": [
                                    {
                                        "date": "2019-01-02",
                                        "value": 2508.1,
                                        "intervals": [
                                            {"level": 80, "lower": 2466.2, "upper": 2550.4},
                                            {"level": 95, "lower": 2437.9, "upper": 2579.3},
                                        ],
                                    }
                                ],
                            },
                            "error": None,
                        },
                        {
                            "ticker": "NOPE",
                            "status": 404,
                            "forecast": None,
                            "error": {
                                "status": 404,
                                "code": "not_found",
                                "title": "Not Found",
                                "detail": "No trained model for ticker 'NOPE'. Start one with "
                                '`POST /train` {"ticker": "NOPE"} and poll `GET /jobs/{id}`.',
                                "errors": [],
                                "request_id": "5f0c2b1e9a7d4c3b",
                            },
                        },
                    ],
                }
            ]
        }
    )
