"""How far to trust a version: its backtest figures, as forecasts and listings show them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Accuracy(BaseModel):
    """How the version did on its walk-forward backtest over held-out data."""

    skill_vs_naive: float | None = Field(
        description="1 - MAE(model) / MAE(repeat the last close); above 0 beats naive"
    )
    skill_vs_drift: float | None = Field(
        description="1 - MAE(model) / MAE(last close + average daily change of training data)"
    )
    coverage_80: float | None = Field(
        description="Share of backtest actuals inside the 80% interval (nominal 0.80)"
    )
    mae_ratio_vs_naive: float | None
    backtest_windows: int | None

    @classmethod
    def from_metrics(cls, metrics: dict[str, Any] | None) -> Accuracy:
        """Read the figures out of a version's stored metrics."""
        test = (metrics or {}).get("test", {})
        return cls(
            skill_vs_naive=test.get("skill_vs_naive_overall"),
            skill_vs_drift=test.get("skill_vs_drift_overall"),
            coverage_80=test.get("coverage", {}).get("80", {}).get("overall"),
            mae_ratio_vs_naive=test.get("mae_ratio_overall"),
            backtest_windows=test.get("n_windows"),
        )
