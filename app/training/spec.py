"""What a training job asks for: the model's TrainingConfig plus the data range and promotion."""

from __future__ import annotations

from pydantic import Field, model_validator

from app.schemas.common import Day
from app.training.gate import PromoteMode
from models.config import TrainingConfig


class TrainingSpec(TrainingConfig):
    """A TrainingConfig and what the service adds around it; stored as the job's config."""

    start: Day | None = Field(
        None, strict=False, description="First day of training data (inclusive)"
    )
    end: Day | None = Field(None, strict=False, description="Last day of training data")
    promote: PromoteMode = Field(
        PromoteMode.AUTO,
        strict=False,
        description="auto: the champion gate decides; always: promote; never: register only",
    )

    @model_validator(mode="after")
    def _start_before_end(self) -> TrainingSpec:
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError(f"start ({self.start}) must be before end ({self.end})")
        return self

    @property
    def config(self) -> TrainingConfig:
        """The model's part alone: what models.train needs and the version records."""
        return TrainingConfig.from_stored(self.model_dump(mode="json"))

    def to_job_config(self) -> dict[str, object]:
        """The JSON stored with the job."""
        return self.model_dump(mode="json", include=set(TrainingSpec.model_fields))
