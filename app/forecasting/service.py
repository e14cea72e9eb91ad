"""Forecasts: pick the version, read the latest bars, run ONNX, place points on trading days."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session

from app.core.errors import InvalidInput
from app.db.tables import ModelVersion
from app.forecasting.sessions import PredictorCache
from app.prices import store
from app.prices.calendars import next_sessions
from app.registry import versions
from models.config import TrainingConfig
from models.features import FeatureScalers, decode_outputs, encode_inputs, min_history


@dataclass(frozen=True)
class ForecastPoint:
    date: dt.date
    value: float


@dataclass(frozen=True)
class Forecast:
    ticker: str
    version: ModelVersion
    data_as_of: dt.date
    last_close: float
    points: list[ForecastPoint]


def select_version(session: Session, *, ticker: str, version: int | None = None) -> ModelVersion:
    """The version named, or the latest ready one."""
    if version is not None:
        return versions.get_version(session, ticker=ticker, version=version)
    return versions.latest_ready(session, ticker=ticker)


def forecast(
    session: Session,
    *,
    ticker: str,
    cache: PredictorCache,
    horizon: int | None = None,
    version: int | None = None,
) -> Forecast:
    """A multi-step forecast from the stored bars up to the newest one."""
    row = select_version(session, ticker=ticker, version=version)
    config = TrainingConfig.from_dict(
        {k: v for k, v in row.config.items() if k in TrainingConfig.__dataclass_fields__}
    )
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
    origin = np.array([len(closes) - 1])
    scalers = FeatureScalers.from_dict(row.scalers)
    x = encode_inputs(closes, origin, config, scalers)
    predictor = cache.get(row.id, lambda: versions.onnx_bytes(session, version_id=row.id))
    y = predictor.predict(x)
    prices = decode_outputs(y, closes[origin], config, scalers)[0][:steps]
    as_of = bars.index[-1].date()
    dates = next_sessions(row.calendar, as_of, steps)
    return Forecast(
        ticker=ticker,
        version=row,
        data_as_of=as_of,
        last_close=float(closes[-1]),
        points=[ForecastPoint(date=d, value=float(v)) for d, v in zip(dates, prices, strict=True)],
    )
