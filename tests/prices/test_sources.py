"""YFinanceSource through yfinance's own parser, with Yahoo faked at its HTTP layer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yfinance as yf
from curl_cffi.const import CurlECode
from curl_cffi.requests import exceptions as curl_errors

from app.core.config import Settings
from app.core.errors import (
    InvalidInput,
    NoPriceData,
    PriceSourceUnavailable,
    RateLimited,
)
from app.prices.csv_format import PRICE_COLUMNS, validate_frame
from app.prices.sources import PriceSource, YFinanceSource, configured_source
from tests.yahoo import (
    NOT_FOUND_CHART,
    FakeResponse,
    FakeSession,
    FakeYahoo,
    chart_result,
)

MakeSource = Callable[..., YFinanceSource]
FIRST, LAST = dt.date(2018, 11, 26), dt.date(2018, 12, 31)
NEW_YORK = "America/New_York"


def ny_midnight(day: dt.date) -> int:
    """Unix seconds of midnight in New York: how yfinance turns a date into period1/period2."""
    return int(pd.Timestamp(day).tz_localize(NEW_YORK).timestamp())


def day_index(result: dict[str, Any], day: dt.date) -> int:
    """Position of a day's bar in a chart result (timestamps are the 09:30 New York open)."""
    days = [
        pd.Timestamp(ts, unit="s", tz="UTC").tz_convert(NEW_YORK).date()
        for ts in result["timestamp"]
    ]
    return days.index(day)


def test_gspc_chart_parses_to_the_same_bars_as_the_csv(
    yahoo: FakeYahoo, make_source: MakeSource, sample_frame: pd.DataFrame
) -> None:
    result = make_source().fetch("^GSPC", FIRST, LAST)

    frame = result.frame
    validate_frame(frame)
    assert (result.calendar, result.timezone, result.source) == ("XNYS", NEW_YORK, "yfinance")
    assert frame.index.tz is None and frame.index.name == "date"
    assert list(frame.columns) == PRICE_COLUMNS
    assert len(frame) == 24
    assert frame.index[0] == pd.Timestamp("2018-11-26")
    assert frame.index[-1] == pd.Timestamp("2018-12-31")
    expected = sample_frame.loc["2018-11-26":"2018-12-31"]
    pd.testing.assert_frame_equal(frame, expected, rtol=1e-9, atol=1e-6)
    assert frame.loc["2018-12-31", "close"] == pytest.approx(2506.850098, abs=1e-6)


def test_end_is_inclusive_and_sent_to_yahoo_as_the_next_midnight(
    yahoo: FakeYahoo, make_source: MakeSource
) -> None:
    make_source().fetch("^GSPC", FIRST, LAST)

    (params,) = yahoo.history_requests
    assert params["period1"] == ny_midnight(FIRST)
    assert params["period2"] == ny_midnight(dt.date(2019, 1, 1))
    assert params["interval"] == "1d"


def test_end_before_last_bar_leaves_later_bars_out(
    yahoo: FakeYahoo, make_source: MakeSource
) -> None:
    frame = make_source().fetch("^GSPC", FIRST, dt.date(2018, 12, 27)).frame

    assert frame.index[-1] == pd.Timestamp("2018-12-27")


def test_open_range_asks_for_99_years_up_to_tomorrow_utc(
    yahoo: FakeYahoo, make_source: MakeSource
) -> None:
    frame = make_source(now="2019-01-02T12:00:00").fetch("^GSPC", None, None).frame

    (params,) = yahoo.history_requests
    assert params["period1"] == ny_midnight(dt.date(2019, 1, 2) - dt.timedelta(days=99 * 365))
    # Inclusive end = tomorrow in UTC (2019-01-03), sent exclusive as the day after.
    assert params["period2"] == ny_midnight(dt.date(2019, 1, 4))
    assert len(frame) == 24


def test_multiindex_columns_are_flattened(
    yahoo: FakeYahoo,
    make_source: MakeSource,
    monkeypatch: pytest.MonkeyPatch,
    sample_frame: pd.DataFrame,
) -> None:
    real_history = yf.Ticker.history

    def history_with_ticker_level(self: yf.Ticker, *args: Any, **kwargs: Any) -> pd.DataFrame:
        frame = real_history(self, *args, **kwargs)
        frame.columns = pd.MultiIndex.from_product(
            [frame.columns, ["^GSPC"]], names=["Price", "Ticker"]
        )
        return frame

    monkeypatch.setattr(yf.Ticker, "history", history_with_ticker_level)

    frame = make_source().fetch("^GSPC", FIRST, LAST).frame

    assert list(frame.columns) == PRICE_COLUMNS
    pd.testing.assert_frame_equal(frame, sample_frame.loc["2018-11-26":"2018-12-31"], atol=1e-6)


