"""The champion gate: a new version earns the `champion` alias only by beating what is served."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from sqlalchemy.orm import Session

from app.db.tables import ModelVersion
from app.registry import versions
from models.backtest import forecast_prices
from models.config import TrainingConfig
from models.features import FeatureScalers, min_history
from models.predictor import OnnxPredictor

CHAMPION = "champion"
PromoteMode = Literal["auto", "always", "never"]


@dataclass(frozen=True)
class Decision:
    """Whether to promote, and the figures behind it (stored in the version's metrics)."""

    promote: bool
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def version_config(row: ModelVersion) -> TrainingConfig:
    """The TrainingConfig a version was trained with."""
    return TrainingConfig.from_stored(row.config)


def champion_mae_on(
    session: Session,
    *,
    champion: ModelVersion,
    closes: np.ndarray,
    origins: np.ndarray,
    steps: int,
) -> tuple[float, np.ndarray]:
    """The champion's MAE over the first `steps` steps at the origins it can forecast from."""
    config = version_config(champion)
    usable = origins[
        (origins >= min_history(config) - 1) & (origins + config.horizon < len(closes))
    ]
    predictor = OnnxPredictor(versions.onnx_bytes(session, version_id=champion.id))
    scalers = FeatureScalers.from_dict(champion.scalers)
    predicted = forecast_prices(closes, usable, config, scalers, predictor.predict)[:, :steps]
    actual = closes[usable[:, None] + np.arange(1, steps + 1)[None, :]]
    return float(np.mean(np.abs(predicted - actual))), usable


def decide(
    session: Session,
    *,
    ticker: str,
    mode: PromoteMode,
    skill_vs_naive: float | None,
    closes: np.ndarray,
    origins: np.ndarray,
    forecasts: np.ndarray,
) -> Decision:
    """Apply the gate: positive skill against naive, and a lower MAE than the champion's
    on the same backtest windows (the new version's), unless `mode` overrides it."""
    current = versions.resolve_alias(session, ticker=ticker, alias=CHAMPION)
    details: dict[str, Any] = {
        "mode": mode,
        "skill_vs_naive": skill_vs_naive,
        "previous_champion": current.version if current else None,
    }
    if mode == "never":
        return Decision(False, "not promoted: promote=never", details)
    if mode == "always":
        return Decision(True, "promoted: promote=always", details)
    if skill_vs_naive is None or skill_vs_naive <= 0:
        return Decision(
            False,
            "not promoted: backtest skill against naive is "
            f"{'undefined' if skill_vs_naive is None else f'{skill_vs_naive:+.4f}'} (needs > 0)",
            details,
        )
    if current is None:
        return Decision(True, "promoted: positive skill against naive and no champion", details)
    champ_h = version_config(current).horizon
    steps = min(champ_h, forecasts.shape[1])
    champ_mae, usable = champion_mae_on(
        session, champion=current, closes=closes, origins=origins, steps=steps
    )
    rows = np.searchsorted(origins, usable)
    actual = closes[usable[:, None] + np.arange(1, steps + 1)[None, :]]
    new_mae = float(np.mean(np.abs(forecasts[rows, :steps] - actual)))
    details.update(
        {
            "windows": int(usable.size),
            "steps": steps,
            "mae": new_mae,
            "champion_mae": champ_mae,
        }
    )
    if new_mae < champ_mae:
        return Decision(
            True,
            f"promoted: backtest MAE {new_mae:.4g} beats champion v{current.version}'s "
            f"{champ_mae:.4g} on the same {usable.size} windows",
            details,
        )
    return Decision(
        False,
        f"not promoted: backtest MAE {new_mae:.4g} does not beat champion v{current.version}'s "
        f"{champ_mae:.4g} on the same {usable.size} windows",
        details,
    )
