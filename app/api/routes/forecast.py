"""GET /forecast/{ticker}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.auth import ReadCaller
from app.api.deps import PredictorsDep, SessionDep
from app.api.docs import READ, errors
from app.api.examples import FORECAST, ok
from app.forecasting import service
from app.schemas.common import MAX_VERSION, AliasName, LevelsQuery, TickerPath, levels_or_default
from app.schemas.forecast import ForecastOut

router = APIRouter(tags=["forecast"])


@router.get(
    "/forecast/{ticker}",
    operation_id="forecast_get",
    response_model=ForecastOut,
    responses={**ok(FORECAST), **errors(*READ, 404)},
)
def get_forecast(
    ticker: TickerPath,
    session: SessionDep,
    predictors: PredictorsDep,
    _caller: ReadCaller,
    horizon: Annotated[
        int | None, Query(ge=1, le=60, description="Steps, up to the trained horizon")
    ] = None,
    version: Annotated[
        int | None, Query(ge=1, le=MAX_VERSION, description="Model version (default: champion)")
    ] = None,
    alias: Annotated[
        AliasName | None, Query(description="Serve the version an alias names")
    ] = None,
    level: LevelsQuery = None,
) -> ForecastOut:
    """Forecast the next trading sessions' closes, with intervals and backtest accuracy.

    Serves the `champion` unless `version` or `alias` names another; the answer says which
    version served it, how it did against the naive and drift baselines, and warns when it
    does not beat them.
    """
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
