"""Forecasts: pick the version, read the latest bars, run ONNX, place points on trading days."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from app.core.errors import InvalidInput, ModelNotFound
from app.db.tables import ModelVersion
from app.forecasting import live
from app.forecasting.predictors import PredictorCache
from app.prices import store
from app.prices.calendars import next_sessions
from app.registry import versions
from app.training.gate import PromoteMode
from models.config import TrainingConfig
from models.evidence import Evidence
from models.features import FeatureScalers, MissingBars
from models.forecasters import Forecaster, NetworkForecaster, from_stored
from models.intervals import REPORTED_LEVELS, Calibration, forecast_history


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
    # Why this version and not the champion, when that needs saying.
    note: str | None = None


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
        return Selection(champ, versions.CHAMPION, True, note=_baseline_champion(session, champ))
    row = versions.latest_ready(session, ticker=ticker)
    return Selection(row, None, False, note=_no_champion(ticker, row))


def _baseline_champion(session: Session, champ: ModelVersion) -> str | None:
    """What a baseline champion is and which network it stands in for, else None."""
    evidence = Evidence.read(champ.metrics, version=champ.version)
    if not evidence.is_baseline:
        return None
    said = f"Version {champ.version} is {evidence.describe()}, champion because no network "
    network = versions.latest_network(session, ticker=champ.ticker)
    if network is None:
        return said + "version has earned it."
    return (
        said + f"version has earned it; the latest network version, {network.version}, is "
        f"served with ?version={network.version}."
    )


def _no_champion(ticker: str, row: ModelVersion) -> str:
    """Why the latest version is served, in words that follow the facts (the figures it lost
    on are the version's own facts, said once by its evidence)."""
    promotion = Evidence.read(row.metrics).promotion
    said = f"{ticker} has no champion, so its latest version, {row.version}, is served."
    if promotion is not None and promotion.earned and promotion.mode == PromoteMode.NEVER:
        return f"{said} Its backtest earned promotion, but it was trained with promote=never."
    if promotion is not None and promotion.earned:
        return f"{said} Its backtest earned promotion; the alias was removed since."
    return f"{said} It did not earn champion."


def _intervals(
    calibration: Calibration, levels: Sequence[int], prices: np.ndarray, closes: np.ndarray
) -> list[list[Interval]]:
    scale = calibration.scale(closes, np.array([len(closes) - 1]))
    per_point: list[list[Interval]] = [[] for _ in prices]
    for level in levels:
        lower, upper = calibration.bounds(prices[None, :], level, scale)
        for i in range(len(prices)):
            per_point[i].append(Interval(level, float(lower[0, i]), float(upper[0, i])))
    return per_point


def remember(
    session: Session,
    row: ModelVersion,
    calibration: Calibration,
    origin: dt.date,
    dates: Sequence[dt.date],
    prices: np.ndarray,
    closes: np.ndarray,
    records: list[dict[str, Any]] | None = None,
) -> None:
    """Keep the full-horizon forecast with its recorded intervals for live scoring: written
    now, or added to `records` for the caller to write with the others of its batch."""
    per_point = _intervals(calibration, REPORTED_LEVELS, prices, closes)
    bounds = {
        str(level): {
            "lower": [p[i].lower for p in per_point],
            "upper": [p[i].upper for p in per_point],
        }
        for i, level in enumerate(REPORTED_LEVELS)
    }
    kept = live.record_row(
        row=row,
        origin=origin,
        dates=dates,
        values=prices.tolist(),
        last_close=float(closes[-1]),
        intervals=bounds,
    )
    if records is None:
        live.record_many(session, [kept])
    else:
        records.append(kept)


def forecaster_of(
    row: ModelVersion,
    session: Session,
    cache: PredictorCache,
    config: TrainingConfig | None = None,
) -> Forecaster:
    """What a stored version serves: a baseline formula, its network through ONNX Runtime
    (the session loaded once per process), or its blend with drift."""
    config = config or TrainingConfig.from_stored(row.config)

    def network() -> NetworkForecaster:
        predictor = cache.get(row.id, lambda: versions.onnx_bytes(session, version_id=row.id))
        return NetworkForecaster(config, FeatureScalers.from_dict(row.scalers), predictor.predict)

    return from_stored(config, row.metrics, network)


def champions(session: Session, tickers: Sequence[str]) -> dict[str, Selection]:
    """The champion's selection of each of these tickers that has one, in one query (and one
    for their aliases): what `select_version` picks when no version or alias is named. A
    ticker without a champion is not in the answer; `select_version` says what it serves."""
    out: dict[str, Selection] = {}
    for row in versions.champions_of(session, tickers=tickers):
        note = _baseline_champion(session, row)
        out[row.ticker] = Selection(row, versions.CHAMPION, True, note=note)
    return out


def forecast(
    session: Session,
    *,
    ticker: str,
    cache: PredictorCache,
    levels: Sequence[int],
    horizon: int | None = None,
    version: int | None = None,
    alias: str | None = None,
    selection: Selection | None = None,
    records: list[dict[str, Any]] | None = None,
) -> Forecast:
    """A multi-step forecast from the stored bars up to the newest one, with intervals.

    A batch passes what it read for all its tickers at once: `selection` (the champion's,
    from `champions`), and `records`, where the forecast's live-accuracy record is added for
    the batch to write together (`live.record_many`) instead of written now.
    """
    if selection is None:
        selection = select_version(session, ticker=ticker, version=version, alias=alias)
    row = selection.row
    versions.require_unpruned(row, use="a forecast")
    config = TrainingConfig.from_stored(row.config)
    steps = config.horizon if horizon is None else horizon
    if not 1 <= steps <= config.horizon:
        raise InvalidInput(
            f"horizon must be between 1 and {config.horizon}, the horizon version "
            f"{row.version} of {ticker} was trained for (got {steps})."
        )
    calibration = Calibration.model_validate(row.calibration)
    forecaster = forecaster_of(row, session, cache, config)
    needed = forecast_history(forecaster.history(), calibration)
    series = store.last_bars(session, ticker=ticker, last=needed)
    if len(series.close) < needed:
        raise InvalidInput(
            f"{ticker} has {len(series.close)} stored bars; version {row.version} needs the "
            f"last {needed} (its input window and its intervals' volatility window)."
        )
    closes = series.close
    origin = np.array([len(closes) - 1])
    try:
        full = forecaster.forecast(series, origin)[0]
    except MissingBars as exc:
        raise InvalidInput(
            f"{ticker}: version {row.version} cannot forecast from the stored bars: {exc}."
        ) from exc
    assert series.day is not None
    as_of: dt.date = series.day[-1].astype(dt.date)
    full_dates = next_sessions(row.calendar, as_of, config.horizon)
    remember(session, row, calibration, as_of, full_dates, full, closes, records)
    prices, dates = full[:steps], full_dates[:steps]
    intervals = _intervals(calibration, sorted(set(levels)), prices, closes)
    evidence = Evidence.read(row.metrics, version=row.version)
    return Forecast(
        ticker=ticker,
        selection=selection,
        data_as_of=as_of,
        last_close=float(closes[-1]),
        points=[
            ForecastPoint(date=d, value=float(v), intervals=iv)
            for d, v, iv in zip(dates, prices, intervals, strict=True)
        ],
        warnings=[w for w in (selection.note, *evidence.facts()) if w],
    )
