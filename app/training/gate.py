"""The champion gate: a new version earns the `champion` alias only with evidence.

It runs inside the registration transaction, after the ticker's registry lock is taken, so
two versions of one ticker registered at once are judged one after the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from app.db.tables import ModelVersion
from app.registry import versions
from models.backtest import forecast_prices
from models.config import TrainingConfig
from models.features import FeatureScalers, min_history
from models.predictor import OnnxPredictor


class PromoteMode(StrEnum):
    """How a new version's claim to `champion` is decided."""

    AUTO = "auto"  # the gate decides
    ALWAYS = "always"  # promote whatever the backtest says
    NEVER = "never"  # register only


@dataclass(frozen=True)
class Candidate:
    """A new version's backtest, as the gate needs it."""

    closes: np.ndarray  # every close the version was trained and backtested on
    origins: np.ndarray  # backtest origins (indices into closes)
    forecasts: np.ndarray  # (n origins, horizon) price forecasts
    skill_vs_naive: float | None


@dataclass(frozen=True)
class Decision:
    """Whether to promote, and the figures behind it (stored in the version's metrics)."""

    promote: bool
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def rerun_on(row: ModelVersion, onnx: bytes, closes: np.ndarray, origins: np.ndarray) -> np.ndarray:
    """A stored version's price forecasts at the origins it can forecast from, (n, horizon)."""
    config = TrainingConfig.from_stored(row.config)
    return forecast_prices(
        closes,
        origins,
        config,
        FeatureScalers.from_dict(row.scalers),
        OnnxPredictor(onnx).predict,
    )


def usable_origins(row: ModelVersion, closes: np.ndarray, origins: np.ndarray) -> np.ndarray:
    """Those origins with enough history for a stored version and a full horizon after them."""
    config = TrainingConfig.from_stored(row.config)
    keep = (origins >= min_history(config) - 1) & (origins + config.horizon < len(closes))
    return origins[keep]


def decide(session: Session, *, ticker: str, mode: PromoteMode, candidate: Candidate) -> Decision:
    """Apply the gate: positive skill against naive, and a lower MAE than the champion's
    on the same backtest windows (the new version's), unless `mode` overrides it."""
    current = versions.resolve_alias(session, ticker=ticker, alias=versions.CHAMPION)
    skill = candidate.skill_vs_naive
    details: dict[str, Any] = {
        "mode": mode,
        "skill_vs_naive": skill,
        "previous_champion": current.version if current else None,
    }
    if mode is PromoteMode.NEVER:
        return Decision(False, "not promoted: promote=never", details)
    if mode is PromoteMode.ALWAYS:
        return Decision(True, "promoted: promote=always", details)
    if skill is None or skill <= 0:
        shown = "undefined" if skill is None else f"{skill:+.4f}"
        return Decision(
            False, f"not promoted: backtest skill against naive is {shown} (needs > 0)", details
        )
    if current is None:
        return Decision(True, "promoted: positive skill against naive and no champion", details)
    steps = min(TrainingConfig.from_stored(current.config).horizon, candidate.forecasts.shape[1])
    usable = usable_origins(current, candidate.closes, candidate.origins)
    champion = rerun_on(
        current, versions.onnx_bytes(session, version_id=current.id), candidate.closes, usable
    )[:, :steps]
    actual = candidate.closes[usable[:, None] + np.arange(1, steps + 1)[None, :]]
    rows = np.searchsorted(candidate.origins, usable)
    new_mae = float(np.mean(np.abs(candidate.forecasts[rows, :steps] - actual)))
    champ_mae = float(np.mean(np.abs(champion - actual)))
    details.update(
        {"windows": int(usable.size), "steps": steps, "mae": new_mae, "champion_mae": champ_mae}
    )
    verdict = "beats" if new_mae < champ_mae else "does not beat"
    return Decision(
        new_mae < champ_mae,
        f"{'promoted' if new_mae < champ_mae else 'not promoted'}: backtest MAE {new_mae:.4g} "
        f"{verdict} champion v{current.version}'s {champ_mae:.4g} on the same "
        f"{usable.size} windows",
        details,
    )