def test_rate_limit_is_retried_with_backoff_then_raises_rate_limited(
    yahoo: FakeYahoo, make_source: MakeSource, sleeps: list[float]
) -> None:
    yahoo.queued = [FakeResponse(None, status_code=429) for _ in range(5)]

    with pytest.raises(RateLimited) as caught:
        make_source().fetch("^GSPC", FIRST, LAST)

    assert sleeps == [2.0, 4.0, 8.0, 16.0]
    assert len(yahoo.history_requests) == 5
    assert caught.value.status == 429
    assert "'^GSPC'" in caught.value.message and "5 tries" in caught.value.message


def test_rate_limit_once_then_success(
    yahoo: FakeYahoo, make_source: MakeSource, sleeps: list[float]
) -> None:
    yahoo.queued = [FakeResponse(None, status_code=429)]

    frame = make_source().fetch("^GSPC", FIRST, LAST).frame

    assert sleeps == [2.0]
    assert len(frame) == 24


def test_http_429_through_yfinance_request_layer_is_rate_limited(
    yahoo_http: Callable[[Callable[[str], FakeResponse]], FakeSession],
    make_source: MakeSource,
    sleeps: list[float],
) -> None:
    session = yahoo_http(lambda url: FakeResponse(None, status_code=429, url=url))

    with pytest.raises(RateLimited):
        make_source(max_retries=2, backoff_seconds=0.5).fetch("^GSPC", FIRST, LAST)

    assert sleeps == [0.5, 1.0]
    # yfinance itself retries a 4xx once before raising YFRateLimitError.
    assert len(session.urls) == 3 * 2


def test_network_down_raises_price_source_unavailable(
    yahoo_http: Callable[[Callable[[str], FakeResponse]], FakeSession],
    make_source: MakeSource,
    sleeps: list[float],
) -> None:
    def dns_failure(url: str) -> FakeResponse:
        raise curl_errors.DNSError(
            "Failed to perform, curl: (6) Could not resolve host: query2.finance.yahoo.com",
            CurlECode.COULDNT_RESOLVE_HOST,
        )

    yahoo_http(dns_failure)

    with pytest.raises(PriceSourceUnavailable) as caught:
        make_source().fetch("^GSPC", FIRST, LAST)

    message = caught.value.message
    assert "'^GSPC'" in message and "DNSError" in message
    assert "stored bars" in message and "CSV" in message
    assert caught.value.status == 503
    assert sleeps == []  # no backoff for a network failure


def test_network_down_stays_unavailable_on_repeated_calls(
    yahoo_http: Callable[[Callable[[str], FakeResponse]], FakeSession],
    make_source: MakeSource,
) -> None:
    # With yfinance's default settings the third failure in a process reads as
    # "possibly delisted; no timezone found": it must keep reading as unavailable.
    def timeout(url: str) -> FakeResponse:
        raise curl_errors.Timeout(
            "Connection timed out after 10000 milliseconds", CurlECode.OPERATION_TIMEDOUT
        )

    yahoo_http(timeout)
    source = make_source()

    for _ in range(4):
        with pytest.raises(PriceSourceUnavailable):
            source.fetch("^GSPC", FIRST, LAST)


def test_timeout_on_history_request_raises_unavailable(
    yahoo: FakeYahoo, make_source: MakeSource
) -> None:
    yahoo.queued = [
        curl_errors.ConnectTimeout("Connection timed out", CurlECode.OPERATION_TIMEDOUT)
    ]

    with pytest.raises(PriceSourceUnavailable, match="could not be reached"):
        make_source().fetch("^GSPC", FIRST, LAST)


def test_empty_result_raises_no_price_data(yahoo: FakeYahoo, make_source: MakeSource) -> None:
    yahoo.chart["chart"]["result"] = []

    with pytest.raises(NoPriceData) as caught:
        make_source().fetch("^GSPC", FIRST, LAST)

    assert "'^GSPC' from 2018-11-26 to 2018-12-31" in caught.value.message
    assert caught.value.status == 404


def test_unknown_ticker_raises_no_price_data(yahoo: FakeYahoo, make_source: MakeSource) -> None:
    yahoo.chart = yahoo.tz_chart = NOT_FOUND_CHART

    with pytest.raises(NoPriceData, match="NOSUCHTICKER"):
        make_source().fetch("NOSUCHTICKER", FIRST, LAST)


def test_range_without_bars_raises_no_price_data(yahoo: FakeYahoo, make_source: MakeSource) -> None:
    # Yahoo answers the 24 bars whatever the range; a range before them keeps none.
    with pytest.raises(NoPriceData, match="2018-01-01 to 2018-01-31"):
        make_source().fetch("^GSPC", dt.date(2018, 1, 1), dt.date(2018, 1, 31))


def test_nan_rows_are_dropped(yahoo: FakeYahoo, make_source: MakeSource) -> None:
    result = chart_result(yahoo.chart)
    quote = result["indicators"]["quote"][0]
    adjclose = result["indicators"]["adjclose"][0]["adjclose"]
    all_null = day_index(result, dt.date(2018, 12, 3))
    close_null = day_index(result, dt.date(2018, 12, 10))
    for column in quote.values():
        column[all_null] = None
    adjclose[all_null] = None
    quote["close"][close_null] = None

    frame = make_source().fetch("^GSPC", FIRST, LAST).frame

    assert len(frame) == 22
    assert pd.Timestamp("2018-12-03") not in frame.index
    assert pd.Timestamp("2018-12-10") not in frame.index
    assert not frame[["open", "high", "low", "close"]].isna().any().any()


