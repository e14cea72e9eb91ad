"""Registry response schemas."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from app.db.tables import ModelVersion


class VersionSummary(BaseModel):
    ticker: str
    version: int
    model_type: str
    target: str
    status: str
    created_at: dt.datetime
    data_start: dt.date
    data_end: dt.date
    aliases: list[str] = Field(default_factory=list)
    skill_vs_naive: float | None = Field(None, description="Backtest: 1 - MAE/MAE(naive)")
    skill_vs_drift: float | None = Field(None, description="Backtest: 1 - MAE/MAE(drift)")
    coverage_80: float | None = Field(None, description="Backtest coverage of the 80% interval")

    @classmethod
    def from_row(cls, row: ModelVersion, aliases: list[str] | None = None) -> VersionSummary:
        """Render a version without its config and metrics."""
        test = (row.metrics or {}).get("test", {})
        return cls(
            ticker=row.ticker,
            version=row.version,
            model_type=row.model_type,
            target=row.target,
            status=row.status,
            created_at=row.created_at,
            data_start=row.data_start,
            data_end=row.data_end,
            aliases=aliases or [],
            skill_vs_naive=test.get("skill_vs_naive_overall"),
            skill_vs_drift=test.get("skill_vs_drift_overall"),
            coverage_80=test.get("coverage", {}).get("80", {}).get("overall"),
        )


class VersionDetail(VersionSummary):
    config: dict[str, Any]
    metrics: dict[str, Any]
    scalers: dict[str, Any]
    calendar: str
    data_rows: int
    data_sha256: str = Field(description="SHA-256 of the training dates and closes")
    library_versions: dict[str, Any]
    job_id: str | None
    calibration: dict[str, Any] | None = Field(
        description="Split-conformal half-widths (log-price units) per level and step"
    )

    @classmethod
    def from_row(cls, row: ModelVersion, aliases: list[str] | None = None) -> VersionDetail:
        """Render a version with everything but its weights."""
        base = VersionSummary.from_row(row, aliases).model_dump()
        return cls(
            **base,
            config=row.config,
            metrics=row.metrics,
            scalers=row.scalers,
            calendar=row.calendar,
            data_rows=row.data_rows,
            data_sha256=row.data_sha256,
            library_versions=row.library_versions,
            job_id=row.job_id,
            calibration=row.calibration,
        )


class TickerModels(BaseModel):
    ticker: str
    versions: list[VersionSummary]


class AliasRequest(BaseModel):
    version: int = Field(ge=1)


class AliasOut(BaseModel):
    ticker: str
    alias: str
    version: int


class BacktestOut(BaseModel):
    ticker: str
    version: int
    levels: list[int]
    metrics: dict[str, Any] = Field(description="The backtest summary stored with the version")
    coverage: dict[str, Any] = Field(
        description="Per requested level: share of actuals inside the interval (per step and "
        "overall) and the mean interval width"
    )
    windows: list[dict[str, Any]] = Field(
        description="origin (first forecast day), as_of (last bar seen), dates, actual, model, "
        "naive, drift, intervals [{level, lower, upper}] per window"
    )
