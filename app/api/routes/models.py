"""The registry: versions, their backtests, and aliases."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response, status

from app.api.deps import SessionDep
from app.core.errors import ModelNotFound
from app.forecasting import backtests
from app.registry import versions
from app.schemas.common import AliasPath, LevelsQuery, TickerPath, levels_or_default
from app.schemas.models import (
    AliasOut,
    AliasRequest,
    BacktestOut,
    TickerModels,
    VersionDetail,
    VersionSummary,
)

router = APIRouter(prefix="/models", tags=["models"])

VersionPath = Annotated[int, Path(ge=1)]


@router.get("", response_model=list[VersionSummary])
def list_models(session: SessionDep) -> list[VersionSummary]:
    """Every ticker with a model, and its latest version."""
    return [VersionSummary.model_validate(row) for row in versions.list_latest_per_ticker(session)]


@router.get("/{ticker}", response_model=TickerModels)
def list_ticker_versions(ticker: TickerPath, session: SessionDep) -> TickerModels:
    """All versions of a ticker's model, newest first, with their aliases."""
    rows = versions.list_versions(session, ticker=ticker)
    if not rows:
        raise ModelNotFound(f"No model versions for ticker {ticker!r}; train one with POST /train.")
    return TickerModels(ticker=ticker, versions=[VersionSummary.model_validate(r) for r in rows])


@router.get("/{ticker}/versions/{version}", response_model=VersionDetail)
def get_version(ticker: TickerPath, version: VersionPath, session: SessionDep) -> VersionDetail:
    """One version: training config, backtest metrics against baselines, data range and hash."""
    return VersionDetail.model_validate(
        versions.get_version(session, ticker=ticker, version=version)
    )


@router.get(
    "/{ticker}/versions/{version}/backtest",
    response_model=BacktestOut,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def get_backtest(
    ticker: TickerPath,
    version: VersionPath,
    session: SessionDep,
    request: Request,
    level: LevelsQuery = None,
) -> Any:
    """Every walk-forward window: origin, dates, actuals, model, naive, drift, intervals.

    JSON by default; CSV (one line per window and step) with `Accept: text/csv`.
    """
    levels = levels_or_default(level)
    row, record = backtests.load_backtest(session, ticker=ticker, version=version)
    rows = backtests.windows(row, record, levels)
    if "text/csv" in request.headers.get("accept", ""):
        return Response(backtests.to_csv(rows, levels), media_type="text/csv")
    return BacktestOut(
        ticker=ticker,
        version=version,
        levels=levels,
        metrics=(row.metrics or {}).get("test", {}),
        coverage=backtests.coverage_by_level(row, record, levels),
        windows=rows,
    )


@router.put("/{ticker}/aliases/{alias}", response_model=AliasOut)
def put_alias(
    ticker: TickerPath, alias: AliasPath, body: AliasRequest, session: SessionDep
) -> AliasOut:
    """Point an alias (e.g. champion) at a version by hand."""
    versions.lock_ticker(session, ticker=ticker)
    versions.set_alias(session, ticker=ticker, alias=alias, version=body.version)
    return AliasOut(ticker=ticker, alias=alias, version=body.version)


@router.delete("/{ticker}/aliases/{alias}", status_code=status.HTTP_204_NO_CONTENT)
def delete_alias(ticker: TickerPath, alias: AliasPath, session: SessionDep) -> Response:
    """Remove an alias."""
    versions.delete_alias(session, ticker=ticker, alias=alias)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