def test_duplicate_timestamps_leave_one_bar_per_day(
    yahoo: FakeYahoo, make_source: MakeSource
) -> None:
    result = chart_result(yahoo.chart)
    i = day_index(result, dt.date(2018, 12, 14))
    result["timestamp"].insert(i + 1, result["timestamp"][i])
    for column in result["indicators"]["quote"][0].values():
        column.insert(i + 1, column[i])
    adjclose = result["indicators"]["adjclose"][0]["adjclose"]
    adjclose.insert(i + 1, adjclose[i])

    frame = make_source().fetch("^GSPC", FIRST, LAST).frame

    assert frame.index.is_unique
    assert len(frame) == 24
    assert (frame.index == pd.Timestamp("2018-12-14")).sum() == 1


def test_split_event_does_not_break_the_fetch(
    yahoo: FakeYahoo, make_source: MakeSource, sample_frame: pd.DataFrame
) -> None:
    result = chart_result(yahoo.chart)
    ts = result["timestamp"][day_index(result, dt.date(2018, 12, 17))]
    result["events"] = {
        "splits": {str(ts): {"date": ts, "numerator": 2, "denominator": 1, "splitRatio": "2:1"}},
        "dividends": {str(ts): {"amount": 1.5, "date": ts}},
    }

    frame = make_source().fetch("^GSPC", FIRST, LAST).frame

    # Yahoo's OHLC is already split-adjusted: the bars pass through unchanged.
    assert list(frame.columns) == PRICE_COLUMNS
    pd.testing.assert_frame_equal(frame, sample_frame.loc["2018-11-26":"2018-12-31"], atol=1e-6)


def test_bar_of_a_session_still_open_is_dropped(yahoo: FakeYahoo, make_source: MakeSource) -> None:
    # 15:00 UTC on 2018-12-31 is 10:00 in New York: the session closes at 16:00.
    frame = make_source(now="2018-12-31T15:00:00").fetch("^GSPC", FIRST, None).frame

    assert frame.index[-1] == pd.Timestamp("2018-12-28")
    assert len(frame) == 23


def test_bar_is_kept_once_the_session_has_closed(yahoo: FakeYahoo, make_source: MakeSource) -> None:
    # 21:05 UTC on 2018-12-31 is 16:05 in New York.
    frame = make_source(now="2018-12-31T21:05:00").fetch("^GSPC", FIRST, None).frame

    assert frame.index[-1] == pd.Timestamp("2018-12-31")
    assert len(frame) == 24


def test_empty_ticker_and_reversed_range_are_invalid_input(make_source: MakeSource) -> None:
    with pytest.raises(InvalidInput, match="ticker"):
        make_source().fetch("  ", FIRST, LAST)
    with pytest.raises(InvalidInput, match="after end"):
        make_source().fetch("^GSPC", LAST, FIRST)


def test_yfinance_source_is_a_price_source() -> None:
    source: PriceSource = YFinanceSource()
    assert source.name == "yfinance"


def test_outage_page_instead_of_json_raises_unavailable(
    yahoo: FakeYahoo, make_source: MakeSource
) -> None:
    class OutagePage(FakeResponse):
        @property
        def text(self) -> str:
            return "<html>Will be right back...</html>"

    yahoo.queued = [OutagePage(None)]

    with pytest.raises(PriceSourceUnavailable, match="may be down"):
        make_source().fetch("^GSPC", FIRST, LAST)


def test_html_where_json_was_expected_raises_unavailable(
    yahoo: FakeYahoo, make_source: MakeSource
) -> None:
    class HtmlPage(FakeResponse):
        def json(self) -> Any:
            raise curl_errors.InvalidJSONError("Expecting value: line 1 column 1 (char 0)")

    yahoo.queued = [HtmlPage(None)]

    with pytest.raises(PriceSourceUnavailable, match="may be down"):
        make_source().fetch("^GSPC", FIRST, LAST)


def test_a_ticker_on_an_exchange_yahoo_leaves_unnamed_trades_on_the_default_calendar(
    yahoo: FakeYahoo, tmp_path: Path
) -> None:
    for chart in (yahoo.chart, yahoo.tz_chart):
        meta = chart_result(chart)["meta"]
        # Several markets keep Chicago time: the time zone names no calendar either.
        meta.update(exchangeName="ZZZ", fullExchangeName="ZZZ")
        meta.update(exchangeTimezoneName="America/Chicago")
    settings = Settings(data_dir=tmp_path, price_source="yfinance", default_calendar="XLON")
    source = configured_source(settings)
    assert source is not None
    assert source.fetch("^GSPC", FIRST, LAST).calendar == "XLON"
