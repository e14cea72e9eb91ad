"""Forecasts: pick the version, read the latest bars, run ONNX, place points on trading days."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

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
from models.backtest import forecast_prices
from models.config import TrainingConfig
from models.features import Bars, FeatureScalers, MissingBars
from models.intervals import Calibration, forecast_history
from models.metrics import VersionMetrics

# An 80% interval whose backtest coverage falls outside this band is called out.
COVERAGE_80_BAND = (0.70, 0.90)


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
        return Selection(champ, versions.CHAMPION, True)
    row = versions.latest_ready(session, ticker=ticker)
    return Selection(row, None, False, note=_no_champion(ticker, row))


def _no_champion(ticker: str, row: ModelVersion) -> str:
    """Why the latest version is served, in words that follow the facts."""
    promotion = VersionMetrics.model_validate(row.metrics).promotion
    said = f"{ticker} has no champion, so its latest version, {row.version}, is served."
    if promotion is not None and promotion.earned and promotion.mode == PromoteMode.NEVER:
        return f"{said} Its backtest earned promotion, but it was trained with promote=never."
    if promotion is not None and promotion.earned:
        return f"{said} Its backtest earned promotion; the alias was removed since."
    why = promotion.reason.rstrip(".") if promotion else "no record"
    return f"{said} It did not earn champion: {why}."


def trust_warnings(row: ModelVersion) -> list[str]:
    """What a reader of this version's forecast should know: every baseline it loses to, at
    which steps, and intervals whose backtest coverage is far from their level."""
    metrics = VersionMetrics.model_validate(row.metrics)
    test = metrics.test
    out = []
    if not test.beats_baselines():
        out.append(
            f"Version {row.version} does not beat both baselines at every step. "
            + (test.baseline_warning() or "")
        )
    coverage = (test.coverage or {}).get("80")
    low, high = COVERAGE_80_BAND
    if coverage is not None and not low <= coverage.overall <= high:
        out.append(
            f"Its 80% intervals held {coverage.overall:.0%} of the backtest's actual closes, "
            f"outside {low:.0%}-{high:.0%}: trust them less."
        )
    if metrics.promotion is not None and metrics.promotion.forced:
        out.append("It was made champion by promote=always, over the gate.")
    return out


def _intervals(
    row: ModelVersion, levels: Sequence[int], prices: np.ndarray, closes: np.ndarray
) -> list[list[Interval]]:
    calibration = Calibration.model_validate(row.calibration)
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
    origin: dt.date,
    dates: Sequence[dt.date],
    prices: np.ndarray,
    closes: np.ndarray,
) -> None:
    """Keep the full-horizon forecast with its recorded intervals for live scoring."""
    per_point = _intervals(row, live.RECORDED_LEVELS, prices, closes)
    bounds = {
        str(level): {
            "lower": [p[i].lower for p in per_point],
            "upper": [p[i].upper for p in per_point],
        }
        for i, level in enumerate(live.RECORDED_LEVELS)
    }
    live.record(
        session,
        row=row,
        origin=origin,
        dates=dates,
        values=prices.tolist(),
        last_close=float(closes[-1]),
        intervals=bounds,
    )


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
    calibration = Calibration.model_validate(row.calibration)
    needed = forecast_history(config, calibration)
    bars = store.load_bars(session, ticker=ticker, last=needed)
    if len(bars) < needed:
        raise InvalidInput(
            f"{ticker} has {len(bars)} stored bars; version {row.version} needs the last "
            f"{needed} (its {config.lookback}-day input window and its intervals' volatility "
            "window)."
        )
    series = Bars.from_frame(bars)
    closes = series.close
    predictor = cache.get(row.id, lambda: versions.onnx_bytes(session, version_id=row.id))
    origin = np.array([len(closes) - 1])
    scalers = FeatureScalers.from_dict(row.scalers)
    try:
        full = forecast_prices(series, origin, config, scalers, predictor.predict)[0]
    except MissingBars as exc:
        raise InvalidInput(
            f"{ticker}: version {row.version} cannot forecast from the stored bars: {exc}."
        ) from exc
    as_of = bars.index[-1].date()
    full_dates = next_sessions(row.calendar, as_of, config.horizon)
    remember(session, row, as_of, full_dates, full, closes)
    prices, dates = full[:steps], full_dates[:steps]
    intervals = _intervals(row, sorted(set(levels)), prices, closes)
    return Forecast(
        ticker=ticker,
        selection=selection,
        data_as_of=as_of,
        last_close=float(closes[-1]),
        points=[
            ForecastPoint(date=d, value=float(v), intervals=iv)
            for d, v, iv in zip(dates, prices, intervals, strict=True)
        ],
        warnings=[w for w in (selection.note, *trust_warnings(row)) if w],
    )
