"""What a model version stores about its quality, as typed objects (pydantic; no TensorFlow).

Training builds these, the registry stores `model_dump(mode="json")`, and the app reads them back
with `model_validate`. They also read the shape stored before issue #8: metrics without `mu` or
`drift_method` were scored against the dollar drift (last close plus the training data's average
daily change in price units), and say so through `drift_method`.

Ratios and skills are None where the baseline's error is zero: JSON has no NaN or infinity.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

Baseline = Literal["naive", "drift"]


class DriftMethod(StrEnum):
    """Which drift baseline a backtest was scored against."""

    LOG = "log"  # last close x exp(mu x k), mu the training data's mean daily log return
    DOLLAR = "dollar"  # last close + k x average daily change in price units (before issue #8)


class _Stored(BaseModel):
    # extra="allow": reading a record and storing it again keeps keys this code does not know.
    model_config = ConfigDict(frozen=True, extra="allow")


class OverallScores(_Stored):
    """One figure per error measure over every step of every window."""

    mae: float
    rmse: float
    mape: float  # percent
    mase: float | None = None  # None where the in-sample naive MAE is zero
    directional_accuracy: float | None = None  # None for naive, which has no direction


class ErrorScores(_Stored):
    """Error measures of one forecast per horizon step (lists of `horizon` values) and overall."""

    mae: list[float]
    rmse: list[float]
    mape: list[float]
    mase: list[float] | None = None
    directional_accuracy: list[float] | None = None
    overall: OverallScores


class IntervalCoverage(_Stored):
    """Share of actuals inside one level's interval, and its mean width (price units)."""

    per_step: list[float]
    overall: float
    mean_width: list[float]
    mean_width_overall: float


class IntervalScores(_Stored):
    """Interval (Winkler) scores of one level's intervals per step and overall, lower is better:
    width plus 2 / alpha times how far an actual falls outside, alpha = 1 - level / 100. Beside
    them, drift's own intervals (calibrated the same way on the same validation windows) scored
    on the same windows, and the ratio of the two: below 1, the served bands are sharper."""

    model: list[float]
    drift: list[float]
    ratio_vs_drift: list[float | None]
    model_overall: float
    drift_overall: float
    ratio_vs_drift_overall: float | None


class BacktestSummary(_Stored):
    """The model and both baselines scored on the same windows (test tail or validation)."""

    n_windows: int
    first_origin: int | None = None
    last_origin: int | None = None
    mase_scale: float | None = None
    # None only in validation figures stored before drift was scored there.
    drift_method: DriftMethod | None = None
    mu: float | None = None  # mean daily log return of the training split (log drift)
    drift_per_day: float | None = None  # price units per day (dollar drift, old records)
    model: ErrorScores
    naive: ErrorScores
    drift: ErrorScores | None = None
    skill_vs_naive: list[float | None] | None = None
    skill_vs_naive_overall: float | None = None
    skill_vs_drift: list[float | None] | None = None
    skill_vs_drift_overall: float | None = None
    # MAE(model) / MAE(naive); the name predates the drift ratios.
    mae_ratio: list[float | None] | None = None
    mae_ratio_overall: float | None = None
    mae_ratio_vs_drift: list[float | None] | None = None
    mae_ratio_vs_drift_overall: float | None = None
    coverage: dict[str, IntervalCoverage] | None = None
    # Per reported level ("80", "95"): the intervals' scores against drift's own intervals.
    interval_scores: dict[str, IntervalScores] | None = None

    @model_validator(mode="before")
    @classmethod
    def _infer_drift_method(cls, data: Any) -> Any:
        # Records stored before issue #8 carry the dollar drift's `drift_per_day` and no marker.
        if isinstance(data, dict) and data.get("drift_method") is None:
            if data.get("mu") is not None:
                return {**data, "drift_method": DriftMethod.LOG.value}
            if data.get("drift_per_day") is not None:
                return {**data, "drift_method": DriftMethod.DOLLAR.value}
        return data

    def mean_step_mae(self, name: Baseline | Literal["model"]) -> float:
        """The MAE averaged over the horizon steps of the model or a baseline."""
        scores = self.model if name == "model" else self.baseline(name)
        return float(sum(scores.mae) / len(scores.mae))

    def better_baseline(self) -> Baseline:
        """The baseline with the lower MAE averaged over the steps (naive on a tie)."""
        if self.drift is None:
            return "naive"
        return "drift" if self.mean_step_mae("drift") < self.mean_step_mae("naive") else "naive"

    def baseline(self, name: Baseline) -> ErrorScores:
        """The scores of the naive or the drift forecast on these windows."""
        scores = self.naive if name == "naive" else self.drift
        if scores is None:
            raise ValueError(f"these figures hold no {name} baseline (stored before it was scored)")
        return scores

    def losing_steps(self, name: Baseline) -> list[int]:
        """Horizon steps (1-based) at which the model's MAE is above the baseline's."""
        other = self.baseline(name).mae
        return [k + 1 for k, (m, b) in enumerate(zip(self.model.mae, other, strict=True)) if m > b]

    def beats_baselines(self) -> bool:
        """Whether the model's MAE is at most naive's and drift's at every step.

        False for figures without drift (stored before drift was scored): nothing shows it.
        """
        if self.drift is None:
            return False
        return not self.losing_steps("naive") and not self.losing_steps("drift")

    def losses(self) -> list[str]:
        """One clause per baseline the model loses to somewhere: the baseline, the steps and
        the MAE ratios there ("naive (the last close) at step 1 (MAE ratio 1.0051)")."""
        out = []
        for name in ("naive", "drift"):
            if name == "drift" and self.drift is None:
                continue
            steps = self.losing_steps(name)  # type: ignore[arg-type]
            if steps:
                what = "naive (the last close)" if name == "naive" else self._drift_words()
                ratios = self.mae_ratio if name == "naive" else self.mae_ratio_vs_drift
                out.append(f"{what} at {_steps_words(steps)}{_ratio_words(steps, ratios)}")
        return out

    def baseline_warning(self) -> str | None:
        """One sentence naming each baseline the model loses to and at which steps, else None
        (and one more when drift was never scored)."""
        sentences = []
        losses = self.losses()
        if losses:
            sentences.append(
                f"On its backtest ({self.n_windows} windows) its MAE is worse than "
                + " and than ".join(losses)
                + "."
            )
        if self.drift is None:
            sentences.append("It was never scored against drift (registered before drift was).")
        return " ".join(sentences) or None

    def _drift_words(self) -> str:
        if self.drift_method == DriftMethod.DOLLAR:
            return "the dollar drift it was scored with (last close plus the average daily change)"
        return "drift (the last close grown at the training data's mean daily log return)"


