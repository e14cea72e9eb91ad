"""What a hyperparameter search may try, and its budget (pydantic; no Optuna, no TensorFlow).

The API validates a request's `search` with these models; models/search.py runs it. Every
range is checked against TrainingConfig, so a search can only sample configs training accepts.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, model_validator

from models.config import ModelType, TrainingConfig

# Caps that keep one POST /train bounded: trials and wall-clock seconds of one search.
MAX_TRIALS = 200
MAX_SEARCH_SECONDS = 6 * 3600
# A trial's epochs are bounded as training's are.
MAX_EPOCHS = next(
    m.le for m in TrainingConfig.model_fields["epochs"].metadata if getattr(m, "le", None)
)

# Any integer of a search's space: bounded in the schema as a 32-bit integer, while each range's
# corners are checked against TrainingConfig's own bounds (`_training_accepts_every_corner`).
SpaceInt = Annotated[int, Field(ge=0, le=2**31 - 1)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class IntRange(_Frozen):
    """Integers from low to high inclusive, every `step`."""

    low: SpaceInt
    high: SpaceInt
    step: int = Field(default=1, ge=1, le=2**31 - 1)

    @model_validator(mode="after")
    def _ordered(self) -> IntRange:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        return self


class FloatRange(_Frozen):
    """Reals from low to high inclusive; `log` samples them evenly in log space."""

    low: float = Field(strict=False)
    high: float = Field(strict=False)
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> FloatRange:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        if self.log and self.low <= 0.0:
            raise ValueError(f"a log range needs low > 0, got {self.low}")
        return self


Choice = Annotated[ModelType, Strict(False)]


class SearchSpace(_Frozen):
    """The ranges a search samples; unnamed parameters keep the request's value."""

    model_type: tuple[Choice, ...] = Field(
        default=(ModelType.LSTM, ModelType.GRU), min_length=1, strict=False
    )
    lookback: IntRange = Field(default=IntRange(low=20, high=120, step=10), strict=False)
    layers: IntRange = Field(
        default=IntRange(low=1, high=2), strict=False, description="How many stacked layers"
    )
    units: tuple[SpaceInt, ...] = Field(
        default=(16, 32, 64), min_length=1, strict=False, description="Units of each layer"
    )
    dropout: FloatRange = Field(default=FloatRange(low=0.0, high=0.4), strict=False)
    learning_rate: FloatRange = Field(
        default=FloatRange(low=1e-4, high=1e-2, log=True), strict=False
    )
    batch_size: tuple[SpaceInt, ...] = Field(default=(16, 32, 64), min_length=1, strict=False)

    @model_validator(mode="after")
    def _networks_only(self) -> SearchSpace:
        baselines = [m.value for m in self.model_type if m.is_baseline]
        if baselines:
            raise ValueError(
                f"model_type: a search trains networks; {baselines} are baselines with nothing "
                "to search (train them with model_type naive or drift, no search)"
            )
        return self

    @model_validator(mode="after")
    def _training_accepts_every_corner(self) -> SearchSpace:
        # The extremes of every range must be configs TrainingConfig accepts: its bounds are
        # the only ones, never repeated here.
        corners: list[tuple[str, dict[str, Any]]] = [
            ("lookback", {"lookback": self.lookback.low}),
            ("lookback", {"lookback": self.lookback.high}),
            ("layers", {"layers": (16,) * self.layers.low}),
            ("layers", {"layers": (16,) * self.layers.high}),
            *[("units", {"layers": (u,)}) for u in self.units],
            ("dropout", {"dropout": self.dropout.low}),
            ("dropout", {"dropout": self.dropout.high}),
            ("learning_rate", {"learning_rate": self.learning_rate.low}),
            ("learning_rate", {"learning_rate": self.learning_rate.high}),
            *[("batch_size", {"batch_size": b}) for b in self.batch_size],
        ]
        for name, values in corners:
            try:
                TrainingConfig(**values)
            except ValidationError as exc:
                reason = exc.errors()[0]["msg"]
                raise ValueError(
                    f"space.{name}: {values} is not a valid config: {reason}"
                ) from None
        return self


class SearchSpec(_Frozen):
    """A bounded search: at most `trials` candidates and `timeout_s` seconds."""

    trials: int = Field(default=20, ge=1, le=MAX_TRIALS, description="Most candidates tried")
    timeout_s: float = Field(
        default=1800.0,
        gt=0.0,
        le=MAX_SEARCH_SECONDS,
        strict=False,
        description="Wall-clock budget of the search, seconds; a trial running at the "
        "deadline is stopped and pruned",
    )
    trial_epochs: int | None = Field(
        default=None,
        ge=1,
        le=MAX_EPOCHS,
        description="Most epochs of each trial (default: the request's epochs); the chosen "
        "configuration is then trained with the request's epochs",
    )
    space: SearchSpace = Field(default=SearchSpace(), strict=False)
