"""The registry: versions, their backtests, and aliases."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, Response, status

from app.api import conditional
from app.api.auth import AdminCaller, ReadCaller
from app.api.deps import SessionDep, SettingsDep
from app.api.docs import NOT_MODIFIED, READ, errors
from app.api.examples import BACKTEST, LIVE, VERSION, ok
from app.core.types import MAX_VERSION
from app.forecasting import backtests, live
from app.registry import versions
from app.schemas.common import MAX_OFFSET, AliasPath, LevelsQuery, TickerPath, levels_or_default
from app.schemas.models import (
    AliasOut,
    AliasRequest,
    BacktestOut,
    LiveAccuracyOut,
    TickerModels,
    VersionDetail,
    VersionSummary,
)

router = APIRouter(prefix="/models", tags=["models"])

VersionPath = Annotated[int, Path(ge=1, le=MAX_VERSION, description="Version number")]


@router.get(
    "",
    operation_id="models_list",
    response_model=list[VersionSummary],
    responses={**ok([VERSION]), **errors(*READ)},
)
def list_models(
    session: SessionDep,
    _caller: ReadCaller,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[VersionSummary]:
    """Every ticker with a model and its latest version, by ticker, a page at a time."""
    rows = versions.list_latest_per_ticker(session, limit=limit, offset=offset)
    return [VersionSummary.model_validate(row) for row in rows]


@router.get(
    "/{ticker}",
    operation_id="model_versions",
    response_model=TickerModels,
    responses={
        **ok({"ticker": "^GSPC", "versions": [VERSION]}),
        **NOT_MODIFIED,
        **errors(*READ, 404),
    },
)
def list_ticker_versions(
    ticker: TickerPath,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
    _caller: ReadCaller,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Any:
    """The versions of a ticker's model, newest first, with their aliases, a page at a time.

    Its `ETag` stands until a version is registered or an alias moves (or a bar is written):
    send it back as `If-None-Match` for a 304 with no body.
    """
    etag = conditional.serving_tag(
        settings.resolved_database_url(), ticker, "model_versions", limit, offset
    )
    if conditional.fresh(request, etag):
        return conditional.not_modified(etag, settings)
    rows = versions.list_versions(session, ticker=ticker, limit=limit, offset=offset)
    response.headers.update(conditional.headers(etag, settings))
    return TickerModels(ticker=ticker, versions=[VersionSummary.model_validate(r) for r in rows])


@router.get(
    "/{ticker}/versions/{version}",
    operation_id="version_get",
    response_model=VersionDetail,
    responses={
        **ok(VERSION, description="The version, its config, metrics and provenance"),
        **errors(*READ, 404),
    },
)
def get_version(
    ticker: TickerPath, version: VersionPath, session: SessionDep, _caller: ReadCaller
) -> VersionDetail:
    """One version: training config, backtest metrics against baselines, data range and hash,
    and its lineage when it was warm-started from another version."""
    row, lineage = versions.version_with_lineage(session, ticker=ticker, version=version)
    return VersionDetail.of(row, lineage)


@router.get(
    "/{ticker}/versions/{version}/backtest",
    operation_id="backtest_get",
    response_model=BacktestOut,
    responses={
        200: {
            "content": {
                "application/json": {"example": BACKTEST},
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": "origin,as_of,step,date,actual,model,naive,drift,lower_80,upper_80\n"
                    "2016-01-04,2015-12-31,1,2016-01-04,2012.66,2043.1,2043.94,2044.03,2018.0,"
                    "2068.5\n",
                },
            }
        },
        **NOT_MODIFIED,
        **errors(*READ, 404, 410),
    },
)
def get_backtest(
    ticker: TickerPath,
    version: VersionPath,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
    _caller: ReadCaller,
    level: LevelsQuery = None,
) -> Any:
    """Every walk-forward window: origin, dates, actuals, model, naive, drift, intervals.

    JSON by default; CSV (one line per window and step) with `Accept: text/csv`. Its `ETag`
    (one per version, levels and format) answers `If-None-Match` with a 304 and no body.
    """
    levels = levels_or_default(level)
    csv = "text/csv" in request.headers.get("accept", "")
    etag = conditional.serving_tag(
        settings.resolved_database_url(), ticker, "backtest", version, tuple(levels), csv
    )
    if conditional.fresh(request, etag):
        return conditional.not_modified(etag, settings, vary="Accept")
    report = backtests.report(session, ticker=ticker, version=version, levels=levels)
    tagged = conditional.headers(etag, settings, vary="Accept")
    if csv:
        return Response(report.csv(), media_type="text/csv", headers=tagged)
    response.headers.update(tagged)
    return BacktestOut.model_validate(report)


@router.get(
    "/{ticker}/live-accuracy",
    operation_id="live_accuracy_get",
    response_model=LiveAccuracyOut,
    responses={**ok(LIVE), **errors(*READ, 404)},
)
def get_live_accuracy(
    ticker: TickerPath,
    session: SessionDep,
    _caller: ReadCaller,
    version: Annotated[
        int | None, Query(ge=1, le=MAX_VERSION, description="Version (default: champion)")
    ] = None,
    days: Annotated[
        int | None, Query(ge=1, le=3650, description="Only forecasts made in the last N days")
    ] = None,
) -> LiveAccuracyOut:
    """How the served forecasts did once their actual closes arrived: MAE against naive and
    drift per step, and interval coverage, with how many forecasts were scored."""
    return LiveAccuracyOut.model_validate(
        live.live_accuracy(session, ticker=ticker, version=version, days=days)
    )


@router.put(
    "/{ticker}/aliases/{alias}",
    operation_id="alias_set",
    response_model=AliasOut,
    responses={
        **ok({"ticker": "^GSPC", "alias": "champion", "version": 3}),
        **errors(*READ, 404, 410),
    },
)
def put_alias(
    ticker: TickerPath,
    alias: AliasPath,
    body: Annotated[AliasRequest, Body(openapi_examples={"v3": {"value": {"version": 3}}})],
    session: SessionDep,
    _caller: AdminCaller,
) -> AliasOut:
    """Point an alias (e.g. champion) at a version by hand (admin key)."""
    versions.move_alias(session, ticker=ticker, alias=alias, version=body.version)
    return AliasOut(ticker=ticker, alias=alias, version=body.version)


@router.delete(
    "/{ticker}/aliases/{alias}",
    operation_id="alias_delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(*READ, 404),
)
def delete_alias(
    ticker: TickerPath, alias: AliasPath, session: SessionDep, _caller: AdminCaller
) -> Response:
    """Remove an alias (admin key)."""
    versions.delete_alias(session, ticker=ticker, alias=alias)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