def _steps_words(steps: list[int]) -> str:
    if len(steps) == 1:
        return f"step {steps[0]}"
    return "steps " + ", ".join(str(s) for s in steps[:-1]) + f" and {steps[-1]}"


def _ratio_words(steps: list[int], ratios: list[float | None] | None) -> str:
    if ratios is None:
        return ""
    shown = [f"{ratios[s - 1]:.4f}" for s in steps if ratios[s - 1] is not None]
    if not shown:
        return ""
    return f" (MAE ratio{'s' if len(shown) > 1 else ''} {', '.join(shown)})"


class BaselineRatios(_Stored):
    """MAE ratios of one forecast to naive and to drift, per step and overall."""

    mae_ratio: list[float | None]
    mae_ratio_overall: float | None
    mae_ratio_vs_drift: list[float | None]
    mae_ratio_vs_drift_overall: float | None

    @classmethod
    def of(cls, summary: BacktestSummary) -> BaselineRatios:
        """The ratios of a summary scored against both baselines."""
        if summary.mae_ratio is None or summary.mae_ratio_vs_drift is None:
            raise ValueError("the summary holds no ratios against both baselines")
        return cls(
            mae_ratio=summary.mae_ratio,
            mae_ratio_overall=summary.mae_ratio_overall,
            mae_ratio_vs_drift=summary.mae_ratio_vs_drift,
            mae_ratio_vs_drift_overall=summary.mae_ratio_vs_drift_overall,
        )


class MemberMetrics(_Stored):
    """One network of a seed ensemble, scored on its own on the ensemble's windows."""

    seed: int
    epochs_run: int
    best_epoch: int
    fit_seconds: float
    validation: BaselineRatios
    test: BaselineRatios


class Timings(_Stored):
    """Wall-clock seconds of each stage of a training run."""

    fit_seconds: float  # every member's fit together
    export_seconds: float  # Keras file and ONNX graph
    parity_seconds: float
    backtest_seconds: float  # calibration, validation and test scoring, members' own scores
    # The service's steps around train(), recorded by a training job (None for train() alone
    # and for versions trained before they were timed).
    prices_seconds: float | None = None  # refreshing and reading the bars
    gate_seconds: float | None = None  # the champion decision (re-runs the sitting champion)
    register_seconds: float | None = None  # storing the version and moving the alias
    search_seconds: float | None = None  # the hyperparameter search, when one chose the config


