"""How far to trust a version: its backtest figures, as forecasts and listings show them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from models.metrics import VersionMetrics


class Accuracy(BaseModel):
    """How the version did on its walk-forward backtest over held-out data."""

    skill_vs_naive: float | None = Field(
        description="1 - MAE(model) / MAE(naive: repeat the last close); above 0 beats naive"
    )
    skill_vs_drift: float | None = Field(
        description="1 - MAE(model) / MAE(drift); drift is the last close grown at the "
        "training data's mean daily log return"
    )
    mae_ratio_vs_naive: list[float | None] = Field(
        description="MAE(model) / MAE(naive) per horizon step; at most 1 beats naive there"
    )
    mae_ratio_vs_drift: list[float | None] | None = Field(
        description="MAE(model) / MAE(drift) per horizon step"
    )
    beats_baselines: bool = Field(
        description="Whether the model's MAE is at most naive's and drift's at every step"
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
    backtest_windows: int = Field(description="Walk-forward windows the figures are over")

    @classmethod
    def from_metrics(cls, metrics: dict[str, Any] | VersionMetrics) -> Accuracy:
        """Read the figures out of a version's stored metrics."""
        test = VersionMetrics.model_validate(metrics).test
        coverage = test.coverage or {}
        return cls(
            skill_vs_naive=test.skill_vs_naive_overall,
            skill_vs_drift=test.skill_vs_drift_overall,
            mae_ratio_vs_naive=test.mae_ratio or [],
            mae_ratio_vs_drift=test.mae_ratio_vs_drift,
            beats_baselines=test.beats_baselines(),
            drift_baseline=test.drift_method.value if test.drift_method else None,
            coverage_80=coverage["80"].overall if "80" in coverage else None,
            coverage_95=coverage["95"].overall if "95" in coverage else None,
            backtest_windows=test.n_windows,
        )
