"""What a version's stored metrics say, read in one place (pydantic; no TensorFlow).

The API's `accuracy` block, a job's `version` event and a forecast's warnings all come from
`Evidence`: the figures a reader is shown, and each fact that should lower their trust, said
once, in one sentence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models.intervals import REPORTED_LEVELS
from models.metrics import (
    BacktestSummary,
    ForecasterKind,
    IntervalScores,
    Promotion,
    VersionMetrics,
)

# A reported level whose backtest coverage falls outside this band is called out.
COVERAGE_BANDS: dict[int, tuple[float, float]] = {80: (0.70, 0.90), 95: (0.90, 0.99)}

_SERVES_WORDS: dict[ForecasterKind, str] = {
    ForecasterKind.NETWORK: "its network",
    ForecasterKind.BLEND: "its network blended with drift",
    ForecasterKind.NAIVE: "the naive baseline (the last close, repeated)",
    ForecasterKind.DRIFT: (
        "the drift baseline (the last close grown at the training data's mean daily log return)"
    ),
}


@dataclass(frozen=True)
class Evidence:
    """A version's stored metrics as a reader meets them."""

    metrics: VersionMetrics
    version: int | None = None  # the version number, for sentences that name it

    @classmethod
    def read(
        cls, metrics: dict[str, Any] | VersionMetrics, *, version: int | None = None
    ) -> Evidence:
        """Read a version's stored metrics (any shape ever stored)."""
        return cls(VersionMetrics.model_validate(metrics), version)

    @property
    def test(self) -> BacktestSummary:
        """The served forecast's figures on the walk-forward test tail."""
        return self.metrics.test

    @property
    def serves(self) -> ForecasterKind:
        """What the version serves."""
        return self.metrics.serves

    @property
    def is_baseline(self) -> bool:
        """Whether the version's forecast is a baseline formula."""
        return self.serves.is_baseline

    @property
    def promotion(self) -> Promotion | None:
        """The champion decision recorded at registration."""
        return self.metrics.promotion

    @property
    def blend_weights(self) -> list[float] | None:
        """The blend's weight of the network per step, when the version serves its blend."""
        record = self.metrics.forecaster
        return (
            record.weights if record is not None and self.serves is ForecasterKind.BLEND else None
        )

    def coverage(self, level: int) -> float | None:
        """Share of backtest actuals inside the level's interval."""
        figures = (self.test.coverage or {}).get(str(level))
        return None if figures is None else figures.overall

    def interval_scores(self) -> dict[str, IntervalScores] | None:
        """Per reported level, the served intervals' scores against drift's own intervals."""
        return self.test.interval_scores

    def describe(self) -> str:
        """What the version serves, in words."""
        return _SERVES_WORDS[self.serves]

    def facts(self) -> list[str]:
        """Each fact that should lower a reader's trust in this version's forecast, once."""
        test = self.test
        name = "This version" if self.version is None else f"Version {self.version}"
        out = [
            f"{name}'s MAE is worse than {loss}, on its backtest of {test.n_windows} windows."
            for loss in test.losses()
        ]
        if test.drift is None:
            out.append(f"{name} was never scored against drift (registered before drift was).")
        for level in REPORTED_LEVELS:
            covered = self.coverage(level)
            low, high = COVERAGE_BANDS[level]
            if covered is not None and not low <= covered <= high:
                out.append(
                    f"Its {level}% intervals held {covered:.0%} of the backtest's actual closes, "
                    f"outside {low:.0%}-{high:.0%}: trust them less."
                )
        if self.promotion is not None and self.promotion.forced:
            out.append("It was made champion by promote=always, over the gate.")
        return out

    def summary(self) -> dict[str, Any]:
        """The figures a job's `version` event carries."""
        promotion = self.promotion
        return {
            "version": self.version,
            "serves": self.serves.value,
            "baseline": self.is_baseline,
            "promoted": promotion.promoted if promotion else None,
            "decision": promotion.reason if promotion else None,
            "beats_baselines": self.test.beats_baselines(),
            "skill_vs_naive": self.test.skill_vs_naive_overall,
            "skill_vs_drift": self.test.skill_vs_drift_overall,
            "coverage_80": self.coverage(80),
            "coverage_95": self.coverage(95),
        }
