"""PUT/GET/DELETE /prices/{ticker}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from app.api.auth import AdminCaller, Caller, ReadCaller
from app.api.concurrency import Turns
from app.api.deps import SessionDep, SettingsDep
from app.api.docs import READ, WRITE, errors
from app.api.examples import ok
from app.api.ratelimit import limited
from app.core.errors import InvalidInput, TickercastError
from app.core.types import Day
from app.prices import service
from app.schemas.common import TickerPath
from app.schemas.prices import (
    BarOut,
    BatchRefreshOut,
    BatchRefreshRequest,
    DeleteOut,
    ImportOut,
    PricesOut,
    RefreshOut,
)
from models.numbers import finite_or_none

router = APIRouter(prefix="/prices", tags=["prices"])

CSV_TYPES = ("text/csv", "text/plain", "application/csv")
CSV_EXAMPLE = (
    "Date,Open,High,Low,Close,Adj Close,Volume\n"
    "2018-12-28,2498.77,2520.27,2472.89,2485.74,2485.74,3702620000\n"
    "2018-12-31,2498.94,2509.24,2482.82,2506.85,2506.85,3442870000\n"
)
CSV_REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}
Start = Annotated[Day | None, Query(description="First day (inclusive)")]
End = Annotated[Day | None, Query(description="Last day (inclusive)")]


class UnsupportedMediaType(TickercastError):
    status, code = 415, "unsupported_media_type"


async def _csv_bytes(request: Request) -> bytes:
    """The CSV of a text/csv body or of a multipart upload's `file` part."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in CSV_TYPES:
        # The body limit is enforced while it is read (app/api/body_limit.py).
        return await request.body()
    if content_type == "multipart/form-data":
        async with request.form(max_files=1, max_fields=10) as form:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise InvalidInput(
                    "The multipart upload needs the CSV as a file part named 'file'."
                )
            return await upload.read()
    raise UnsupportedMediaType(
        f"Content-Type must be text/csv or multipart/form-data (got {content_type or 'none'!r}); "
        "send the file with `curl -T FILE -H 'Content-Type: text/csv'` or `-F file=@FILE`."
    )


@router.put(
    "/{ticker}",
    operation_id="prices_import",
    response_model=ImportOut,
    openapi_extra=CSV_REQUEST_BODY,
    responses={
        **ok(
            {
                "ticker": "^GSPC",
                "rows": 2,
                "first": "2018-12-28",
                "last": "2018-12-31",
                "stored_rows": 5031,
                "implausible": 0,
                "implausible_examples": [],
                "quarantined": 0,
            }
        ),
        **errors(*WRITE, 415, 429),
    },
)
async def import_prices(
    ticker: TickerPath,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _caller: Annotated[Caller, Depends(limited("import"))],
    strict: Annotated[
        bool,
        Query(description="Refuse bars that break OHLC sense or fall on non-sessions (default)"),
    ] = True,
) -> ImportOut:
    """Import daily bars from a CSV (Date,Open,High,Low,Close[,Adj Close][,Volume]).

    The whole file is checked before anything is stored: a bad line refuses it, naming the
    line. Bars already stored for the same days are overwritten.
    """
    # A turn before the body is read: imports waiting for one hold no file (app/api/concurrency.py).
    turns: Turns = request.app.state.import_turns
    async with turns.turn():
        body = await _csv_bytes(request)
        # Parsing, checking and writing take seconds for a long history: in a thread, so that
        # the event loop goes on serving everyone else meanwhile.
        summary = await run_in_threadpool(
            service.import_csv,
            session,
            ticker=ticker,
            text=body,
            calendar=settings.default_calendar,
            strict=strict,
        )
        del body
    return ImportOut.model_validate(summary)


