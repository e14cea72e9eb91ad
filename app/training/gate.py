"""The champion gate: a new version earns the `champion` alias only with evidence.

Evidence is two things, both on the new version's own backtest windows: its MAE is at most
naive's and at most drift's at every horizon step, and, when a champion sits, a one-sided
Diebold-Mariano test (Newey-West variance for the overlapping windows) finds its loss lower
than the champion's at the configured significance level. It runs inside the registration
transaction, after the ticker's registry lock is taken, so two versions of one ticker
registered at once are judged one after the other.

A ticker with no champion whose new version does not earn it gets the better baseline (naive
or drift, lower MAE averaged over the steps on the same windows) as a version of its own and
as champion (`TICKERCAST_BASELINE_CHAMPION`), once: from then on a champion sits, and a
network replaces it only through the gate above. The served forecast is then never worse on
average than a formula, and says it is one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from sqlalchemy.orm import Session

from app.db.tables import ModelVersion
from app.registry import versions
from models.config import TrainingConfig
from models.features import Bars, FeatureScalers
from models.forecasters import Forecaster, NetworkForecaster, from_stored
from models.metrics import BacktestSummary, Baseline, DieboldMariano, Promotion
from models.predictor import OnnxPredictor
from models.significance import diebold_mariano, overlap_lag


class PromoteMode(StrEnum):
    """How a new version's claim to `champion` is decided."""

    AUTO = "auto"  # the gate decides
    ALWAYS = "always"  # promote whatever the evidence says (recorded as forced)
    NEVER = "never"  # register only


@dataclass(frozen=True)
class Candidate:
    """A new version's backtest, as the gate needs it."""

    closes: np.ndarray  # every close the version was trained and backtested on
    origins: np.ndarray  # backtest origins (indices into closes)
    forecasts: np.ndarray  # (n origins, horizon) price forecasts of what it serves
    summary: BacktestSummary  # its scores against naive and drift on those windows
    # The whole bars behind the closes, for a champion whose inputs read more than closes.
    bars: Bars | None = None


def champion_forecaster(session: Session, champion: ModelVersion) -> Forecaster:
    """What a sitting champion serves (a baseline formula, its network or its blend), to be
    re-run on the candidate's windows; an ONNX graph is loaded only for a network."""
    config = TrainingConfig.from_stored(champion.config)

    def network() -> NetworkForecaster:
        onnx = versions.onnx_bytes(session, version_id=champion.id)
        scalers = FeatureScalers.from_dict(champion.scalers)
        return NetworkForecaster(config, scalers, OnnxPredictor(onnx).predict)

    return from_stored(config, champion.metrics, network)


def against_champion(
    session: Session, champion: ModelVersion, candidate: Candidate
) -> DieboldMariano:
    """The Diebold-Mariano test of the candidate against the champion on the same windows:
    those with enough history for the champion and a full horizon after them."""
    old_forecaster = champion_forecaster(session, champion)
    steps = min(old_forecaster.horizon, candidate.forecasts.shape[1])
    origins = candidate.origins
    keep = (origins >= old_forecaster.history() - 1) & (
        origins + old_forecaster.horizon < len(candidate.closes)
    )
    usable = origins[keep]
    bars = candidate.bars if candidate.bars is not None else candidate.closes
    old = old_forecaster.forecast(bars, usable)[:, :steps]
    new = candidate.forecasts[np.searchsorted(candidate.origins, usable), :steps]
    actual = candidate.closes[usable[:, None] + np.arange(1, steps + 1)[None, :]]
    return diebold_mariano(actual, new, old, lag=overlap_lag(usable, steps))


def _loses(summary: BacktestSummary) -> str | None:
    """Why the candidate fails the every-step rule, or None when it passes."""
    if summary.beats_baselines():
        return None
    return summary.baseline_warning() or "it was not scored against both baselines"


def _gate(
    session: Session,
    champion: ModelVersion | None,
    candidate: Candidate,
    alpha: float,
) -> tuple[bool, str, DieboldMariano | None]:
    """What the evidence says, whatever the mode."""
    loses = _loses(candidate.summary)
    if loses is not None:
        return False, f"it does not beat both baselines at every step. {loses}", None
    if champion is None:
        return True, "it beats naive and drift at every step, and no champion sits", None
    dm = against_champion(session, champion, candidate)
    shown = (
        f"Diebold-Mariano on {dm.n_windows} shared windows: statistic "
        f"{'undefined' if dm.statistic is None else f'{dm.statistic:.3f}'}, p = "
        f"{'undefined' if dm.p_value is None else f'{dm.p_value:.4f}'}, mean loss difference "
        f"{dm.mean_loss_difference:+.4g}"
    )
    if dm.p_value is not None and dm.p_value < alpha and dm.mean_loss_difference < 0:
        return (
            True,
            f"it beats both baselines and champion v{champion.version} ({shown} < {alpha:g})",
            dm,
        )
    return (
        False,
        f"it beats both baselines but not champion v{champion.version} by more than noise "
        f"({shown}; needs p < {alpha:g})",
        dm,
    )


def decide(
    session: Session,
    *,
    ticker: str,
    mode: PromoteMode,
    candidate: Candidate,
    alpha: float,
) -> Promotion:
    """Apply the gate (auto), or record what it would have said (always, never)."""
    champion = versions.resolve_alias(session, ticker=ticker, alias=versions.CHAMPION)
    earned, why, dm = _gate(session, champion, candidate, alpha)
    if mode is PromoteMode.AUTO:
        promoted, forced = earned, False
        reason = f"{'promoted' if earned else 'not promoted'}: {why}"
    elif mode is PromoteMode.ALWAYS:
        promoted, forced = True, not earned
        reason = f"promoted by promote=always{' over the gate' if forced else ''}: {why}"
    else:
        promoted, forced = False, False
        reason = f"not promoted: promote=never (the gate would {'' if earned else 'not '}" + (
            f"have promoted it: {why})"
        )
    return Promotion(
        promoted=promoted,
        reason=reason,
        mode=mode.value,
        earned=earned,
        forced=forced,
        previous_champion=champion.version if champion else None,
        significance=dm,
    )


def needs_stand_in(decision: Promotion, *, mode: PromoteMode, enabled: bool) -> bool:
    """Whether the better baseline becomes champion in place of a version that did not earn
    it: the gate decided (auto), no champion sits, and the operator has not turned it off."""
    return (
        enabled
        and mode is PromoteMode.AUTO
        and not decision.promoted
        and decision.previous_champion is None
    )


def stand_in_promotion(*, lost: int, summary: BacktestSummary) -> Promotion:
    """The decision recorded with a baseline made champion in place of version `lost`."""
    better = summary.better_baseline()
    other: Baseline = "naive" if better == "drift" else "drift"
    return Promotion(
        promoted=True,
        reason=(
            f"promoted in place of version {lost}, which did not earn champion with no "
            f"champion sitting: {better} is the better baseline on its backtest windows (MAE "
            f"averaged over the steps {summary.mean_step_mae(better):.6g} against {other}'s "
            f"{summary.mean_step_mae(other):.6g})"
        ),
        mode=PromoteMode.AUTO.value,
        earned=False,
        instead_of=lost,
    )
