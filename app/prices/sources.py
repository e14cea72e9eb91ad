"""Where daily bars come from: Yahoo Finance through yfinance (CSV imports go through the API)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd
import yfinance as yf
from curl_cffi.requests import exceptions as curl_errors
from requests import exceptions as requests_errors
from yfinance import exceptions as yf_errors

from app.core.config import Settings
from app.core.errors import (
    InvalidInput,
    NoPriceData,
    PriceSourceError,
    PriceSourceUnavailable,
    RateLimited,
)
from app.prices import calendars
from app.prices.csv_format import (
    OHLC_COLUMNS,
    PRICE_COLUMNS,
    make_frame,
    validate_frame,
)

__all__ = [
    "PRICE_COLUMNS",
    "BatchFetch",
    "Wanted",
    "fetch_many",
    "FetchResult",
    "PriceSource",
    "YFinanceSource",
    "validate_frame",
]

log = logging.getLogger("tickercast.prices")
# yfinance's own period="max" asks for 99 years back; start=None asks for the same.
_MAX_HISTORY_DAYS = 99 * 365
# Column names in yfinance's frame -> price frame columns.
_YAHOO_COLUMNS = {
    "Open": "open",
    "High": "high",
    "Low": "low",
    "Close": "close",
    "Adj Close": "adj_close",
    "Volume": "volume",
}
_FALLBACK_HINT = "stored bars are used if there are any; otherwise import a CSV of daily prices"
# yfinance may sit on the plain `requests` backend (YF_DISABLE_CURL_CFFI) instead of curl_cffi.
_HTTP_ERRORS = (curl_errors.HTTPError, requests_errors.HTTPError)
_JSON_ERRORS = (curl_errors.InvalidJSONError, requests_errors.InvalidJSONError)


@dataclass(frozen=True)
class FetchResult:
    """Bars from a source, with the exchange calendar and time zone they belong to."""

    frame: pd.DataFrame
    calendar: str
    timezone: str | None
    source: str


class PriceSource(Protocol):
    """Anything that can fetch daily bars for a ticker."""

    name: str

    def fetch(self, ticker: str, start: dt.date | None, end: dt.date | None) -> FetchResult:
        """Daily bars for ticker from start to end (both inclusive; None means unbounded)."""
        ...


@dataclass(frozen=True)
class Wanted:
    """One ticker of a batch refresh: from when, and its stored exchange calendar and time
    zone (None for a ticker not stored yet, which is fetched alone to learn them)."""

    ticker: str
    start: dt.date | None
    calendar: str | None = None
    timezone: str | None = None


@runtime_checkable
class BatchSource(Protocol):
    """A source that can also fetch many tickers in one call."""

    def fetch_batch(self, wanted: Sequence[Wanted], end: dt.date | None) -> dict[str, FetchResult]:
        """Bars for each ticker it could read; the others are left out (not raised)."""
        ...


@dataclass
class BatchFetch:
    """What fetch_many got: bars or the source's error per ticker, and how."""

    results: dict[str, FetchResult] = field(default_factory=dict)
    errors: dict[str, PriceSourceError] = field(default_factory=dict)
    batches: int = 0  # batch calls made
    from_batches: int = 0  # tickers read from a batch's answer
    alone: int = 0  # tickers fetched alone: not stored yet, or a batch could not read them


