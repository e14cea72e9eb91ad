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
    test_mae_ratio_vs_naive: float | None = None

    @classmethod
    def from_row(cls, row: ModelVersion, aliases: list[str] | None = None) -> VersionSummary:
        """Render a version without its config and metrics."""
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
            test_mae_ratio_vs_naive=(row.metrics or {}).get("test", {}).get("mae_ratio_overall"),
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
        )


class TickerModels(BaseModel):
    ticker: str
    versions: list[VersionSummary]
