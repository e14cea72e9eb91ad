"""Training request and job schemas."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.core.types import Ticker
from app.jobs.status import JobStatus
from app.training.spec import TrainingSpec


class TrainRequest(TrainingSpec):
    """What to train; everything but `ticker` has a default. Bounds come from TrainingConfig."""

    ticker: Ticker = Field(strict=False)


class JobProgress(BaseModel):
    stage: str | None = Field(
        None, description="loading prices, searching (a hyperparameter search) or training"
    )
    trial: int | None = Field(None, description="While searching: trial k (1-based) ...")
    trials: int | None = Field(None, description="... of at most this many")
    epoch: int | None = None
    epochs: int | None = None
    loss: float | None = None
    val_loss: float | None = None

    model_config = ConfigDict(extra="allow")


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    ticker: str
    status: JobStatus
    config: dict[str, Any]
    progress: JobProgress
    message: str | None
    error: str | None
    cancel_requested: bool
    model_version: int | None = Field(description="Version registered by this job")
    worker: str | None
    attempts: int
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    @field_validator("model_version", mode="before")
    @classmethod
    def _version_number(cls, value: Any) -> Any:
        # From a row: the registered ModelVersion (or None).
        return getattr(value, "version", value)

    @field_validator("progress", mode="before")
    @classmethod
    def _no_progress_yet(cls, value: Any) -> Any:
        return value or {}
