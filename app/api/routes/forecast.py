"""GET /forecast/{ticker}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import PredictorsDep, SessionDep
from app.forecasting import service
from app.schemas.common import AliasName, LevelsQuery, TickerPath, levels_or_default
from app.schemas.forecast import ForecastOut

router = APIRouter(tags=["forecast"])


@router.get("/forecast/{ticker}", response_model=ForecastOut)
def get_forecast(
    ticker: TickerPath,
    session: SessionDep,
    predictors: PredictorsDep,
    horizon: Annotated[
        int | None, Query(ge=1, le=60, description="Steps, up to the trained horizon")
    ] = None,
    version: Annotated[
        int | None, Query(ge=1, description="Model version (default: the champion)")
    ] = None,
    alias: Annotated[
        AliasName | None, Query(description="Serve the version an alias names")
    ] = None,
    level: LevelsQuery = None,
) -> ForecastOut:
    """Forecast the next trading sessions' closes, with intervals and backtest accuracy."""
    fc = service.forecast(
        session,
        ticker=ticker,
        cache=predictors,
        horizon=horizon,
        version=version,
        alias=alias,
        levels=levels_or_default(level),
    )
    return ForecastOut.from_forecast(fc)
