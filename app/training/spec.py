"""What a training job asks for: the model's TrainingConfig plus the data range, promotion,
an optional hyperparameter search and an optional parent to warm-start from."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.core.types import MAX_VERSION, Day, Ticker, range_problem
from app.training.gate import PromoteMode
from models.config import TrainingConfig
from models.search_space import SearchSpec


class ParentRef(BaseModel):
    """A registered version whose weights a new version starts from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ticker: Ticker
    version: int = Field(ge=1, le=MAX_VERSION, strict=True)


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
    search: SearchSpec | None = Field(
        None,
        strict=False,
        description="Search the space for the configuration with the lowest validation loss, "
        "then train that one (its search record goes in the version's metrics)",
    )
    parent_version: ParentRef | None = Field(
        None,
        strict=False,
        description="Start from this version's weights (same architecture and inputs; it may "
        "be another ticker's) and fine-tune for `epochs` on this ticker's bars",
    )

    @model_validator(mode="after")
    def _start_before_end(self) -> TrainingSpec:
        problem = range_problem(self.start, self.end)
        if problem is not None:
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _search_or_parent(self) -> TrainingSpec:
        if self.search is not None and self.parent_version is not None:
            raise ValueError(
                "search and parent_version cannot be combined: a warm start keeps its "
                "parent's architecture, which a search would change"
            )
        return self

    @model_validator(mode="after")
    def _baseline_has_no_weights(self) -> TrainingSpec:
        if not self.model_type.is_baseline:
            return self
        if self.search is not None:
            raise ValueError(
                f"search: model_type {self.model_type.value} is a baseline, a formula with "
                "nothing to search; drop search or ask for a network"
            )
        if self.parent_version is not None:
            raise ValueError(
                f"parent_version: model_type {self.model_type.value} is a baseline and has no "
                "weights to start from; drop parent_version or ask for a network"
            )
        return self

    @property
    def config(self) -> TrainingConfig:
        """The model's part alone: what models.train needs and the version records."""
        return TrainingConfig.from_stored(self.model_dump(mode="json"))

    def job_config(self, *, volatility_window: int) -> dict[str, Any]:
        """The JSON config stored with the job (everything but the ticker).

        `volatility_window` is the service's default for a spec that names none.
        """
        config = self.model_dump(mode="json", include=set(TrainingSpec.model_fields))
        if "volatility_window" not in self.model_fields_set:
            config["volatility_window"] = volatility_window
        return config
