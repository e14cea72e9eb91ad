"""A version's stored walk-forward backtest, window by window, as JSON rows or CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import ModelNotFound
from app.db.tables import ModelVersion
from app.registry import versions
from models.intervals import Calibration
from models.metrics import VersionMetrics

# A network version's two forecasts: the network as it is and its blend with drift.
OTHER_FORECASTS = ("network", "blend")


def load_backtest(
    session: Session, *, ticker: str, version: int
) -> tuple[ModelVersion, dict[str, Any]]:
    """The version and its stored backtest, or ModelNotFound when it has none (Gone when
    retention pruned it)."""
    row = versions.get_version(session, ticker=ticker, version=version)
    versions.require_unpruned(row, use="its backtest")
    record = session.scalar(select(ModelVersion.backtest).where(ModelVersion.id == row.id))
    if not record:
        raise ModelNotFound(
            f"Version {version} of {ticker!r} has no stored backtest (it predates backtests); "
            "retrain to get one."
        )
    return row, record


def windows(
    row: ModelVersion, record: dict[str, Any], levels: Sequence[int]
) -> list[dict[str, Any]]:
    """One dict per window: origin, dates, actuals, what the version serves (model), a network
    version's network as it is and its blend with drift, the baselines and interval bounds."""
    model = np.asarray(record["model"], dtype=np.float64)
    served = VersionMetrics.model_validate(row.metrics).serves.value
    # What the version serves is `model`; the other of a network version's two forecasts is
    # stored under its own name (versions before blends store neither).
    columns = {
        name: record[name] if name in record else record["model"]
        for name in OTHER_FORECASTS
        if name in record or name == served
    }
    calibration, scale = _calibration(row, record)
    bounds = {
        level: calibration.bounds(model, level, scale)
        for level in levels
        if calibration is not None and level in calibration.levels
    }
    out = []
    for i, as_of in enumerate(record["as_of"]):
        window: dict[str, Any] = {
            "origin": record["dates"][i][0],
            "as_of": as_of,
            "dates": record["dates"][i],
            "actual": record["actual"][i],
            "model": record["model"][i],
            **{name: values[i] for name, values in columns.items()},
            "naive": record["naive"][i],
            "drift": record["drift"][i],
            "intervals": [
                {"level": level, "lower": lo[i].tolist(), "upper": up[i].tolist()}
                for level, (lo, up) in bounds.items()
            ],
        }
        out.append(window)
    return out


def coverage_by_level(
    row: ModelVersion, record: dict[str, Any], levels: Sequence[int]
) -> dict[str, Any]:
    """Empirical coverage and mean width of each requested level over the backtest windows."""
    calibration, scale = _calibration(row, record)
    if calibration is None:
        return {}
    model = np.asarray(record["model"], dtype=np.float64)
    actual = np.asarray(record["actual"], dtype=np.float64)
    known = [level for level in levels if level in calibration.levels]
    covered = calibration.coverage(actual, model, scale, levels=known)
    return {level: figures.model_dump(mode="json") for level, figures in covered.items()}


def _calibration(
    row: ModelVersion, record: dict[str, Any]
) -> tuple[Calibration | None, np.ndarray | None]:
    """The version's calibration and each stored window's interval scale (None: plain)."""
    if not row.calibration:
        return None, None
    scale = record.get("scale")
    return Calibration.model_validate(row.calibration), (
        None if scale is None else np.asarray(scale, dtype=np.float64)
    )


def to_csv(rows: list[dict[str, Any]], levels: Sequence[int]) -> str:
    """Long format: one line per window and step."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    extra = [name for name in OTHER_FORECASTS if rows and name in rows[0]]
    header = ["origin", "as_of", "step", "date", "actual", "model", *extra, "naive", "drift"]
    header += [f"{side}_{level}" for level in levels for side in ("lower", "upper")]
    writer.writerow(header)
    for w in rows:
        by_level = {iv["level"]: iv for iv in w["intervals"]}
        for k, day in enumerate(w["dates"]):
            line: list[Any] = [w["origin"], w["as_of"], k + 1, day]
            line += [w[name][k] for name in ("actual", "model", *extra, "naive", "drift")]
            for level in levels:
                iv = by_level.get(level)
                line += [iv["lower"][k], iv["upper"][k]] if iv else ["", ""]
            writer.writerow(line)
    return buffer.getvalue()


@dataclass(frozen=True)
class BacktestReport:
    """A version's backtest as the API shows it: summary, coverage per level, every window."""

    ticker: str
    version: int
    levels: list[int]
    metrics: dict[str, Any]
    coverage: dict[str, Any]
    windows: list[dict[str, Any]]

    def csv(self) -> str:
        """The windows as CSV, one line per window and step (Accept: text/csv)."""
        return to_csv(self.windows, self.levels)


def report(session: Session, *, ticker: str, version: int, levels: list[int]) -> BacktestReport:
    """Everything GET /models/{ticker}/versions/{v}/backtest answers."""
    row, record = load_backtest(session, ticker=ticker, version=version)
    return BacktestReport(
        ticker=ticker,
        version=version,
        levels=levels,
        metrics=VersionMetrics.model_validate(row.metrics).test.model_dump(mode="json"),
        coverage=coverage_by_level(row, record, levels),
        windows=windows(row, record, levels),
    )
