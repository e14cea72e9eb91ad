"""Exchange trading calendars: which calendar a ticker trades on, and its sessions."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import exchange_calendars as xcals
import pandas as pd

from app.core.errors import InvalidInput

DEFAULT_CALENDAR = "XNYS"
# Sessions are built from here on (clamped to what each calendar supports): old enough for
# any CSV users import, cheap enough (~0.15 s per calendar, once per process).
_EARLIEST = pd.Timestamp("1970-01-01")
# exchange_calendars stops about a year ahead by default; forecasts from an old last bar or
# long horizons need more. Holidays that far out are projected from the exchange's rules.
_YEARS_AHEAD = 10

# Yahoo's `exchangeName` (chart meta) / `exchange` (quote) codes -> exchange_calendars names.
# Athens (ATH) and Tel Aviv (TLV) are left out: exchange_calendars 4.13 cannot build ASEX or
# XTAE under pandas 3, so those tickers fall back to the default calendar.
_YAHOO_EXCHANGES: dict[str, str] = {
    # United States: stocks, ETFs and the index publishers all follow the NYSE calendar.
    "NMS": "XNYS",  # Nasdaq Global Select
    "NGM": "XNYS",  # Nasdaq Global Market
    "NCM": "XNYS",  # Nasdaq Capital Market
    "NAS": "XNYS",
    "NIM": "XNYS",  # Nasdaq indices (^IXIC)
    "NYQ": "XNYS",  # NYSE
    "NYS": "XNYS",
    "ASE": "XNYS",  # NYSE American
    "PCX": "XNYS",  # NYSE Arca
    "BTS": "XNYS",  # Cboe BZX
    "BATS": "XNYS",
    "SNP": "XNYS",  # S&P indices (^GSPC)
    "DJI": "XNYS",  # Dow Jones indices (^DJI)
    "WCB": "XNYS",  # Cboe indices (^VIX)
    "CXI": "XNYS",
    "PNK": "XNYS",  # OTC markets
    "OQB": "XNYS",
    "OQX": "XNYS",
    "OEM": "XNYS",
    "OBB": "XNYS",
    # US futures and currencies/crypto trade (almost) around the clock.
    "CME": "CMES",
    "CBT": "CMES",
    "NYM": "CMES",
    "CMX": "CMES",
    "NYB": "IEPA",  # ICE Futures US
    "CCY": "24/5",  # currencies (EURUSD=X)
    "CCC": "24/7",  # crypto (BTC-USD)
    # Canada
    "TOR": "XTSE",
    "VAN": "XTSE",  # TSX Venture
    "CNQ": "XTSE",  # Canadian Securities Exchange
    "NEO": "XTSE",
    # Europe
    "LSE": "XLON",
    "IOB": "XLON",
    "FGI": "XLON",  # FTSE indices (^FTSE)
    "GER": "XETR",  # Xetra (.DE, ^GDAXI)
    "FRA": "XFRA",
    "BER": "XETR",
    "MUN": "XETR",
    "HAN": "XETR",
    "DUS": "XDUS",
    "HAM": "XHAM",
    "STU": "XSTU",
    "PAR": "XPAR",
    "AMS": "XAMS",
    "BRU": "XBRU",
    "LIS": "XLIS",
    "ISE": "XDUB",
    "MIL": "XMIL",
    "MCE": "XMAD",
    "EBS": "XSWX",
    "VTX": "XSWX",
    "STO": "XSTO",
    "CPH": "XCSE",
    "HEL": "XHEL",
    "OSL": "XOSL",
    "ICE": "XICE",
    "VIE": "XWBO",
    "WSE": "XWAR",
    "PRA": "XPRA",
    "BUD": "XBUD",
    "IST": "XIST",
    "MCX": "XMOS",
    "RIS": "XRIS",
    "TAL": "XTAL",
    "LIT": "XLIT",
    # Asia-Pacific
    "JPX": "XTKS",
    "TYO": "XTKS",
    "OSA": "XTKS",  # Osaka (^N225)
    "HKG": "XHKG",
    "SHH": "XSHG",
    "SHZ": "XSHG",  # Shenzhen keeps Shanghai's holidays (no XSHE calendar)
    "KSC": "XKRX",
    "KOE": "XKRX",
    "TAI": "XTAI",
    "TWO": "XTAI",
    "BSE": "XBOM",
    "NSI": "XBOM",  # NSE India keeps BSE's holidays (no XNSE calendar)
    "SES": "XSES",
    "KLS": "XKLS",
    "JKT": "XIDX",
    "SET": "XBKK",
    "PHS": "XPHS",
    "KAR": "XKAR",
    "ASX": "XASX",
    "NZE": "XNZE",
    # Americas, Africa, Middle East
    "SAO": "BVMF",
    "MEX": "XMEX",
    "BUE": "XBUE",
    "SGO": "XSGO",
    "LIM": "XLIM",
    "BVC": "XBOG",
    "JNB": "XJSE",
    "SAU": "XSAU",
}

# Exchange time zones that point at one calendar; zones shared by several markets
# (America/Chicago: futures, Europe/Berlin: Xetra and Frankfurt, ...) are left out.
_TIMEZONES: dict[str, str] = {
    "America/New_York": "XNYS",
    "America/Toronto": "XTSE",
    "America/Sao_Paulo": "BVMF",
    "America/Mexico_City": "XMEX",
    "America/Argentina/Buenos_Aires": "XBUE",
    "America/Santiago": "XSGO",
    "America/Lima": "XLIM",
    "America/Bogota": "XBOG",
    "Europe/London": "XLON",
    "Europe/Paris": "XPAR",
    "Europe/Amsterdam": "XAMS",
    "Europe/Brussels": "XBRU",
    "Europe/Lisbon": "XLIS",
    "Europe/Dublin": "XDUB",
    "Europe/Rome": "XMIL",
    "Europe/Madrid": "XMAD",
    "Europe/Zurich": "XSWX",
    "Europe/Stockholm": "XSTO",
    "Europe/Copenhagen": "XCSE",
    "Europe/Helsinki": "XHEL",
    "Europe/Oslo": "XOSL",
    "Europe/Vienna": "XWBO",
    "Europe/Warsaw": "XWAR",
    "Europe/Prague": "XPRA",
    "Europe/Budapest": "XBUD",
    "Europe/Istanbul": "XIST",
    "Europe/Moscow": "XMOS",
    "Atlantic/Reykjavik": "XICE",
    "Asia/Tokyo": "XTKS",
    "Asia/Hong_Kong": "XHKG",
    "Asia/Shanghai": "XSHG",
    "Asia/Seoul": "XKRX",
    "Asia/Taipei": "XTAI",
    "Asia/Kolkata": "XBOM",
    "Asia/Singapore": "XSES",
    "Asia/Kuala_Lumpur": "XKLS",
    "Asia/Jakarta": "XIDX",
    "Asia/Bangkok": "XBKK",
    "Asia/Manila": "XPHS",
    "Asia/Karachi": "XKAR",
    "Asia/Riyadh": "XSAU",
    "Australia/Sydney": "XASX",
    "Pacific/Auckland": "XNZE",
    "Africa/Johannesburg": "XJSE",
}


def calendar_for_exchange(
    yahoo_exchange: str | None, timezone: str | None, default: str = DEFAULT_CALENDAR
) -> str:
    """The exchange_calendars name for Yahoo's exchange code, else its time zone, else
    `default` (TICKERCAST_DEFAULT_CALENDAR, XNYS unless set)."""
    if yahoo_exchange:
        name = _YAHOO_EXCHANGES.get(yahoo_exchange.strip().upper())
        if name is not None:
            return name
    if timezone:
        name = _TIMEZONES.get(timezone.strip())
        if name is not None:
            return name
    return default


# ~60 calendars exist; a bound keeps a typo-spamming caller from growing the cache.
@lru_cache(maxsize=64)
def get_calendar(name: str) -> xcals.ExchangeCalendar:
    """The calendar `name` from 1970 (or its earliest) to 10 years ahead (or its latest), cached."""
    try:
        # The default-range instance is cached by exchange_calendars and tells us the bounds.
        default = xcals.get_calendar(name)
    except xcals.errors.InvalidCalendarName as exc:
        raise InvalidInput(f"unknown exchange calendar {name!r}") from exc
    except (ValueError, NotImplementedError) as exc:
        raise InvalidInput(
            # Some library errors list hundreds of dates: keep the message readable.
            f"exchange calendar {name!r} cannot be built by exchange_calendars "
            f"({type(exc).__name__}: {str(exc)[:200]}); "
            f"use another calendar such as {DEFAULT_CALENDAR!r}"
        ) from exc
    bound_min, bound_max = default.bound_min(), default.bound_max()
    start = _EARLIEST if bound_min is None else max(_EARLIEST, bound_min)
    end = pd.Timestamp.now().normalize() + pd.DateOffset(years=_YEARS_AHEAD)
    if bound_max is not None:
        end = min(end, bound_max)
    try:
        return xcals.get_calendar(name, start=start, end=end)
    except ValueError:
        # A calendar whose old rules break cannot be built that far back;
        # the default range (20 years back, 1 ahead) is still usable.
        return default


def calendar_timezone(calendar: str) -> str:
    """The IANA time zone the calendar's exchange keeps (e.g. 'America/New_York')."""
    return str(get_calendar(calendar).tz)