class DieboldMariano(_Stored):
    """A one-sided Diebold-Mariano test that a new forecast has lower loss than an old one.

    The loss of a window is the mean absolute error over its steps; `mean_loss_difference` is
    new minus old (negative: the new forecast is better), `p_value` the probability of a
    statistic this low if both had equal expected loss. Both are None when undefined (fewer
    than two windows); a zero-variance difference has no statistic and a p-value of 0, 0.5 or 1
    by its sign.
    """

    statistic: float | None
    p_value: float | None
    mean_loss_difference: float
    n_windows: int
    lag: int  # Newey-West lag: how many following windows overlap each one
    small_sample_correction: bool  # Harvey-Leybourne-Newbold, with Student's t(n - 1)


class Promotion(_Stored):
    """The champion decision stored with a version (written by the app's gate)."""

    promoted: bool
    reason: str
    mode: str | None = None  # auto, always or never
    # Whether the evidence alone earned promotion (None: decided before this was recorded);
    # a version trained with promote=never may have earned it all the same.
    earned: bool | None = None
    forced: bool = False  # promote=always overrode the gate
    previous_champion: int | None = None
    significance: DieboldMariano | None = None
    # A baseline made champion because this network version of the ticker did not earn it.
    instead_of: int | None = None


class SearchTrial(_Stored):
    """One candidate of a hyperparameter search: what it tried and how it ended."""

    number: int  # 0-based, in the order tried
    params: dict[str, Any]
    state: str  # complete, pruned (by the pruner or the deadline) or fail
    val_loss: float | None  # best validation loss over its epochs (None if it never scored)
    epochs_run: int
    seconds: float


class SearchRecord(_Stored):
    """The whole search that chose a version's configuration, scored on validation loss only."""

    trials_requested: int
    timeout_s: float
    trial_epochs: int
    sampler: str
    pruner: str
    space: dict[str, Any]
    stopped_by: str  # trials: all were run; timeout: the budget ran out first
    seconds: float
    best_trial: int
    best_val_loss: float
    best_params: dict[str, Any]
    trials: list[SearchTrial]


class ForecasterKind(StrEnum):
    """What a version serves: its network as it is, the network blended with drift, or a
    baseline formula."""

    NETWORK = "network"
    BLEND = "blend"
    NAIVE = "naive"
    DRIFT = "drift"

    @property
    def is_baseline(self) -> bool:
        """Whether the forecast is a baseline formula."""
        return self in (ForecasterKind.NAIVE, ForecasterKind.DRIFT)


class ForecasterRecord(_Stored):
    """How a version turns bars into the forecast it serves: the kind and its parameters."""

    kind: ForecasterKind
    # Mean daily log return of the training split: drift's growth rate (drift and blend).
    mu: float | None = None
    # The blend's weight of the network per step, in [0, 1] (blend only).
    weights: list[float] | None = None


class BlendFit(_Stored):
    """The blend of a network with drift, fit on the validation split only, and whether the
    version serves it. The validation figures are out of fold: the weights that scored a half
    of the validation windows were fit on the other half."""

    mode: str  # auto, always or never (models.config.BlendMode)
    weights: list[float]  # fit on every validation window, what the blend serves
    served: bool
    reason: str
    folds: int
    validation_mae_network: list[float]  # per step
    validation_mae_blend: list[float]  # per step, out of fold
    # Both forecasts on the test tail, reported beside each other (never chosen on).
    test_network: BaselineRatios | None = None
    test_blend: BaselineRatios | None = None


class VersionMetrics(_Stored):
    """Everything a version records about its quality and its training run."""

    test: BacktestSummary
    validation: BacktestSummary | None = None
    parity_max_abs_diff: float | None = None
    epochs_run: int | None = None  # over every member
    best_epoch: int | None = None  # single networks only; an ensemble's are in `members`
    train_seconds: float | None = None  # fitting time over every member
    members: list[MemberMetrics] = []
    timings: Timings | None = None
    promotion: Promotion | None = None
    search: SearchRecord | None = None  # when a hyperparameter search chose the config
    # What the version serves (None: a network, as every version before blends and baselines).
    forecaster: ForecasterRecord | None = None
    blend: BlendFit | None = None  # network versions fit since blends exist

    @property
    def serves(self) -> ForecasterKind:
        """The kind of forecast this version serves."""
        return ForecasterKind.NETWORK if self.forecaster is None else self.forecaster.kind
