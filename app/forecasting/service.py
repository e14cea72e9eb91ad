"""Forecasts: pick the version, read the latest bars, run ONNX, place points on trading days."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy.orm import Session

from app.core.errors import InvalidInput, ModelNotFound
from app.db.tables import ModelVersion
from app.forecasting.sessions import PredictorCache
from app.prices import store
from app.prices.calendars import next_sessions
from app.registry import versions
from app.registry.champion import CHAMPION, version_config
from models.features import FeatureScalers, decode_outputs, encode_inputs
from models.intervals import Calibration, forecast_history


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

    version: ModelVersion
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


def select_version(
    session: Session, *, ticker: str, version: int | None = None, alias: str | None = None
) -> Selection:
    """The version named, the alias named, else the champion, else the latest ready one."""
    if version is not None and alias is not None:
        raise InvalidInput("Give either version or alias, not both.")
    champ = versions.resolve_alias(session, ticker=ticker, alias=CHAMPION)
    if version is not None:
        row = versions.get_version(session, ticker=ticker, version=version)
        return Selection(row, None, champ is not None and champ.id == row.id)
    if alias is not None:
        row_or_none = versions.resolve_alias(session, ticker=ticker, alias=alias)
        if row_or_none is None:
            known = sorted(
                {
                    a
                    for names in versions.aliases_by_version(session, ticker=ticker).values()
                    for a in names
                }
            )
            raise ModelNotFound(
                f"Ticker {ticker!r} has no alias {alias!r} (known aliases: {known or 'none'})."
            )
        return Selection(row_or_none, alias, champ is not None and champ.id == row_or_none.id)
    if champ is not None:
        return Selection(champ, CHAMPION, True)
    row = versions.latest_ready(session, ticker=ticker)
    return Selection(
        row,
        None,
        False,
        warning=f"No version of {ticker} has earned 'champion' (positive backtest skill against "
        f"the naive forecast); serving the latest version, {row.version}, which has not.",
    )


def _intervals(
    row: ModelVersion, levels: Sequence[int], prices: np.ndarray, closes: np.ndarray
) -> tuple[list[list[Interval]], str | None]:
    if not levels:
        return [[] for _ in prices], None
    if not row.calibration:
        return [[] for _ in prices], (
            f"Version {row.version} was registered before intervals were calibrated; "
            "retrain it to get intervals."
        )
    calibration = Calibration.model_validate(row.calibration)
    scale = calibration.scale(closes, np.array([len(closes) - 1]))
    per_point: list[list[Interval]] = [[] for _ in prices]
    for level in levels:
        lower, upper = calibration.bounds(prices[None, :], level, scale)
        for i in range(len(prices)):
            per_point[i].append(Interval(level, float(lower[0, i]), float(upper[0, i])))
    return per_point, None


def forecast(
    session: Session,
    *,
    ticker: str,
    cache: PredictorCache,
    horizon: int | None = None,
    version: int | None = None,
    alias: str | None = None,
    levels: Sequence[int] = (80, 95),
) -> Forecast:
    """A multi-step forecast from the stored bars up to the newest one, with intervals."""
    selection = select_version(session, ticker=ticker, version=version, alias=alias)
    row = selection.version
    config = version_config(row)
    steps = config.horizon if horizon is None else horizon
    if not 1 <= steps <= config.horizon:
        raise InvalidInput(
            f"horizon must be between 1 and {config.horizon}, the horizon version "
            f"{row.version} of {ticker} was trained for (got {steps})."
        )
    bad = [level for level in levels if not 1 <= level <= 99]
    if bad:
        raise InvalidInput(f"level must be between 1 and 99 (percent); got {bad}.")
    calibration = Calibration.model_validate(row.calibration) if row.calibration else None
    needed = forecast_history(config, calibration)
    bars = store.load_bars(session, ticker=ticker, last=needed)
    if len(bars) < needed:
        raise InvalidInput(
            f"{ticker} has {len(bars)} stored bars; version {row.version} needs the last "
            f"{needed} (its input window and its intervals' volatility window)."
        )
    closes = bars["close"].to_numpy(dtype=np.float64)
    origin = np.array([len(closes) - 1])
    scalers = FeatureScalers.from_dict(row.scalers)
    x = encode_inputs(closes, origin, config, scalers)
    predictor = cache.get(row.id, lambda: versions.onnx_bytes(session, version_id=row.id))
    prices = decode_outputs(predictor.predict(x), closes[origin], config, scalers)[0][:steps]
    intervals, interval_warning = _intervals(row, sorted(set(levels)), prices, closes)
    as_of = bars.index[-1].date()
    dates = next_sessions(row.calendar, as_of, steps)
    warnings = [w for w in (selection.warning, interval_warning) if w]
    return Forecast(
        ticker=ticker,
        selection=selection,
        data_as_of=as_of,
        last_close=float(closes[-1]),
        points=[
            ForecastPoint(date=d, value=float(v), intervals=iv)
            for d, v, iv in zip(dates, prices, intervals, strict=True)
        ],
        warnings=warnings,
    )
