"""Training request and job schemas."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.db.tables import TrainingJob
from app.schemas.common import Ticker

Units = Annotated[int, Field(ge=1, le=1024)]


class TrainRequest(BaseModel):
    """What to train; everything but `ticker` has a default."""

    model_config = ConfigDict(extra="forbid")

    ticker: Ticker
    model_type: Literal["rnn", "lstm", "gru", "bilstm"] = "lstm"
    lookback: int = Field(60, ge=5, le=500, description="Input window, trading days")
    horizon: int = Field(5, ge=1, le=60, description="Steps forecast at once, trading days")
    layers: list[Units] = Field(
        default_factory=lambda: [64, 32],
        min_length=1,
        max_length=4,
        description="Units per recurrent layer",
    )
    dropout: float = Field(0.2, ge=0.0, le=0.9)
    epochs: int = Field(50, ge=1, le=1000)
    batch_size: int = Field(32, ge=1, le=4096)
    learning_rate: float = Field(1e-3, gt=0.0, le=1.0)
    patience: int = Field(5, ge=1, le=1000, description="Early-stopping patience, epochs")
    target: Literal["log_return", "price"] = "log_return"
    start: dt.date | None = Field(None, description="First day of training data (inclusive)")
    end: dt.date | None = Field(None, description="Last day of training data (inclusive)")
    seed: int = Field(42, ge=0, le=2**31 - 1)
    promote: Literal["auto", "always", "never"] = Field(
        "auto",
        description="auto: become champion only with positive backtest skill against naive "
        "and a lower backtest MAE than the current champion on the same windows",
    )
    backtest_step: int = Field(1, ge=1, le=250, description="Trading days between origins")
    backtest_windows: int | None = Field(
        None, ge=1, le=100_000, description="Keep only the most recent N backtest origins"
    )

    @model_validator(mode="after")
    def _start_before_end(self) -> TrainRequest:
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError(f"start ({self.start}) must be before end ({self.end})")
        return self

    def job_config(self) -> dict[str, Any]:
        """The JSON config stored with the job (everything but the ticker)."""
        return self.model_dump(mode="json", exclude={"ticker"})


class JobProgress(BaseModel):
    stage: str | None = None
    epoch: int | None = None
    epochs: int | None = None
    loss: float | None = None
    val_loss: float | None = None

    model_config = ConfigDict(extra="allow")


class JobOut(BaseModel):
    id: str
    ticker: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
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

    @classmethod
    def from_row(cls, job: TrainingJob) -> JobOut:
        """Render a job row."""
        return cls(
            id=job.id,
            ticker=job.ticker,
            status=job.status,  # type: ignore[arg-type]
            config=job.config,
            progress=JobProgress(**(job.progress or {})),
            message=job.message,
            error=job.error,
            cancel_requested=job.cancel_requested,
            model_version=job.model_version.version if job.model_version else None,
            worker=job.worker,
            attempts=job.attempts,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
        )
