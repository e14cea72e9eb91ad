"""Aggregate queries on the `training_job` table, for /metrics: counts and duration buckets.

The database does the counting, so a scrape costs two grouped queries however many jobs the
table holds.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Float, case, cast, func, select
from sqlalchemy.orm import Session

from app.db.tables import TrainingJob

UNKNOWN_MODEL_TYPE = "unknown"


@dataclass(frozen=True)
class StateCount:
    status: str
    model_type: str
    backend: str
    count: int


@dataclass(frozen=True)
class DurationHistogram:
    """Finished jobs of one outcome and model type; counts[i] = jobs that took <= buckets[i]."""

    status: str
    model_type: str
    buckets: tuple[float, ...]
    counts: tuple[int, ...]
    count: int
    total: float  # seconds


def _model_type() -> ColumnElement[str]:
    return func.coalesce(TrainingJob.config["model_type"].as_string(), UNKNOWN_MODEL_TYPE)


def _seconds(session: Session) -> ColumnElement[float]:
    """finished_at - started_at in seconds, in the database's own dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.extract("epoch", TrainingJob.finished_at - TrainingJob.started_at), Float)
    # SQLite stores the timestamps as ISO text; julianday() reads them in days.
    return (func.julianday(TrainingJob.finished_at) - func.julianday(TrainingJob.started_at)) * (
        86400.0
    )


def count_by_state(session: Session, *, statuses: Collection[str]) -> list[StateCount]:
    """How many jobs are in each of these statuses, by model type and backend."""
    model_type = _model_type()
    rows = session.execute(
        select(TrainingJob.status, model_type, TrainingJob.backend, func.count())
        .where(TrainingJob.status.in_(statuses))
        .group_by(TrainingJob.status, model_type, TrainingJob.backend)
    ).all()
    return [StateCount(s, m, b, int(n)) for s, m, b, n in rows]


def duration_histogram(
    session: Session, *, statuses: Collection[str], buckets: Sequence[float]
) -> list[DurationHistogram]:
    """Cumulative duration buckets of the started jobs that finished in these statuses."""
    model_type = _model_type()
    seconds = _seconds(session)
    bucket_columns = [func.sum(case((seconds <= bound, 1), else_=0)) for bound in buckets]
    rows = session.execute(
        select(
            TrainingJob.status,
            model_type,
            func.count(),
            func.coalesce(func.sum(seconds), 0.0),
            *bucket_columns,
        )
        .where(
            TrainingJob.status.in_(statuses),
            TrainingJob.started_at.is_not(None),
            TrainingJob.finished_at.is_not(None),
        )
        .group_by(TrainingJob.status, model_type)
    ).all()
    return [
        DurationHistogram(
            status=row[0],
            model_type=row[1],
            buckets=tuple(buckets),
            counts=tuple(int(c or 0) for c in row[4:]),
            count=int(row[2]),
            total=float(row[3]),
        )
        for row in rows
    ]
