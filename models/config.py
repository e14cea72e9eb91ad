"""Typed training configuration shared by training, the registry and the API.

The bounds and defaults live here and only here: the API's `TrainRequest` derives from this
model, so a request can never accept what training would refuse (pydantic; no TensorFlow).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator


class ModelType(StrEnum):
    """What a version forecasts with: a recurrent network, or one of the two baselines.

    naive repeats the last close; drift grows it at the training split's mean daily log return
    (last close x exp(mu x k)). A baseline has no weights: its forecast is the formula.
    """

    RNN = "rnn"
    LSTM = "lstm"
    GRU = "gru"
    BILSTM = "bilstm"
    NAIVE = "naive"
    DRIFT = "drift"

    @property
    def is_baseline(self) -> bool:
        """Whether this is a baseline formula rather than a network."""
        return self in (ModelType.NAIVE, ModelType.DRIFT)


# The architectures that have weights to train.
NETWORK_TYPES: tuple[ModelType, ...] = tuple(m for m in ModelType if not m.is_baseline)


class BlendMode(StrEnum):
    """Whether a network version serves its blend with drift.

    The blend is drift x exp(w_k x (log network - log drift)), one weight w_k in [0, 1] per
    step fit on the validation split. auto: serve the blend when, fit on one half of the
    validation windows and scored on the other (both ways), its MAE averaged over the steps is
    below the network's; always: serve the blend; never: serve the network as it is.
    """

    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"


class Target(StrEnum):
    """What the network predicts: cumulative log returns (default) or scaled price levels."""

    LOG_RETURN = "log_return"
    PRICE = "price"


class IntervalMethod(StrEnum):
    """How prediction intervals are calibrated on the validation windows.

    volatility: split-conformal on errors divided by the trailing volatility at each origin, scaled
    back by the volatility at the forecast origin; plain: split-conformal on the raw log errors.
    """

    VOLATILITY = "volatility"
    PLAIN = "plain"


class Feature(StrEnum):
    """An input channel built from the bars beside the close channel the target defines.

    log_return: daily log return of the close; open, high, low: log of the bar's open, high or
    low over the previous close; range: log of high over low; volume: the volume as a z-score
    over the lookback window; day_of_week: 0 (Monday) to 4 (Friday).
    """

    LOG_RETURN = "log_return"
    OPEN = "open"
    HIGH = "high"
    LOW = "low"
    RANGE = "range"
    VOLUME = "volume"
    DAY_OF_WEEK = "day_of_week"


class Strategy(StrEnum):
    """How the network covers the horizon.

    direct: one output per step, all at once; recursive: one step, its forecast fed back as the
    newest input horizon times.
    """

    DIRECT = "direct"
    RECURSIVE = "recursive"


# Largest seed: Keras and numpy take any 32-bit unsigned value, PostgreSQL's integer does not.
MAX_SEED = 2**31 - 1
# What a stored config written before a field existed meant by its absence: a record without
# `ensemble` was one network, and its intervals were plain split-conformal.
# A record without `blend` served its network as it was.
_BEFORE_FIELD: dict[str, Any] = {
    "ensemble": 1,
    "interval_method": IntervalMethod.PLAIN.value,
    "blend": BlendMode.NEVER.value,
}
Units = Annotated[int, Strict(), Field(ge=1, le=1024)]
# Lax: JSON gives a feature as its name.
FeatureName = Annotated["Feature", Strict(False)]


class TrainingConfig(BaseModel):
    """Everything that decides how a forecaster is trained; saved with every model version."""

    # strict: `True` is not a lookback and "60" is not an integer; frozen: a config is a value.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    model_type: ModelType = Field(
        default=ModelType.LSTM,
        description="Recurrent cell, or a baseline (naive, drift): a formula with no weights, "
        "scored and calibrated on the same windows as a network",
        strict=False,
    )
    lookback: int = Field(default=60, ge=5, le=500, description="Input window, trading days")
    horizon: int = Field(default=5, ge=1, le=60, description="Steps forecast at once, trading days")
    # Lax for the container only: JSON has no tuples, so a stored list must read back.
    layers: tuple[Units, ...] = Field(
        default=(64, 32),
        min_length=1,
        max_length=4,
        strict=False,
        description="Units per stacked recurrent layer",
    )
    dropout: float = Field(
        default=0.2, ge=0.0, le=0.9, description="Dropout between recurrent layers"
    )
    epochs: int = Field(
        default=50, ge=1, le=1000, description="Most epochs; early stopping may end sooner"
    )
    batch_size: int = Field(default=32, ge=1, le=4096)
    learning_rate: float = Field(default=1e-3, gt=0.0, le=1.0, description="Adam's learning rate")
    target: Target = Field(
        default=Target.LOG_RETURN, description="What the network predicts", strict=False
    )
    seed: int = Field(default=42, ge=0, le=MAX_SEED, description="Seed of weights and shuffling")
    train_frac: float = Field(
        default=0.70, gt=0.0, lt=1.0, description="Share of bars for training"
    )
    val_frac: float = Field(
        default=0.15, gt=0.0, lt=1.0, description="Share of bars for validation"
    )
    patience: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="Early-stopping patience: epochs without a better val_loss",
    )
    # Walk-forward backtest over the test split: an origin every `backtest_step` trading days,
    # only the most recent `backtest_windows` of them when set.
    backtest_step: int = Field(default=1, ge=1, le=250, description="Trading days between origins")
    backtest_windows: int | None = Field(
        default=None, ge=1, le=100_000, description="Keep only the most recent N backtest origins"
    )
    ensemble: int = Field(
        default=3,
        ge=1,
        le=10,
        description="Networks trained with seeds seed, seed + 1, ... on the same windows; the "
        "served forecast is their mean output (1: a single network)",
    )
    interval_method: IntervalMethod = Field(
        default=IntervalMethod.VOLATILITY,
        strict=False,
        description="volatility: conformal errors scaled by the trailing volatility at each "
        "origin; plain: unscaled split-conformal",
    )
    volatility_window: int = Field(
        default=60,
        ge=5,
        le=500,
        description="Trading days of daily log returns whose standard deviation scales the "
        "intervals (interval_method volatility)",
    )
    features: tuple[FeatureName, ...] = Field(
        default=(),
        max_length=len(Feature),
        strict=False,
        description="Extra input channels built from the bars, beside the close channel the "
        "target defines; each is scaled on the training split only",
    )
    strategy: Strategy = Field(
        default=Strategy.DIRECT,
        strict=False,
        description="direct: every horizon step at once; recursive: one step fed back "
        "horizon times",
    )
    blend: BlendMode = Field(
        default=BlendMode.AUTO,
        strict=False,
        description="Blend the network with drift, drift x exp(w_k x (log network - log "
        "drift)), one weight per step fit on the validation split. auto: serve the blend when "
        "it beats the network on validation windows it was not fit on; always; never",
    )

    @model_validator(mode="after")
    def _inputs_make_sense(self) -> TrainingConfig:
        if self.model_type.is_baseline and self.features:
            raise ValueError(
                f"features: a {self.model_type.value} baseline reads the closes alone; drop "
                f"{[f.value for f in self.features]}"
            )
        if len(set(self.features)) != len(self.features):
            raise ValueError(f"features must not repeat, got {[f.value for f in self.features]}")
        if self.target == Target.LOG_RETURN and Feature.LOG_RETURN in self.features:
            raise ValueError(
                "features: log_return is already the input of target log_return; drop it"
            )
        if self.strategy == Strategy.RECURSIVE and self.features:
            # A fed-back forecast is a close: the open, high, low and volume of a future bar
            # are unknown, so a recursive network reads the close channel alone.
            raise ValueError(
                f"strategy recursive feeds back forecast closes only; features "
                f"{[f.value for f in self.features]} cannot be built for future bars"
            )
        return self

    @property
    def n_inputs(self) -> int:
        """Input channels: the target's close channel and one per feature."""
        return 1 + len(self.features)

    @property
    def output_steps(self) -> int:
        """Outputs of the network: the horizon (direct) or one step (recursive)."""
        return 1 if self.strategy == Strategy.RECURSIVE else self.horizon

    @model_validator(mode="after")
    def _test_split_left(self) -> TrainingConfig:
        # The test split is what is left; it must not be empty.
        if not self.train_frac + self.val_frac < 1.0:
            raise ValueError(
                f"train_frac + val_frac must be less than 1 to leave a test split, "
                f"got train_frac={self.train_frac} + val_frac={self.val_frac}"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict (layers as a list)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        """Build a config from a JSON-able dict; missing keys take defaults, unknown ones fail."""
        return cls.model_validate(d)

    @classmethod
    def from_stored(cls, d: dict[str, Any]) -> Self:
        """The config inside a stored job or version record, ignoring the keys it adds.

        A record written before a field existed reads as what it was trained with, not as
        today's default (an old version is one network with plain intervals).
        """
        known = {k: v for k, v in d.items() if k in cls.model_fields}
        return cls.from_dict({**_BEFORE_FIELD, **known})

    def member_seeds(self) -> list[int]:
        """The seed of each ensemble member: seed, seed + 1, ..., wrapping past MAX_SEED to 0."""
        return [(self.seed + k) % (MAX_SEED + 1) for k in range(self.ensemble)]


# What decides a network's weights' shapes and what its inputs mean: a warm start needs a
# parent that agrees on every one.
ARCHITECTURE_FIELDS = (
    "model_type",
    "layers",
    "lookback",
    "horizon",
    "target",
    "features",
    "strategy",
    "ensemble",
)


def architecture_differences(parent: TrainingConfig, child: TrainingConfig) -> list[str]:
    """Each architecture or input field on which two configs differ, as 'name: parent vs child'."""
    out = []
    for name in ARCHITECTURE_FIELDS:
        theirs, ours = getattr(parent, name), getattr(child, name)
        if theirs != ours:
            # The JSON form reads better than enum reprs.
            out.append(f"{name}: parent {parent.to_dict()[name]} vs {child.to_dict()[name]}")
    return out
