"""Live accuracy: every forecast served is remembered once per (version, origin day), and
scored against the closes that arrive later, step by step, with the naive and drift baselines
and the intervals' coverage, as the backtest scores the held-out tail."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.engine import upsert_into
from app.db.tables import ForecastRecord, ModelVersion, PriceBar, utcnow
from app.registry import versions
from models.metrics import DriftMethod, VersionMetrics
from models.numbers import finite_or_none

# The levels every served forecast is remembered with, whatever the request asked.
RECORDED_LEVELS: tuple[int, ...] = (80, 95)


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
    stmt = upsert_into(session, ForecastRecord).values(
        model_version_id=row.id,
        origin=origin,
        ticker=row.ticker,
        dates=[d.isoformat() for d in dates],
        values=[float(v) for v in values],
        last_close=float(last_close),
        intervals=intervals,
        created_at=utcnow(),
    )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["model_version_id", "origin"]))


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


def _drift(metrics: VersionMetrics, last: float, step: int) -> float:
    test = metrics.test
    if test.drift_method == DriftMethod.DOLLAR and test.drift_per_day is not None:
        return last + test.drift_per_day * step
    return last * math.exp((test.mu or 0.0) * step)


def live_accuracy(
    session: Session, *, ticker: str, version: int | None, days: int | None
) -> LiveAccuracy:
    """Score the version's remembered forecasts (default: the champion's, else the latest's)
    over the last `days` calendar days of origins, against the stored closes."""
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
    records = list(session.scalars(query.order_by(ForecastRecord.origin)))
    horizon = max((len(r.values) for r in records), default=0)
    if not records:
        return LiveAccuracy(ticker=ticker, version=row.version, since=since, recorded=0, scored=0)
    first = min(dt.date.fromisoformat(r.dates[0]) for r in records)
    closes = dict(
        session.execute(
            select(PriceBar.day, PriceBar.close).where(
                PriceBar.ticker == ticker, PriceBar.day >= first
            )
        ).all()
    )
    metrics = VersionMetrics.model_validate(row.metrics)
    err: dict[str, list[list[float]]] = {
        name: [[] for _ in range(horizon)] for name in ("model", "naive", "drift")
    }
    inside: dict[str, list[bool]] = {str(level): [] for level in RECORDED_LEVELS}
    scored = 0
    for r in records:
        seen = False
        for k, day in enumerate(r.dates):
            actual = closes.get(dt.date.fromisoformat(day))
            if actual is None:
                continue
            seen = True
            err["model"][k].append(abs(r.values[k] - actual))
            err["naive"][k].append(abs(r.last_close - actual))
            err["drift"][k].append(abs(_drift(metrics, r.last_close, k + 1) - actual))
            for level, bounds in r.intervals.items():
                if level in inside:
                    inside[level].append(bounds["lower"][k] <= actual <= bounds["upper"][k])
        scored += seen

    def mean(values: list[float]) -> float | None:
        return float(np.mean(values)) if values else None

    def ratio(a: float | None, b: float | None) -> float | None:
        return finite_or_none(a / b) if a is not None and b else None

    mae = [mean(v) for v in err["model"]]
    naive = [mean(v) for v in err["naive"]]
    drift = [mean(v) for v in err["drift"]]
    total = {name: sum(sum(v) for v in steps) for name, steps in err.items()}
    return LiveAccuracy(
        ticker=ticker,
        version=row.version,
        since=since,
        recorded=len(records),
        scored=scored,
        points_scored=[len(v) for v in err["model"]],
        mae=mae,
        mae_naive=naive,
        mae_drift=drift,
        ratio_vs_naive=[ratio(m, n) for m, n in zip(mae, naive, strict=True)],
        ratio_vs_drift=[ratio(m, d) for m, d in zip(mae, drift, strict=True)],
        skill_vs_naive=None if not scored else _skill(total["model"], total["naive"]),
        skill_vs_drift=None if not scored else _skill(total["model"], total["drift"]),
        coverage={level: mean([float(x) for x in hits]) for level, hits in inside.items()},
    )


def _skill(model: float, baseline: float) -> float | None:
    return finite_or_none(1.0 - model / baseline) if baseline > 0 else None
