"""GET /tickers: the tickers with stored prices (the page's search box reads it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.auth import ReadCaller
from app.api.deps import SessionDep
from app.api.docs import READ, errors
from app.api.examples import ok
from app.prices import store
from app.schemas.common import MAX_OFFSET
from app.schemas.tickers import TickerOut

router = APIRouter(tags=["prices"])


@router.get(
    "/tickers",
    operation_id="tickers_list",
    response_model=list[TickerOut],
    responses={
        **ok(
            [
                {
                    "ticker": "^GSPC",
                    "calendar": "XNYS",
                    "source": "csv",
                    "first": "1999-01-04",
                    "last": "2018-12-31",
                    "bars": 5031,
                }
            ]
        ),
        **errors(*READ),
    },
)
def list_tickers(
    session: SessionDep,
    _caller: ReadCaller,
    q: Annotated[
        str | None, Query(max_length=15, description="Keep symbols containing this text")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[TickerOut]:
    """Tickers with stored prices, in symbol order, with their date range and bar count."""
    rows = store.list_tickers(session, contains=q, limit=limit, offset=offset)
    return [
        TickerOut(
            ticker=info.symbol,
            calendar=info.calendar,
            source=info.source,
            first=first,
            last=last,
            bars=count,
        )
        for info, first, last, count in rows
    ]
