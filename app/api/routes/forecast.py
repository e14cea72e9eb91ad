"""GET /forecast/{ticker}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import PredictorsDep, SessionDep
from app.forecasting import service
from app.schemas.common import TickerPath
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
        int | None, Query(ge=1, description="Model version (default: latest ready)")
    ] = None,
) -> ForecastOut:
    """Forecast the next trading sessions' closes from the registered model."""
    fc = service.forecast(
        session, ticker=ticker, cache=predictors, horizon=horizon, version=version
    )
    return ForecastOut.from_forecast(fc)