def _sessions_range_error(calendar: str, day: dt.date) -> InvalidInput:
    sessions = get_calendar(calendar).sessions
    return InvalidInput(
        f"{day.isoformat()} is outside the {calendar} calendar's known sessions "
        f"({sessions[0].date().isoformat()} to {sessions[-1].date().isoformat()})"
    )


def next_sessions(calendar: str, after: dt.date, count: int) -> list[dt.date]:
    """The next `count` trading sessions of `calendar` strictly after `after`."""
    if count < 0:
        raise InvalidInput(f"count must be >= 0, got {count}")
    sessions = get_calendar(calendar).sessions
    if pd.Timestamp(after) < sessions[0] - pd.Timedelta(days=1):
        raise _sessions_range_error(calendar, after)
    first = int(sessions.searchsorted(pd.Timestamp(after), side="right"))
    found = sessions[first : first + count]
    if len(found) < count:
        raise InvalidInput(
            f"the {calendar} calendar only knows sessions up to "
            f"{sessions[-1].date().isoformat()}; cannot list {count} sessions after "
            f"{after.isoformat()}"
        )
    return [ts.date() for ts in found]


def sessions_between(
    calendar: str, first: dt.date, last: dt.date
) -> tuple[dt.date, dt.date, set[dt.date]]:
    """The span of [first, last] the calendar knows, and its sessions in that span."""
    sessions = get_calendar(calendar).sessions
    lo = max(pd.Timestamp(first), sessions[0])
    hi = min(pd.Timestamp(last), sessions[-1])
    known = sessions[(sessions >= lo) & (sessions <= hi)]
    return lo.date(), hi.date(), {ts.date() for ts in known}


def _utc(now: dt.datetime) -> pd.Timestamp:
    # A naive datetime is taken as UTC: the service keeps every timestamp in UTC.
    ts = pd.Timestamp(now)
    return ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")


def current_session(calendar: str, now: dt.datetime) -> dt.date | None:
    """The session in progress at `now` (between its open and close, breaks included), or None."""
    cal = get_calendar(calendar)
    at = _utc(now)
    # The last session that opened at or before `now`; it is in progress until its close.
    i = int(cal.opens.searchsorted(at, side="right")) - 1
    if i < 0 or at >= cal.closes.iloc[i]:
        return None
    return cal.sessions[i].date()


def last_closed_session(calendar: str, now: dt.datetime) -> dt.date:
    """The most recent session of `calendar` whose close is at or before `now`."""
    cal = get_calendar(calendar)
    at = _utc(now)
    i = int(cal.closes.searchsorted(at, side="right")) - 1
    if i < 0:
        raise _sessions_range_error(calendar, at.date())
    return cal.sessions[i].date()
