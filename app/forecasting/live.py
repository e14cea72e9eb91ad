"""Live accuracy: every forecast served is remembered once per (version, origin day), and
scored against the closes that arrive later, step by step, with the naive and drift baselines
and the intervals' coverage, as the backtest scores the held-out tail."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.engine import upsert_into
from app.db.tables import ForecastRecord, ModelVersion, PriceBar, utcnow
from app.prices.checks import MAX_MOVE
from app.registry import versions
from models.evaluate import naive_forecast, score_partial, stored_drift
from models.intervals import REPORTED_LEVELS
from models.metrics import VersionMetrics


def record_row(
    *,
    row: ModelVersion,
    origin: dt.date,
    dates: Sequence[dt.date],
    values: Sequence[float],
    last_close: float,
    intervals: dict[str, dict[str, list[float]]],
) -> dict[str, Any]:
    """A served forecast as the row that remembers it (written by `record_many`)."""
    return {
        "model_version_id": row.id,
        "origin": origin,
        "ticker": row.ticker,
        "dates": [d.isoformat() for d in dates],
        "values": [float(v) for v in values],
        "last_close": float(last_close),
        "intervals": intervals,
        "created_at": utcnow(),
    }


def record_many(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Remember served forecasts in one statement; a second one of the same version and
    origin is ignored (a batch of cold tickers writes its records together, not one
    statement per ticker)."""
    if not rows:
        return
    stmt = upsert_into(session, ForecastRecord).on_conflict_do_nothing(
        index_elements=["model_version_id", "origin"]
    )
    session.execute(stmt, list(rows))


def record(
    session: Session,
    *,
    row: ModelVersion,
    origin: dt.date,
    dates: Sequence[dt.date],
    values: Sequence[float],
    last_close: float,
    intervals: dict[str, dict[str, list[float]]],
) -> None:
    """Remember a served forecast; a second one of the same version and origin is ignored."""
    record_many(
        session,
        [
            record_row(
                row=row,
                origin=origin,
                dates=dates,
                values=values,
                last_close=last_close,
                intervals=intervals,
            )
        ],
    )


@dataclass(frozen=True)
class LiveAccuracy:
    """How a version's served forecasts did once their actual closes arrived."""

    ticker: str
    version: int
    since: dt.date | None  # the first origin considered (None: all)
    recorded: int  # forecasts remembered
    scored: int  # of those, with at least one actual close
    points_scored: list[int] = field(default_factory=list)  # per step
    mae: list[float | None] = field(default_factory=list)
    mae_naive: list[float | None] = field(default_factory=list)
    mae_drift: list[float | None] = field(default_factory=list)
    ratio_vs_naive: list[float | None] = field(default_factory=list)
    ratio_vs_drift: list[float | None] = field(default_factory=list)
    skill_vs_naive: float | None = None
    skill_vs_drift: float | None = None
    coverage: dict[str, float | None] = field(default_factory=dict)


def live_accuracy(
    session: Session, *, ticker: str, version: int | None, days: int | None
) -> LiveAccuracy:
    """Score the version's remembered forecasts (default: the champion's, else the latest's)
    over the last `days` calendar days of origins, against the stored closes, with the
    baselines as the version's backtest scored them (models.evaluate, the one scorer)."""
    row = (
        versions.get_version(session, ticker=ticker, version=version)
        if version is not None
        else versions.resolve_alias(session, ticker=ticker, alias=versions.CHAMPION)
        or versions.latest_ready(session, ticker=ticker)
    )
    since = dt.date.today() - dt.timedelta(days=days) if days is not None else None
    query = select(ForecastRecord).where(ForecastRecord.model_version_id == row.id)
    if since is not None:
        query = query.where(ForecastRecord.origin >= since)
    recorded = list(session.scalars(query.order_by(ForecastRecord.origin)))
    if not recorded:
        return LiveAccuracy(ticker=ticker, version=row.version, since=since, recorded=0, scored=0)
    first = min(r.origin for r in recorded)
    closes = dict(
        session.execute(
            select(PriceBar.day, PriceBar.close).where(
                PriceBar.ticker == ticker,
                PriceBar.day >= first,
                PriceBar.quarantined.is_(False),
            )
        ).all()
    )
    # Scored afresh at every read: a forecast made from a bar that has since been deleted,
    # overwritten or quarantined is left out, and so is one whose values are beyond belief.
    records = [r for r in recorded if _still_sound(r, closes)]
    if not records:
        return LiveAccuracy(
            ticker=ticker, version=row.version, since=since, recorded=len(recorded), scored=0
        )
    horizon = max(len(r.values) for r in records)

    def table(rows: Sequence[Sequence[float | None]]) -> np.ndarray:
        """Ragged rows as (records, horizon) with NaN where a step has no value."""
        out = np.full((len(rows), horizon), np.nan)
        for i, values in enumerate(rows):
            out[i, : len(values)] = [np.nan if v is None else v for v in values]
        return out

    actual = table([[closes.get(dt.date.fromisoformat(d)) for d in r.dates] for r in records])
    last = np.array([r.last_close for r in records])
    test = VersionMetrics.model_validate(row.metrics).test
    bounds = {
        str(level): (
            table([r.intervals.get(str(level), {}).get("lower", []) for r in records]),
            table([r.intervals.get(str(level), {}).get("upper", []) for r in records]),
        )
        for level in REPORTED_LEVELS
    }
    scores = score_partial(
        actual,
        table([r.values for r in records]),
        naive_forecast(last, horizon),
        stored_drift(test, last, horizon),
        bounds,
    )
    return LiveAccuracy(
        ticker=ticker,
        version=row.version,
        since=since,
        recorded=len(recorded),
        scored=int(np.isfinite(actual).any(axis=1).sum()),
        points_scored=scores.points,
        mae=scores.mae,
        mae_naive=scores.mae_naive,
        mae_drift=scores.mae_drift,
        ratio_vs_naive=scores.ratio_vs_naive,
        ratio_vs_drift=scores.ratio_vs_drift,
        skill_vs_naive=scores.skill_vs_naive,
        skill_vs_drift=scores.skill_vs_drift,
        coverage=scores.coverage,
    )


def _still_sound(record: ForecastRecord, closes: dict[dt.date, float]) -> bool:
    """Whether a remembered forecast still stands: the bar it was made from (its origin, whose
    close it kept) is stored as it was, and its values are within MAX_MOVE of that close."""
    stored = closes.get(record.origin)
    last = record.last_close
    if stored is None or not math.isclose(stored, last, rel_tol=1e-9):
        return False
    values = np.asarray(record.values, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = values / last
    sane = np.isfinite(ratio) & (ratio <= MAX_MOVE) & (ratio >= 1 / MAX_MOVE)
    return bool(sane.all())
