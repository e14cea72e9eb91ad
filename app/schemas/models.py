"""Registry response schemas, read from the registry's rows with `from_attributes`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import AliasPath, BaseModel, ConfigDict, Field, field_validator

from app.core.types import MAX_VERSION
from app.schemas.accuracy import Accuracy
from models.config import ModelType


class VersionSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    ticker: str
    version: int
    model_type: str = Field(description="A network's cell (lstm, gru, ...) or a baseline")
    baseline: bool = Field(
        validation_alias=AliasPath("model_type"),
        description="Whether the version is a baseline formula (naive or drift)",
    )
    target: str
    status: str
    created_at: dt.datetime
    data_start: dt.date
    data_end: dt.date
    aliases: list[str] = Field(default_factory=list, description="Aliases naming this version")
    accuracy: Accuracy = Field(
        validation_alias=AliasPath("metrics"), description="Backtest skill against the baselines"
    )

    @field_validator("aliases", mode="before")
    @classmethod
    def _alias_names(cls, value: Any) -> Any:
        # From a row: its ModelAlias objects; from a dict: names already.
        return sorted(a if isinstance(a, str) else a.alias for a in value or [])

    @field_validator("baseline", mode="before")
    @classmethod
    def _is_baseline(cls, value: Any) -> Any:
        # Read from the row's model_type (a dict built by hand may give the flag itself).
        return ModelType(value).is_baseline if isinstance(value, str) else value

    @field_validator("accuracy", mode="before")
    @classmethod
    def _accuracy(cls, value: Any) -> Any:
        return value if isinstance(value, Accuracy) else Accuracy.from_metrics(value)


class VersionRef(BaseModel):
    """A version named by its ticker and number."""

    model_config = ConfigDict(from_attributes=True)

    ticker: str
    version: int


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
    parent: VersionRef | None = Field(
        default=None, description="The version a warm start began from (None: from scratch)"
    )
    lineage: list[VersionRef] = Field(
        default_factory=list,
        description="The chain of parents, nearest first: the parent, its parent, ...",
    )

    @classmethod
    def of(cls, row: Any, lineage: list[Any]) -> VersionDetail:
        """The detail of a registry row with its lineage (nearest parent first)."""
        detail = cls.model_validate(row)
        refs = [VersionRef.model_validate(link) for link in lineage]
        return detail.model_copy(update={"parent": refs[0] if refs else None, "lineage": refs})


class LiveAccuracyOut(BaseModel):
    """How a version's served forecasts did once their actual closes arrived."""

    model_config = ConfigDict(from_attributes=True)

    ticker: str
    version: int
    since: dt.date | None = Field(description="First forecast origin counted (None: all)")
    recorded: int = Field(description="Forecasts served and remembered (once per origin day)")
    scored: int = Field(description="Of those, how many have at least one actual close")
    points_scored: list[int] = Field(description="Actual closes scored, per horizon step")
    mae: list[float | None] = Field(description="The model's MAE per step")
    mae_naive: list[float | None]
    mae_drift: list[float | None]
    ratio_vs_naive: list[float | None] = Field(description="MAE / naive's MAE per step")
    ratio_vs_drift: list[float | None]
    skill_vs_naive: float | None = Field(description="1 - MAE / naive's MAE over all points")
    skill_vs_drift: float | None
    coverage: dict[str, float | None] = Field(
        description="Per level (80, 95): share of actual closes inside the interval"
    )


class TickerModels(BaseModel):
    ticker: str
    versions: list[VersionSummary]


class AliasRequest(BaseModel):
    version: int = Field(ge=1, le=MAX_VERSION, description="The version the alias names")


class AliasOut(BaseModel):
    ticker: str
    alias: str
    version: int


class BacktestOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    ticker: str
    version: int
    levels: list[int]
    metrics: dict[str, Any] = Field(description="The backtest summary stored with the version")
    coverage: dict[str, Any] = Field(
        description="Per requested level: share of actuals inside the interval (per step and "
        "overall) and the mean interval width"
    )
    windows: list[dict[str, Any]] = Field(
        description="origin (first forecast day), as_of (last bar seen), dates, actual, model "
        "(what the version serves), network and blend (a network version's own forecast and "
        "its blend with drift), naive, drift, intervals [{level, lower, upper}] per window"
    )
