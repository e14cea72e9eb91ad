"""Price service functions: import a CSV, refresh from the source, read for training."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from importlib import resources

import pandas as pd
from sqlalchemy.orm import Session

from app.core.errors import (
    Conflict,
    CsvFormatError,
    InvalidInput,
    PriceSourceError,
    TickerNotFound,
)
from app.jobs.service import jobs_running_on
from app.observability.metrics import PRICE_SOURCE_ERRORS
from app.prices import store
from app.prices.checks import Implausible, implausible_bars
from app.prices.csv_format import parse_price_csv_lines
from app.prices.sources import PriceSource

SAMPLE_TICKER = "^GSPC"
# Re-fetch a few sessions before the newest stored bar: the source may revise recent bars.
REFRESH_OVERLAP_DAYS = 7


# Implausible bars quoted in an answer; the count says how many there were in all.
MAX_QUOTED = 10


@dataclass(frozen=True)
class ImportSummary:
    """What an import or refresh stored."""

    ticker: str
    rows: int
    first: dt.date | None
    last: dt.date | None
    stored_rows: int
    # Bars kept although they break OHLC sense or fall on a non-session (strict=false).
    implausible: int = 0
    implausible_examples: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DeleteSummary:
    """What a delete removed."""

    ticker: str
    deleted: int
    stored_rows: int


@dataclass(frozen=True)
class RefreshOutcome:
    """The bars a job trains on, and what happened when the source was asked."""

    frame: pd.DataFrame
    calendar: str
    note: str | None


def _summary(
    session: Session, ticker: str, frame: pd.DataFrame, odd: list[Implausible]
) -> ImportSummary:
    span = store.bar_range(session, ticker=ticker)
    return ImportSummary(
        ticker=ticker,
        rows=len(frame),
        first=frame.index[0].date() if len(frame) else None,
        last=frame.index[-1].date() if len(frame) else None,
        stored_rows=span[2] if span else 0,
        implausible=len(odd),
        implausible_examples=[str(bar) for bar in odd[:MAX_QUOTED]],
    )


def import_csv(
    session: Session, *, ticker: str, text: str | bytes, calendar: str, strict: bool = True
) -> ImportSummary:
    """Parse and check the whole CSV first (refusing it whole on any bad line), then upsert.

    Bars that break OHLC sense or fall on days the ticker's exchange was shut refuse the file
    too, unless `strict` is off: then they are stored and counted in the answer.
    """
    frame, lines = parse_price_csv_lines(text)
    existing = store.get_ticker(session, ticker=ticker)
    calendar = existing.calendar if existing else calendar
    odd = implausible_bars(frame, calendar, lines)
    if odd and strict:
        more = f" (and {len(odd) - MAX_QUOTED} more)" if len(odd) > MAX_QUOTED else ""
        raise CsvFormatError(
            "; ".join(str(bar) for bar in odd[:MAX_QUOTED])
            + more
            + ". Fix the file, or import it as it is with ?strict=false."
        )
    store.ensure_ticker(
        session,
        ticker=ticker,
        calendar=calendar,
        source="csv",
        timezone=existing.timezone if existing else None,
    )
    store.upsert_bars(session, ticker=ticker, frame=frame)
    session.flush()
    return _summary(session, ticker, frame, odd)


def read_bars(
    session: Session, *, ticker: str, start: dt.date | None, end: dt.date | None
) -> tuple[str, pd.DataFrame]:
    """A ticker's calendar and its stored bars in [start, end]; TickerNotFound if unknown."""
    if start is not None and end is not None and start > end:
        raise InvalidInput(f"start ({start}) must not be after end ({end}).")
    info = store.get_ticker(session, ticker=ticker)
    if info is None:
        raise TickerNotFound(ticker)
    return info.calendar, store.load_bars(session, ticker=ticker, start=start, end=end)


def delete_bars(
    session: Session, *, ticker: str, start: dt.date | None, end: dt.date | None
) -> DeleteSummary:
    """Remove a range of a ticker's bars; refused while a job trains on the ticker."""
    if start is not None and end is not None and start > end:
        raise InvalidInput(f"start ({start}) must not be after end ({end}).")
    info = store.get_ticker(session, ticker=ticker)
    if info is None:
        raise TickerNotFound(ticker)
    # Locks the ticker's row: an import or a job's refresh of it waits for this delete.
    store.ensure_ticker(
        session, ticker=ticker, calendar=info.calendar, source=info.source, timezone=info.timezone
    )
    busy = jobs_running_on(session, ticker=ticker)
    if busy:
        raise Conflict(
            f"Job {busy[0]} is training on {ticker}'s bars; cancel it (DELETE /jobs/{busy[0]}) "
            "or wait for it to end, then delete."
        )
    deleted = store.delete_bars(session, ticker=ticker, start=start, end=end)
    span = store.bar_range(session, ticker=ticker)
    return DeleteSummary(ticker=ticker, deleted=deleted, stored_rows=span[2] if span else 0)


def load_sample(session: Session, *, calendar: str) -> ImportSummary:
    """Import the S&P 500 sample series that ships with the package."""
    text = resources.files("app").joinpath("data/GSPC.csv").read_bytes()
    return import_csv(session, ticker=SAMPLE_TICKER, text=text, calendar=calendar)


def refresh_bars(
    session: Session,
    *,
    ticker: str,
    source: PriceSource | None,
    default_calendar: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> RefreshOutcome:
    """Fetch new bars from the source into the table, then read the table for [start, end].

    Falls back to stored bars when the source fails; with nothing stored, TickerNotFound.
    """
    note: str | None = None
    span = store.bar_range(session, ticker=ticker)
    if source is not None:
        fetch_start = start
        if span is not None:
            fetch_start = span[1] - dt.timedelta(days=REFRESH_OVERLAP_DAYS)
            if start is not None and start < span[0]:
                fetch_start = start
        try:
            result = source.fetch(ticker, fetch_start, end)
        except PriceSourceError as exc:
            PRICE_SOURCE_ERRORS.labels(source.name, type(exc).__name__).inc()
            if span is None:
                raise TickerNotFound(ticker) from exc
            note = (
                f"Price source {source.name} failed ({exc.message}); trained on the "
                f"{span[2]} stored bars ({span[0]} to {span[1]})."
            )
        else:
            store.ensure_ticker(
                session,
                ticker=ticker,
                calendar=result.calendar,
                source=result.source,
                timezone=result.timezone,
            )
            written = store.upsert_bars(session, ticker=ticker, frame=result.frame)
            info = store.get_ticker(session, ticker=ticker)
            if info is not None:
                info.refreshed_at = dt.datetime.now(dt.UTC)
            session.flush()
            note = f"Refreshed {written} bars from {source.name}."
    elif span is None:
        raise TickerNotFound(ticker)
    else:
        note = "No price source configured; trained on the stored bars."
    frame = store.load_bars(session, ticker=ticker, start=start, end=end)
    if frame.empty:
        span = store.bar_range(session, ticker=ticker)
        if span is None:
            raise TickerNotFound(ticker)
        raise InvalidInput(
            f"No stored bars for {ticker!r} between start={start} and end={end}; "
            f"stored bars run from {span[0]} to {span[1]}."
        )
    info = store.get_ticker(session, ticker=ticker)
    return RefreshOutcome(
        frame=frame, calendar=info.calendar if info else default_calendar, note=note
    )
