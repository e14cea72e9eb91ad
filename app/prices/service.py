"""Price service functions: import a CSV, refresh from the source, read for training."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources

import pandas as pd
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import (
    Conflict,
    CsvFormatError,
    InvalidInput,
    PriceSourceError,
    TickerNotFound,
)
from app.core.types import range_problem
from app.jobs.service import jobs_running_on
from app.observability.metrics import PRICE_SOURCE_ERRORS
from app.prices import store
from app.prices.calendars import calendar_timezone
from app.prices.checks import Implausible, implausible_bars, implausible_prices
from app.prices.csv_format import parse_price_csv_lines
from app.prices.sources import (
    BatchFetch,
    FetchResult,
    PriceSource,
    Wanted,
    configured_source,
    fetch_many,
)
from app.webhooks import outbox

log = logging.getLogger("tickercast.prices")
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
    # Of those, bars whose prices are implausible (strict=false): stored but quarantined.
    quarantined: int = 0


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
    session: Session,
    ticker: str,
    frame: pd.DataFrame,
    odd: list[Implausible],
    quarantined: int = 0,
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
        quarantined=quarantined,
    )


def import_csv(
    session: Session, *, ticker: str, text: str | bytes, calendar: str, strict: bool = True
) -> ImportSummary:
    """Parse and check the whole CSV first (refusing it whole on any bad line), then upsert.

    Bars that break OHLC sense or fall on days the ticker's exchange was shut refuse the file
    too, and so do prices beyond belief (`implausible_prices`: above MAX_PRICE, or MAX_MOVE
    times away from the closes beside them), unless `strict` is off: then they are stored and
    counted in the answer, and those beyond belief are quarantined (no forecast, training or
    live score reads them).
    """
    frame, lines = parse_price_csv_lines(text)
    existing = store.get_ticker(session, ticker=ticker)
    calendar = existing.calendar if existing else calendar
    wild = _implausible_prices(session, ticker, frame, lines) if len(frame) else []
    odd = _merge(implausible_bars(frame, calendar, lines), wild)
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
    store.upsert_bars(session, ticker=ticker, frame=frame, quarantined=[bar.day for bar in wild])
    session.flush()
    return _summary(session, ticker, frame, odd, quarantined=len(wild))


def _implausible_prices(
    session: Session, ticker: str, frame: pd.DataFrame, lines: dict[dt.date, int]
) -> list[Implausible]:
    """The file's bars beyond belief, judged in the series they join (stored bars around them,
    the file's in place of stored ones of the same days)."""
    stored = store.neighbour_closes(
        session, ticker=ticker, first=frame.index[0].date(), last=frame.index[-1].date()
    )
    closes = frame["close"].combine_first(stored)
    closes.update(frame["close"])
    return implausible_prices(frame, closes, lines)


def _merge(first: list[Implausible], second: list[Implausible]) -> list[Implausible]:
    """One entry per day, its reasons joined, in day order."""
    by_day: dict[dt.date, Implausible] = {}
    for bar in [*first, *second]:
        seen = by_day.get(bar.day)
        by_day[bar.day] = (
            bar if seen is None else Implausible(bar.day, bar.line, f"{seen.reason}; {bar.reason}")
        )
    return [by_day[day] for day in sorted(by_day)]


def _check_range(start: dt.date | None, end: dt.date | None) -> None:
    problem = range_problem(start, end)
    if problem is not None:
        raise InvalidInput(f"{problem}.")


def read_bars(
    session: Session, *, ticker: str, start: dt.date | None, end: dt.date | None
) -> tuple[str, pd.DataFrame]:
    """A ticker's calendar and its stored bars in [start, end]; TickerNotFound if unknown."""
    _check_range(start, end)
    info = store.get_ticker(session, ticker=ticker)
    if info is None:
        raise TickerNotFound(ticker)
    return info.calendar, store.load_bars(session, ticker=ticker, start=start, end=end)


def delete_bars(
    session: Session, *, ticker: str, start: dt.date | None, end: dt.date | None
) -> DeleteSummary:
    """Remove a range of a ticker's bars; refused while a job trains on the ticker."""
    _check_range(start, end)
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


@dataclass(frozen=True)
class RefreshSummary:
    """What one refresh from the price source did."""

    ticker: str
    source: str
    fetched: int  # bars the source returned (the overlap with stored bars included)
    added: int  # days that were not stored before
    last: dt.date | None  # the newest stored bar after the refresh
    stored_rows: int


