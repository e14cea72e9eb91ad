"""Forecasts: pick the version, read the latest bars, run ONNX, place points on trading days."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy.orm import Session

from app.core.errors import InvalidInput, ModelNotFound
from app.db.tables import ModelVersion
from app.forecasting.predictors import PredictorCache
from app.prices import store
from app.prices.calendars import next_sessions
from app.registry import versions
from models.backtest import forecast_prices, interval_bounds
from models.config import TrainingConfig
from models.features import FeatureScalers, min_history


@dataclass(frozen=True)
class Interval:
    level: int
    lower: float
    upper: float


@dataclass(frozen=True)
class ForecastPoint:
    date: dt.date
    value: float
    intervals: list[Interval] = field(default_factory=list)


@dataclass(frozen=True)
class Selection:
    """Which version serves a forecast, and why."""

    row: ModelVersion
    alias: str | None
    is_champion: bool
    warning: str | None = None


@dataclass(frozen=True)
class Forecast:
    ticker: str
    selection: Selection
    data_as_of: dt.date
    last_close: float
    points: list[ForecastPoint]
    warnings: list[str]


def _known_aliases(session: Session, ticker: str) -> list[str]:
    names = versions.aliases_by_version(session, ticker=ticker).values()
    return sorted({alias for aliases in names for alias in aliases})


def select_version(
    session: Session, *, ticker: str, version: int | None = None, alias: str | None = None
) -> Selection:
    """The version named, the alias named, else the champion, else the latest ready one."""
    if version is not None and alias is not None:
        raise InvalidInput("Give either version or alias, not both.")
    champ = versions.resolve_alias(session, ticker=ticker, alias=versions.CHAMPION)
    if version is not None:
        row = versions.get_version(session, ticker=ticker, version=version)
        return Selection(row, None, champ is not None and champ.id == row.id)
    if alias is not None:
        named = versions.resolve_alias(session, ticker=ticker, alias=alias)
        if named is None:
            raise ModelNotFound(
                f"Ticker {ticker!r} has no alias {alias!r} "
                f"(known aliases: {_known_aliases(session, ticker) or 'none'})."
            )
        return Selection(named, alias, champ is not None and champ.id == named.id)
    if champ is not None:
        return Selection(champ, versions.CHAMPION, True)
    row = versions.latest_ready(session, ticker=ticker)
    return Selection(
        row,
        None,
        False,
        warning=f"No version of {ticker} has earned 'champion' (positive backtest skill against "
        f"the naive forecast); serving the latest version, {row.version}, which has not.",
    )


def _intervals(
    row: ModelVersion, levels: Sequence[int], prices: np.ndarray
) -> list[list[Interval]]:
    half_widths = row.calibration["half_widths"] if row.calibration else {}
    per_point: list[list[Interval]] = [[] for _ in prices]
    for level in levels:
        lower, upper = interval_bounds(prices, half_widths[str(level)])
        for i in range(len(prices)):
            per_point[i].append(Interval(level, float(lower[i]), float(upper[i])))
    return per_point


def forecast(
    session: Session,
    *,
    ticker: str,
    cache: PredictorCache,
    levels: Sequence[int],
    horizon: int | None = None,
    version: int | None = None,
    alias: str | None = None,
) -> Forecast:
    """A multi-step forecast from the stored bars up to the newest one, with intervals."""
    selection = select_version(session, ticker=ticker, version=version, alias=alias)
    row = selection.row
    config = TrainingConfig.from_stored(row.config)
    steps = config.horizon if horizon is None else horizon
    if not 1 <= steps <= config.horizon:
        raise InvalidInput(
            f"horizon must be between 1 and {config.horizon}, the horizon version "
            f"{row.version} of {ticker} was trained for (got {steps})."
        )
    needed = min_history(config)
    bars = store.load_bars(session, ticker=ticker, last=needed)
    if len(bars) < needed:
        raise InvalidInput(
            f"{ticker} has {len(bars)} stored bars; version {row.version} needs the last "
            f"{needed} (lookback {config.lookback} + 1)."
        )
    closes = bars["close"].to_numpy(dtype=np.float64)
    predictor = cache.get(row.id, lambda: versions.onnx_bytes(session, version_id=row.id))
    origin = np.array([len(closes) - 1])
    scalers = FeatureScalers.from_dict(row.scalers)
    prices = forecast_prices(closes, origin, config, scalers, predictor.predict)[0][:steps]
    as_of = bars.index[-1].date()
    dates = next_sessions(row.calendar, as_of, steps)
    intervals = _intervals(row, sorted(set(levels)), prices)
    return Forecast(
        ticker=ticker,
        selection=selection,
        data_as_of=as_of,
        last_close=float(closes[-1]),
        points=[
            ForecastPoint(date=d, value=float(v), intervals=iv)
            for d, v, iv in zip(dates, prices, intervals, strict=True)
        ],
        warnings=[selection.warning] if selection.warning else [],
    )
