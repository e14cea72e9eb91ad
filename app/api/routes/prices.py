"""PUT/GET /prices/{ticker}."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from app.api.deps import SessionDep, SettingsDep
from app.core.errors import InvalidInput, PayloadTooLarge, TickerNotFound
from app.prices import service, store
from app.schemas.common import TickerPath
from app.schemas.prices import BarOut, ImportOut, PricesOut
from models.numbers import finite_or_none

router = APIRouter(prefix="/prices", tags=["prices"])

CSV_EXAMPLE = (
    "Date,Open,High,Low,Close,Adj Close,Volume\n"
    "2018-12-31,2498.94,2509.24,2482.82,2506.85,2506.85,3442870000\n"
)
CSV_REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {"text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE}},
    }
}


@router.put("/{ticker}", response_model=ImportOut, openapi_extra=CSV_REQUEST_BODY)
async def import_prices(
    ticker: TickerPath, request: Request, session: SessionDep, settings: SettingsDep
) -> ImportOut:
    """Import daily bars from a CSV body (Date,Open,High,Low,Close[,Adj Close][,Volume])."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("text/csv", "text/plain", "application/csv"):
        raise InvalidInput(
            f"Content-Type must be text/csv (got {content_type or 'none'!r}); "
            "send the file with `curl -T FILE -H 'Content-Type: text/csv'`."
        )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > settings.max_upload_bytes:
            # Refused while reading: a larger upload is never held in memory whole.
            raise PayloadTooLarge(
                f"CSV body is over the limit of {settings.max_upload_bytes} bytes "
                "(TICKERCAST_MAX_UPLOAD_BYTES); nothing was stored."
            )
    # Parsing and writing take seconds for a long history: off the event loop, in a thread.
    summary = await run_in_threadpool(
        service.import_csv,
        session,
        ticker=ticker,
        text=bytes(body),
        calendar=settings.default_calendar,
    )
    return ImportOut.model_validate(summary)


@router.get("/{ticker}", response_model=PricesOut)
def get_prices(
    ticker: TickerPath,
    session: SessionDep,
    start: Annotated[dt.date | None, Query(description="First day (inclusive)")] = None,
    end: Annotated[dt.date | None, Query(description="Last day (inclusive)")] = None,
) -> PricesOut:
    """Stored daily bars of a ticker."""
    if start is not None and end is not None and start > end:
        raise InvalidInput(f"start ({start}) must not be after end ({end}).")
    info = store.get_ticker(session, ticker=ticker)
    if info is None:
        raise TickerNotFound(ticker)
    frame = store.load_bars(session, ticker=ticker, start=start, end=end)
    bars = [
        BarOut(
            date=day.date(),
            open=row.open,
            high=row.high,
            low=row.low,
            close=row.close,
            adj_close=finite_or_none(row.adj_close),
            volume=finite_or_none(row.volume),
        )
        for day, row in zip(frame.index, frame.itertuples(index=False), strict=True)
    ]
    return PricesOut(ticker=ticker, calendar=info.calendar, count=len(bars), bars=bars)
