"""GET /forecast/{ticker} and POST /forecasts (many tickers in one round trip)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from app.api import conditional
from app.api.auth import ReadCaller
from app.api.docs import NOT_MODIFIED, READ, errors
from app.api.examples import FORECAST, ok
from app.core.types import MAX_VERSION
from app.forecasting import serving
from app.forecasting.cache import ForecastRequest
from app.schemas.common import AliasName, LevelsQuery, TickerPath, levels_or_default
from app.schemas.forecast import (
    MAX_HORIZON,
    ForecastBatchOut,
    ForecastBatchRequest,
    ForecastOut,
)

router = APIRouter(tags=["forecast"])

JSON = "application/json"


# `async def` with the blocking part (one SQL read, and on a miss the forecast) in one worker
# thread: a `def` route hops to a thread for itself, for its serialization and for each `def`
# dependency. The app's services come from `request.app.state` rather than a dependency
# each: resolving dependencies is most of what a cached forecast costs (BENCHMARKS.md).
@router.get(
    "/forecast/{ticker}",
    operation_id="forecast_get",
    response_model=ForecastOut,
    responses={**ok(FORECAST), **NOT_MODIFIED, **errors(*READ, 404, 410)},
)
async def get_forecast(
    ticker: TickerPath,
    http: Request,
    _caller: ReadCaller,
    horizon: Annotated[
        int | None,
        Query(ge=1, le=MAX_HORIZON, description="Steps, up to the trained horizon"),
    ] = None,
    version: Annotated[
        int | None, Query(ge=1, le=MAX_VERSION, description="Model version (default: champion)")
    ] = None,
    alias: Annotated[
        AliasName | None, Query(description="Serve the version an alias names")
    ] = None,
    level: LevelsQuery = None,
) -> Response:
    """Forecast the next trading sessions' closes, with intervals and backtest accuracy.

    Serves the `champion` unless `version` or `alias` names another; the answer says which
    version served it, how it did against the naive and drift baselines, and warns when it
    does not beat them. Its `ETag` stands until the ticker's bars, versions or aliases
    change: send it back as `If-None-Match` and an unchanged forecast is a 304 with no body.
    """
    request = ForecastRequest(
        ticker=ticker,
        levels=tuple(levels_or_default(level)),
        horizon=horizon,
        version=version,
        alias=alias,
    )
    state = http.app.state
    token, body = await run_in_threadpool(
        serving.forecast_json,
        state.database_url,
        request=request,
        cache=state.forecasts,
        predictors=state.predictors,
    )
    etag = conditional.forecast_tag(token, request)
    if conditional.fresh(http, etag):
        return conditional.not_modified(etag, state.settings)
    return Response(body, media_type=JSON, headers=conditional.headers(etag, state.settings))


@router.post(
    "/forecasts",
    operation_id="forecast_batch",
    response_model=ForecastBatchOut,
    responses=errors(*READ, 413),
)
async def post_forecasts(
    body: ForecastBatchRequest,
    http: Request,
    _caller: ReadCaller,
) -> Response:
    """Forecast many tickers in one round trip, each from its own served version.

    Every ticker gets the answer `GET /forecast/{ticker}?horizon=&level=` would give it, in
    the order asked: its forecast, or its error inline (`status` 404 for an unknown ticker
    or one without a version, 422 for a horizon longer than its version's, 500
    `model_corrupted` for one whose stored graph no longer matches its SHA-256), so one bad
    ticker fails only its own item. More tickers than the limit is a 422 naming `tickers`.
    """
    state = http.app.state
    answer = await run_in_threadpool(
        serving.forecast_batch_json,
        state.database_url,
        tickers=body.tickers,
        levels=tuple(levels_or_default(body.level)),
        horizon=body.horizon,
        cache=state.forecasts,
        predictors=state.predictors,
    )
    return Response(answer, media_type=JSON)