def fetch_many(
    source: PriceSource, wanted: Sequence[Wanted], *, end: dt.date | None, batch_size: int
) -> BatchFetch:
    """Every wanted ticker's bars: stored tickers in batches of `batch_size` through the
    source's batch call when it has one, then each ticker a batch could not read (and each
    not stored yet) alone, with the single fetch's own retries and backoff. One ticker's
    failure is its own entry in `errors`; the others are unaffected."""
    done = BatchFetch()
    if isinstance(source, BatchSource):
        known = [w for w in wanted if w.calendar is not None and w.timezone is not None]
        for i in range(0, len(known), batch_size):
            got = source.fetch_batch(known[i : i + batch_size], end)
            done.batches += 1
            done.from_batches += len(got)
            done.results.update(got)
    for w in wanted:
        if w.ticker in done.results:
            continue
        done.alone += 1
        try:
            done.results[w.ticker] = source.fetch(w.ticker, w.start, end)
        except PriceSourceError as exc:
            done.errors[w.ticker] = exc
    return done


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _status_code(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _is_rate_limit(exc: BaseException) -> bool:
    if isinstance(exc, yf_errors.YFRateLimitError):
        return True
    return isinstance(exc, _HTTP_ERRORS) and _status_code(exc) == 429


def _domain_error(exc: Exception, ticker: str, span: str) -> PriceSourceError | None:
    """The domain error for what yfinance raised; None for exceptions that are our bugs."""
    if isinstance(exc, yf_errors.YFPricesMissingError):
        reason = exc.yahoo_reason or "Yahoo returned no bars (delisted, or nothing in that range)"
        return NoPriceData(f"Yahoo Finance has no daily prices for {ticker!r} {span}: {reason}")
    if isinstance(exc, yf_errors.YFTickerMissingError):
        # YFTzMissingError: Yahoo knows no exchange time zone for a symbol it does not list.
        return NoPriceData(
            f"Yahoo Finance does not know ticker {ticker!r} (no exchange time zone; "
            f"misspelt or delisted)"
        )
    if isinstance(exc, _HTTP_ERRORS):
        status = _status_code(exc)
        if status == 404:
            return NoPriceData(f"Yahoo Finance does not know ticker {ticker!r} (HTTP 404)")
        if status is not None and status >= 500:
            return PriceSourceUnavailable(
                f"Yahoo Finance failed (HTTP {status}) fetching {ticker!r}; {_FALLBACK_HINT}."
            )
        return PriceSourceError(f"Yahoo Finance refused the request for {ticker!r}: {exc}")
    if isinstance(exc, _JSON_ERRORS) or (
        isinstance(exc, yf_errors.YFDataException) and "CURRENTLY DOWN" in str(exc)
    ):
        # An outage or consent page in HTML where the chart JSON should be.
        return PriceSourceUnavailable(
            f"Yahoo Finance answered without price data for {ticker!r} (it may be down); "
            f"{_FALLBACK_HINT}."
        )
    if isinstance(exc, OSError):
        # curl_cffi's and requests' connection, DNS, TLS and timeout errors all derive from OSError.
        return PriceSourceUnavailable(
            f"Yahoo Finance could not be reached to fetch {ticker!r} "
            f"({type(exc).__name__}); {_FALLBACK_HINT}."
        )
    if isinstance(exc, yf_errors.YFException | KeyError | IndexError | TypeError | ValueError):
        # yfinance met an answer it could not read.
        return PriceSourceError(
            f"Yahoo Finance answered with data yfinance could not read for {ticker!r} "
            f"({type(exc).__name__}: {exc})"
        )
    return None


def _yahoo_frame(raw: pd.DataFrame, exchange_tz: str | None) -> pd.DataFrame:
    """yfinance's frame -> price frame columns on exchange-local midnights (not yet cleaned)."""
    if isinstance(raw.columns, pd.MultiIndex):
        # yf.download and some yfinance versions return (Price, Ticker) columns.
        levels = range(raw.columns.nlevels)
        level = next((i for i in levels if "Close" in raw.columns.get_level_values(i)), 0)
        raw = raw.set_axis(raw.columns.get_level_values(level), axis=1)
    missing = [name for name in ("Open", "High", "Low", "Close") if name not in raw.columns]
    if missing:
        raise PriceSourceError(f"yfinance returned no {', '.join(missing)} column(s)")
    index = pd.DatetimeIndex(raw.index)
    if index.tz is not None:
        # Straight to the exchange's zone: going through UTC first would move Asian bars a day back.
        index = index.tz_convert(exchange_tz or index.tz).tz_localize(None)
    columns = {
        name: raw[yahoo].to_numpy(dtype=np.float64, na_value=np.nan)
        for yahoo, name in _YAHOO_COLUMNS.items()
        if yahoo in raw.columns
    }
    return make_frame(index.normalize(), columns)


def _clean(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop bars a model cannot use, keep the last of duplicate days, sort ascending."""
    ohlc = frame[OHLC_COLUMNS].to_numpy()
    # Yahoo pads holidays and half-listed days with NaN (or 0) prices: not a bar.
    usable = np.isfinite(ohlc).all(axis=1) & (ohlc > 0).all(axis=1)
    frame = frame.loc[usable].copy()
    frame.loc[~(frame["adj_close"] > 0), "adj_close"] = np.nan
    frame.loc[~(frame["volume"] >= 0), "volume"] = np.nan
    frame = frame.sort_index(kind="stable")
    return frame.loc[~frame.index.duplicated(keep="last")]


def _drop_unfinished(
    frame: pd.DataFrame, calendar: str, timezone: str, now: dt.datetime
) -> pd.DataFrame:
    """Drop today's bar until its session has closed: mid-session it is only a snapshot."""
    local_today = pd.Timestamp(now).tz_convert(timezone).normalize().tz_localize(None)
    try:
        # While today's session is open (or before it opens) this is an earlier session.
        closed = pd.Timestamp(calendars.last_closed_session(calendar, now))
    except InvalidInput:
        closed = local_today - pd.Timedelta(days=1)  # now is past what the calendar knows
    # Only today's (or a later) bar can be unfinished; an older day the calendar calls a
    # holiday but Yahoo has a bar for is kept: Yahoo's bar is the better witness.
    unfinished = (frame.index > closed) & (frame.index >= local_today)
    return frame.loc[~unfinished]


class YFinanceSource:
    """Daily bars from Yahoo Finance through yfinance, with backoff on rate limits."""

    name: str = "yfinance"

    def __init__(
        self,
        max_retries: int = 4,
        backoff_seconds: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], dt.datetime] | None = None,
        timeout_seconds: float = 10.0,
        default_calendar: str = calendars.DEFAULT_CALENDAR,
    ) -> None:
        """Retry rate limits max_retries times, sleeping backoff_seconds * 2**attempt; a
        ticker whose exchange and time zone Yahoo leaves unnamed trades on default_calendar."""
        self.max_retries = max_retries
        self.default_calendar = default_calendar
        self.backoff_seconds = backoff_seconds  # seconds before the first retry
        self.timeout_seconds = timeout_seconds  # per HTTP request of the chart API
        self._sleep = sleep
        self._now = now or _utc_now
        # With yfinance's default (hide_exceptions=True) a network failure while it looks up
        # the ticker's time zone is logged, and after two such failures per process it
        # surfaces as "possibly delisted; no timezone found", i.e. as if the ticker did not
        # exist. Raising is also what yfinance 1.7 asks for instead of history(raise_errors=).
        yf.config.debug.hide_exceptions = False

    def fetch(
        self, ticker: str, start: dt.date | None = None, end: dt.date | None = None
    ) -> FetchResult:
        """Daily bars from start to end, both inclusive, as the exchange dates them.

        start=None asks for all of Yahoo's history (99 years, as yfinance's period="max");
        end=None means up to the latest bar. Today's bar is left out until its session
        closes. Yahoo's `end` is exclusive, so one day is added before asking.
        """
        symbol = ticker.strip()
        if not symbol:
            raise InvalidInput("ticker must not be empty")
        if start is not None and end is not None and start > end:
            raise InvalidInput(f"start {start} is after end {end}")
        now = pd.Timestamp(self._now())
        now = now.tz_localize("UTC") if now.tz is None else now.tz_convert("UTC")
        first = start or now.date() - dt.timedelta(days=_MAX_HISTORY_DAYS)
        # Tomorrow in UTC is on or after today's date on every exchange, east or west.
        last = end or now.date() + dt.timedelta(days=1)
        raw, exchange, timezone = self._history(symbol, first, last + dt.timedelta(days=1))

        calendar = calendars.calendar_for_exchange(exchange, timezone, self.default_calendar)
        timezone = timezone or calendars.calendar_timezone(calendar)
        frame = _clean(_yahoo_frame(raw, timezone))
        frame = _drop_unfinished(frame, calendar, timezone, now.to_pydatetime())
        frame = frame.loc[pd.Timestamp(first) : pd.Timestamp(last)]
        if frame.empty:
            raise NoPriceData(
                f"Yahoo Finance has no finished daily bars for {symbol!r} "
                f"from {first.isoformat()} to {last.isoformat()}"
            )
        try:
            validate_frame(frame)
        except ValueError as exc:
            raise PriceSourceError(f"Yahoo's bars for {symbol!r} are unusable: {exc}") from exc
        return FetchResult(frame=frame, calendar=calendar, timezone=timezone, source=self.name)

    def fetch_batch(self, wanted: Sequence[Wanted], end: dt.date | None) -> dict[str, FetchResult]:
        """Many stored tickers' bars in one yfinance call (`yf.download` with the list).

        yfinance 1.7 asks Yahoo's chart API once per symbol inside that call (in threads:
        the chart API has no multi-symbol form) and records a symbol it could not read
        instead of raising; such a ticker, or one whose answer holds no usable bar from its
        start, is left out, for fetch_many to ask alone. Each batch asks from the earliest
        start among its tickers; each ticker keeps the days from its own start.
        """
        if not wanted:
            return {}
        now = pd.Timestamp(self._now())
        now = now.tz_localize("UTC") if now.tz is None else now.tz_convert("UTC")
        starts = [w.start or now.date() - dt.timedelta(days=_MAX_HISTORY_DAYS) for w in wanted]
        last = end or now.date() + dt.timedelta(days=1)
        try:
            raw = yf.download(
                [w.ticker for w in wanted],
                start=min(starts),
                end=last + dt.timedelta(days=1),  # Yahoo's end is exclusive
                interval="1d",
                auto_adjust=False,
                actions=True,
                group_by="ticker",
                progress=False,
                timeout=self.timeout_seconds,
                # Daily bars: yfinance drops the zone, leaving each exchange's own dates.
                ignore_tz=True,
                multi_level_index=True,
            )
        except Exception as exc:
            # A failure of the whole call: every ticker is asked alone, with its own retries.
            log.warning("batch of %d tickers failed (%s); asking each alone", len(wanted), exc)
            return {}
        if raw is None or not isinstance(raw.columns, pd.MultiIndex):
            return {}
        out: dict[str, FetchResult] = {}
        symbols = set(raw.columns.get_level_values(0))
        for w, first in zip(wanted, starts, strict=True):
            assert w.calendar is not None and w.timezone is not None
            if w.ticker.upper() not in symbols:
                continue
            try:
                frame = _clean(_yahoo_frame(raw[w.ticker.upper()], None))
                frame = _drop_unfinished(frame, w.calendar, w.timezone, now.to_pydatetime())
                frame = frame.loc[pd.Timestamp(first) : pd.Timestamp(last)]
                if frame.empty:
                    continue
                validate_frame(frame)
            except (PriceSourceError, ValueError, KeyError):
                continue  # asked alone, whose error then says what is wrong
            out[w.ticker] = FetchResult(
                frame=frame, calendar=w.calendar, timezone=w.timezone, source=self.name
            )
        return out

    def _history(
        self, symbol: str, first: dt.date, stop: dt.date
    ) -> tuple[pd.DataFrame, str | None, str | None]:
        """yfinance's frame for [first, stop), Yahoo's exchange code and time zone; retries 429s."""
        for attempt in range(self.max_retries + 1):
            try:
                return self._history_once(symbol, first, stop)
            except Exception as exc:
                if not _is_rate_limit(exc):
                    span = (
                        f"from {first.isoformat()} to {(stop - dt.timedelta(days=1)).isoformat()}"
                    )
                    error = _domain_error(exc, symbol, span)
                    if error is None:
                        raise
                    raise error from exc
                if attempt == self.max_retries:
                    raise RateLimited(
                        f"Yahoo Finance rate-limited every request for {symbol!r} "
                        f"({attempt + 1} tries); try again in a few minutes, or import a CSV"
                    ) from exc
            self._sleep(self.backoff_seconds * 2**attempt)
        raise AssertionError("unreachable: the loop returns or raises")

    def _history_once(
        self, symbol: str, first: dt.date, stop: dt.date
    ) -> tuple[pd.DataFrame, str | None, str | None]:
        ticker = yf.Ticker(symbol)
        # auto_adjust=False: Close is split-adjusted only (Yahoo's chart API adjusts OHLC for
        # splits), Adj Close also for dividends; both are kept, so splits need no handling here.
        raw = ticker.history(
            start=first,
            end=stop,
            interval="1d",
            auto_adjust=False,
            actions=True,
            timeout=self.timeout_seconds,
        )
        # Filled by the history call above: reading it makes no request (unlike 'tradingPeriods').
        meta = ticker.history_metadata
        exchange = meta["exchangeName"] if "exchangeName" in meta else None
        timezone = meta["exchangeTimezoneName"] if "exchangeTimezoneName" in meta else None
        return raw, exchange, timezone


def configured_source(settings: Settings) -> PriceSource | None:
    """The remote price source TICKERCAST_PRICE_SOURCE names, or None (`none`)."""
    if settings.price_source == "yfinance":
        # yfinance caches time zones and cookies on disk; keep them with our own data.
        yf.set_tz_cache_location(str(settings.data_dir / "yfinance-cache"))
        return YFinanceSource(
            max_retries=settings.source_retries,
            backoff_seconds=settings.source_backoff_seconds,
            default_calendar=settings.default_calendar,
        )
    return None