def refresh(
    session: Session,
    *,
    ticker: str,
    source: PriceSource,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> RefreshSummary:
    """Fetch the bars since the newest stored one (a week of overlap, which the source may
    have revised) and store them; all of history for a ticker with none. Raises the source's
    PriceSourceError, counted by kind in /metrics."""
    span = store.bar_range(session, ticker=ticker)
    fetch_start = start
    if span is not None:
        fetch_start = refresh_start(span)
        if start is not None and start < span[0]:
            fetch_start = start
    try:
        result = source.fetch(ticker, fetch_start, end)
    except PriceSourceError as exc:
        PRICE_SOURCE_ERRORS.labels(source.name, type(exc).__name__).inc()
        raise
    return store_fetched(session, ticker=ticker, result=result, before=span)


def refresh_start(span: tuple[dt.date, dt.date, int] | None) -> dt.date | None:
    """Where a refresh asks from: a week before the newest stored bar, or all of history."""
    return None if span is None else span[1] - dt.timedelta(days=REFRESH_OVERLAP_DAYS)


def wanted(session: Session, *, tickers: Sequence[str]) -> list[Wanted]:
    """What a batch refresh asks the source for each ticker: from a week before its newest
    stored bar, with its stored calendar and time zone (all of history for a new one)."""
    out = []
    for ticker in tickers:
        info = store.get_ticker(session, ticker=ticker)
        span = store.bar_range(session, ticker=ticker)
        out.append(
            Wanted(
                ticker=ticker,
                start=refresh_start(span),
                calendar=info.calendar if info and span else None,
                timezone=(info.timezone or calendar_timezone(info.calendar))
                if info and span
                else None,
            )
        )
    return out


def count_errors(source: PriceSource, fetched: BatchFetch) -> None:
    """Count a batch's failures by kind in /metrics, as a single refresh counts its own."""
    for exc in fetched.errors.values():
        PRICE_SOURCE_ERRORS.labels(source.name, type(exc).__name__).inc()


def store_fetched(
    session: Session,
    *,
    ticker: str,
    result: FetchResult,
    before: tuple[dt.date, dt.date, int] | None,
) -> RefreshSummary:
    """Store a fetch's bars, mark the ticker refreshed and tell the receivers (the second half
    of a refresh, single or batched)."""
    store.ensure_ticker(
        session,
        ticker=ticker,
        calendar=result.calendar,
        source=result.source,
        timezone=result.timezone,
    )
    # A source's bar beyond belief is quarantined as a strict=false import's is: stored, read
    # by nothing (a bad tick from the source must not poison forecasts or live scores).
    wild = _implausible_prices(session, ticker, result.frame, {}) if len(result.frame) else []
    for bar in wild:
        log.warning("%s from %s quarantined: %s", ticker, result.source, bar)
    fetched = store.upsert_bars(
        session, ticker=ticker, frame=result.frame, quarantined=[bar.day for bar in wild]
    )
    store.mark_refreshed(session, ticker=ticker, at=dt.datetime.now(dt.UTC))
    after = store.bar_range(session, ticker=ticker)
    assert after is not None
    summary = RefreshSummary(
        ticker=ticker,
        source=result.source,
        fetched=fetched,
        added=after[2] - (before[2] if before else 0),
        last=after[1],
        stored_rows=after[2],
    )
    outbox.prices_refreshed(session, summary=asdict(summary))
    return summary


def refresh_now(session: Session, *, ticker: str, settings: Settings) -> RefreshSummary:
    """POST /prices/{ticker}/refresh: a refresh asked for by a user, from the configured
    source (TICKERCAST_PRICE_SOURCE)."""
    source = configured_source(settings)
    if source is None:
        raise Conflict(
            "No price source is configured (TICKERCAST_PRICE_SOURCE=none): import bars with "
            f"PUT /prices/{ticker} instead."
        )
    return refresh(session, ticker=ticker, source=source)


@dataclass(frozen=True)
class BatchRefresh:
    """POST /prices/refresh: per ticker, in the order asked, its summary or the source's
    error, and how the tickers were fetched."""

    outcomes: dict[str, RefreshSummary | PriceSourceError]
    batches: int  # batch calls to the source
    from_batches: int  # tickers read from a batch's answer
    alone: int  # tickers fetched one by one (new, or a batch could not read them)


def refresh_many_now(
    session: Session, *, tickers: Sequence[str], settings: Settings
) -> BatchRefresh:
    """POST /prices/refresh: many tickers from the configured source, in batches of
    TICKERCAST_REFRESH_BATCH_SIZE, each a batch could not read asked alone; a ticker that
    fails fails alone, and the others are stored."""
    source = configured_source(settings)
    if source is None:
        raise Conflict(
            "No price source is configured (TICKERCAST_PRICE_SOURCE=none): import bars with "
            "PUT /prices/{ticker} instead."
        )
    asked = list(dict.fromkeys(tickers))  # each once, in the order asked
    before = {t: store.bar_range(session, ticker=t) for t in asked}
    fetched = fetch_many(
        source, wanted(session, tickers=asked), end=None, batch_size=settings.refresh_batch_size
    )
    count_errors(source, fetched)
    outcomes: dict[str, RefreshSummary | PriceSourceError] = {}
    for ticker in asked:
        result = fetched.results.get(ticker)
        outcomes[ticker] = (
            fetched.errors[ticker]
            if result is None
            else store_fetched(session, ticker=ticker, result=result, before=before[ticker])
        )
    return BatchRefresh(
        outcomes=outcomes,
        batches=fetched.batches,
        from_batches=fetched.from_batches,
        alone=fetched.alone,
    )


def refresh_bars(
    session: Session,
    *,
    ticker: str,
    source: PriceSource | None,
    default_calendar: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> RefreshOutcome:
    """A training job's prices: refresh from the source, then read the table for [start, end].

    Falls back to stored bars when the source fails; with nothing stored, TickerNotFound.
    """
    span = store.bar_range(session, ticker=ticker)
    if source is None:
        if span is None:
            raise TickerNotFound(ticker)
        note = "No price source configured; trained on the stored bars."
    else:
        try:
            done = refresh(session, ticker=ticker, source=source, start=start, end=end)
        except PriceSourceError as exc:
            if span is None:
                raise TickerNotFound(ticker) from exc
            note = (
                f"Price source {source.name} failed ({exc.message}); trained on the "
                f"{span[2]} stored bars ({span[0]} to {span[1]})."
            )
        else:
            note = f"Refreshed {done.fetched} bars from {source.name}."
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
