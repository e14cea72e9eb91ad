"""GET /models: the registry."""

from __future__ import annotations

from fastapi import APIRouter, Path

from app.api.deps import SessionDep
from app.core.errors import ModelNotFound
from app.registry import versions
from app.schemas.common import TickerPath
from app.schemas.models import TickerModels, VersionDetail, VersionSummary

router = APIRouter(prefix="/models", tags=["models"])


@router.get("", response_model=list[VersionSummary])
def list_models(session: SessionDep) -> list[VersionSummary]:
    """Every ticker with a model, and its latest version."""
    return [VersionSummary.from_row(row) for row in versions.list_latest_per_ticker(session)]


@router.get("/{ticker}", response_model=TickerModels)
def list_ticker_versions(ticker: TickerPath, session: SessionDep) -> TickerModels:
    """All versions of a ticker's model, newest first."""
    rows = versions.list_versions(session, ticker=ticker)
    if not rows:
        raise ModelNotFound(f"No model versions for ticker {ticker!r}; train one with POST /train.")
    aliases = versions.aliases_by_version(session, ticker=ticker)
    return TickerModels(
        ticker=ticker,
        versions=[VersionSummary.from_row(r, aliases.get(r.version)) for r in rows],
    )


@router.get("/{ticker}/versions/{version}", response_model=VersionDetail)
def get_version(
    ticker: TickerPath, session: SessionDep, version: int = Path(ge=1)
) -> VersionDetail:
    """One version: training config, metrics against naive, data range and hash."""
    row = versions.get_version(session, ticker=ticker, version=version)
    aliases = versions.aliases_by_version(session, ticker=ticker)
    return VersionDetail.from_row(row, aliases.get(version))
