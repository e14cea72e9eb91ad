"""How far to trust a version: its backtest figures, as forecasts and listings show them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from models.evidence import Evidence
from models.metrics import IntervalScores, VersionMetrics


class Accuracy(BaseModel):
    """How the served forecast did on the version's walk-forward backtest over held-out data."""

    serves: str = Field(
        description="What the version serves: network (the network as it is), blend (the "
        "network blended with drift, one weight per step fit on validation), naive or drift "
        "(a baseline formula)"
    )
    blend_weights: list[float] | None = Field(
        None,
        description="When the version serves its blend: the network's weight per step, in "
        "[0, 1]; the forecast is drift x exp(w_k x (log network - log drift))",
    )
    skill_vs_naive: float | None = Field(
        description="1 - MAE(served) / MAE(naive: repeat the last close); above 0 beats naive"
    )
    skill_vs_drift: float | None = Field(
        description="1 - MAE(served) / MAE(drift); drift is the last close grown at the "
        "training data's mean daily log return"
    )
    mae_ratio_vs_naive: list[float | None] = Field(
        description="MAE(served) / MAE(naive) per horizon step; at most 1 beats naive there"
    )
    mae_ratio_vs_drift: list[float | None] | None = Field(
        description="MAE(served) / MAE(drift) per horizon step"
    )
    beats_baselines: bool = Field(
        description="Whether the served forecast's MAE is at most naive's and drift's at every step"
    )
    drift_baseline: str | None = Field(
        description="log (today's drift), or dollar for versions scored before it replaced "
        "the average daily change"
    )
    coverage_80: float | None = Field(
        description="Share of backtest actuals inside the 80% interval (nominal 0.80)"
    )
    coverage_95: float | None = Field(
        description="Share of backtest actuals inside the 95% interval (nominal 0.95)"
    )
    interval_scores: dict[str, IntervalScores] | None = Field(
        None,
        description="Per level (80, 95): the interval (Winkler) score per step of the served "
        "intervals and of drift's own intervals on the same windows, lower is better, and "
        "their ratio (below 1: sharper bands for the same coverage)",
    )
    backtest_windows: int = Field(description="Walk-forward windows the figures are over")

    @classmethod
    def from_metrics(cls, metrics: dict[str, Any] | VersionMetrics) -> Accuracy:
        """Read the figures out of a version's stored metrics."""
        return cls.of(Evidence.read(metrics))

    @classmethod
    def of(cls, evidence: Evidence) -> Accuracy:
        """The block of what a version's evidence says."""
        test = evidence.test
        return cls(
            serves=evidence.serves.value,
            blend_weights=evidence.blend_weights,
            skill_vs_naive=test.skill_vs_naive_overall,
            skill_vs_drift=test.skill_vs_drift_overall,
            mae_ratio_vs_naive=test.mae_ratio or [],
            mae_ratio_vs_drift=test.mae_ratio_vs_drift,
            beats_baselines=test.beats_baselines(),
            drift_baseline=test.drift_method.value if test.drift_method else None,
            coverage_80=evidence.coverage(80),
            coverage_95=evidence.coverage(95),
            interval_scores=evidence.interval_scores(),
            backtest_windows=test.n_windows,
        )