@router.post(
    "/refresh",
    operation_id="prices_refresh_many",
    response_model=BatchRefreshOut,
    responses={
        **ok(
            {
                "count": 2,
                "failed": 1,
                "batches": 1,
                "from_batches": 1,
                "alone": 1,
                "results": [
                    {
                        "ticker": "^GSPC",
                        "status": 200,
                        "refresh": {
                            "ticker": "^GSPC",
                            "source": "yfinance",
                            "fetched": 5,
                            "added": 1,
                            "last": "2019-01-02",
                            "stored_rows": 5032,
                        },
                    },
                    {
                        "ticker": "NOPE",
                        "status": 404,
                        "error": {
                            "status": 404,
                            "code": "no_price_data",
                            "title": "Not Found",
                            "detail": "Yahoo Finance does not know ticker 'NOPE' (HTTP 404)",
                            "errors": [],
                            "request_id": None,
                        },
                    },
                ],
            }
        ),
        **errors(*WRITE, 409),
    },
)
def refresh_many(
    body: BatchRefreshRequest,
    session: SessionDep,
    settings: SettingsDep,
    _caller: Annotated[Caller, Depends(limited("import"))],
) -> BatchRefreshOut:
    """Refresh many tickers from the price source: stored ones in batches (one yfinance call
    per TICKERCAST_REFRESH_BATCH_SIZE tickers), each a batch could not read and each new one
    alone; one failing ticker fails only its own item."""
    done = service.refresh_many_now(session, tickers=body.tickers, settings=settings)
    return BatchRefreshOut.of(
        done.outcomes, batches=done.batches, from_batches=done.from_batches, alone=done.alone
    )


@router.post(
    "/{ticker}/refresh",
    operation_id="prices_refresh",
    response_model=RefreshOut,
    responses={
        **ok(
            {
                "ticker": "^GSPC",
                "source": "yfinance",
                "fetched": 24,
                "added": 19,
                "last": "2018-12-31",
                "stored_rows": 5031,
            }
        ),
        **errors(*WRITE, 409, 429, 502),
    },
)
def refresh_prices(
    ticker: TickerPath,
    session: SessionDep,
    settings: SettingsDep,
    _caller: Annotated[Caller, Depends(limited("import"))],
) -> RefreshOut:
    """Fetch the bars since the newest stored one from the price source (yfinance) and store
    them; forecasts move forward at once (their `data_as_of` shows it)."""
    summary = service.refresh_now(session, ticker=ticker, settings=settings)
    return RefreshOut.model_validate(summary)


@router.get(
    "/{ticker}",
    operation_id="prices_get",
    response_model=PricesOut,
    responses={
        **ok(
            {
                "ticker": "^GSPC",
                "calendar": "XNYS",
                "count": 1,
                "bars": [
                    {
                        "date": "2018-12-31",
                        "open": 2498.94,
                        "high": 2509.24,
                        "low": 2482.82,
                        "close": 2506.85,
                        "adj_close": 2506.85,
                        "volume": 3442870000.0,
                    }
                ],
            }
        ),
        **errors(*READ, 404),
    },
)
def get_prices(
    ticker: TickerPath,
    session: SessionDep,
    _caller: ReadCaller,
    start: Start = None,
    end: End = None,
) -> PricesOut:
    """Stored daily bars of a ticker."""
    calendar, frame = service.read_bars(session, ticker=ticker, start=start, end=end)
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
    return PricesOut(ticker=ticker, calendar=calendar, count=len(bars), bars=bars)


@router.delete(
    "/{ticker}",
    operation_id="prices_delete",
    response_model=DeleteOut,
    responses={
        **ok({"ticker": "^GSPC", "deleted": 3, "stored_rows": 5028}),
        **errors(*READ, 404, 409),
    },
)
def delete_prices(
    ticker: TickerPath,
    session: SessionDep,
    _caller: AdminCaller,
    start: Start = None,
    end: End = None,
) -> DeleteOut:
    """Delete a ticker's bars between start and end (all of them without either; admin key).

    Refused (409) while a job trains on the ticker.
    """
    return DeleteOut.model_validate(
        service.delete_bars(session, ticker=ticker, start=start, end=end)
    )
