"""Exchange calendars: Yahoo exchange codes, next sessions, open/closed at a moment."""

from __future__ import annotations

import datetime as dt

import exchange_calendars as xcals
import pytest

from app.core.errors import InvalidInput
from app.prices import calendars
from app.prices.calendars import (
    DEFAULT_CALENDAR,
    calendar_for_exchange,
    calendar_timezone,
    current_session,
    last_closed_session,
    next_sessions,
)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def test_next_five_sessions_after_the_sample_skip_new_year() -> None:
    assert next_sessions("XNYS", dt.date(2018, 12, 31), 5) == [
        dt.date(2019, 1, 2),
        dt.date(2019, 1, 3),
        dt.date(2019, 1, 4),
        dt.date(2019, 1, 7),
        dt.date(2019, 1, 8),
    ]


def test_friday_is_followed_by_monday() -> None:
    assert next_sessions("XNYS", dt.date(2019, 1, 4), 1) == [dt.date(2019, 1, 7)]


def test_after_a_saturday_comes_monday() -> None:
    assert next_sessions("XNYS", dt.date(2019, 1, 5), 2) == [
        dt.date(2019, 1, 7),
        dt.date(2019, 1, 8),
    ]


def test_a_year_of_sessions_has_no_weekends_or_holidays() -> None:
    days = next_sessions("XNYS", dt.date(2018, 12, 31), 252)

    assert days[-1] == dt.date(2019, 12, 31)  # NYSE had 252 sessions in 2019
    assert all(day.weekday() < 5 for day in days)
    for holiday in (
        dt.date(2019, 1, 21),  # Martin Luther King Jr. Day
        dt.date(2019, 4, 19),  # Good Friday
        dt.date(2019, 7, 4),
        dt.date(2019, 11, 28),  # Thanksgiving
        dt.date(2019, 12, 25),
    ):
        assert holiday not in days
    assert dt.date(2019, 11, 29) in days  # the half day after Thanksgiving is a session
    assert days == sorted(set(days))


def test_dates_past_the_libraries_default_end_still_work() -> None:
    # exchange_calendars stops about a year ahead by default; 2031 is years past that.
    assert next_sessions("XNYS", dt.date(2030, 12, 31), 2) == [
        dt.date(2031, 1, 2),
        dt.date(2031, 1, 3),
    ]


def test_zero_sessions_is_an_empty_list() -> None:
    assert next_sessions("XNYS", dt.date(2018, 12, 31), 0) == []


def test_beyond_the_known_sessions_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="only knows sessions up to"):
        next_sessions("XNYS", dt.date(2099, 12, 31), 5)
    with pytest.raises(InvalidInput, match="outside the XNYS calendar"):
        next_sessions("XNYS", dt.date(1900, 1, 1), 5)


def test_unknown_calendar_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="'NOPE'"):
        next_sessions("NOPE", dt.date(2018, 12, 31), 1)


def test_other_calendars_use_their_own_holidays() -> None:
    # Tokyo closes 31 Dec to 3 Jan; London only for 1 Jan.
    assert next_sessions("XTKS", dt.date(2018, 12, 28), 1) == [dt.date(2019, 1, 4)]
    assert next_sessions("XLON", dt.date(2018, 12, 31), 1) == [dt.date(2019, 1, 2)]


def test_calendars_are_cached() -> None:
    assert calendars.get_calendar("XNYS") is calendars.get_calendar("XNYS")


def test_calendar_timezone() -> None:
    assert calendar_timezone("XNYS") == "America/New_York"
    assert calendar_timezone("XTKS") == "Asia/Tokyo"


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        ("2018-12-31T14:29:00", False),  # 09:29 New York
        ("2018-12-31T14:30:00", True),  # the open
        ("2018-12-31T20:59:00", True),
        ("2018-12-31T21:00:00", False),  # the close
        ("2019-01-01T15:00:00", False),  # New Year's Day
        ("2019-01-05T15:00:00", False),  # Saturday
    ],
)
def test_a_session_is_in_progress(moment: str, is_open: bool) -> None:
    assert (current_session("XNYS", utc(moment)) is not None) is is_open


def test_naive_now_is_taken_as_utc() -> None:
    assert (current_session("XNYS", dt.datetime(2018, 12, 31, 15, 0)) is not None) is True
    assert (current_session("XNYS", dt.datetime(2018, 12, 31, 22, 0)) is not None) is False


def test_lunch_break_counts_as_open() -> None:
    # 12:30 in Hong Kong (04:30 UTC): between the morning and afternoon sessions.
    assert (current_session("XHKG", utc("2019-01-03T04:30:00")) is not None) is True


@pytest.mark.parametrize(
    ("moment", "day"),
    [
        ("2018-12-31T15:00:00", dt.date(2018, 12, 28)),  # during the session: Friday's
        ("2018-12-31T21:00:00", dt.date(2018, 12, 31)),  # at the close
        ("2019-01-01T15:00:00", dt.date(2018, 12, 31)),  # holiday
        ("2019-01-02T10:00:00", dt.date(2018, 12, 31)),  # before the open
    ],
)
def test_last_closed_session(moment: str, day: dt.date) -> None:
    assert last_closed_session("XNYS", utc(moment)) == day


@pytest.mark.parametrize(
    ("exchange", "timezone", "calendar"),
    [
        ("SNP", "America/New_York", "XNYS"),
        ("NMS", None, "XNYS"),
        ("NYQ", None, "XNYS"),
        ("NGM", None, "XNYS"),
        ("NCM", None, "XNYS"),
        ("ASE", None, "XNYS"),
        ("PCX", None, "XNYS"),
        ("BTS", None, "XNYS"),
        ("NIM", None, "XNYS"),
        ("DJI", None, "XNYS"),
        ("WCB", None, "XNYS"),
        ("LSE", "Europe/London", "XLON"),
        ("lse", None, "XLON"),
        ("TOR", None, "XTSE"),
        ("GER", None, "XETR"),
        ("PAR", None, "XPAR"),
        ("JPX", "Asia/Tokyo", "XTKS"),
        ("HKG", None, "XHKG"),
        ("ASX", None, "XASX"),
        ("CCC", "UTC", "24/7"),
        ("ZZZ", "Asia/Tokyo", "XTKS"),  # unknown code, telling time zone
        ("ZZZ", "America/Chicago", DEFAULT_CALENDAR),  # several markets keep Chicago time
        (None, "Europe/Paris", "XPAR"),
        (None, None, DEFAULT_CALENDAR),
        ("", "", DEFAULT_CALENDAR),
    ],
)
def test_calendar_for_exchange(exchange: str | None, timezone: str | None, calendar: str) -> None:
    assert calendar_for_exchange(exchange, timezone) == calendar


def test_every_mapped_calendar_exists_in_exchange_calendars() -> None:
    known = set(xcals.get_calendar_names(include_aliases=False))
    mapped = set(calendars._YAHOO_EXCHANGES.values()) | set(calendars._TIMEZONES.values())

    assert mapped <= known
