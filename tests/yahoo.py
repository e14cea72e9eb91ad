"""Offline Yahoo: yfinance's own parser fed with a recorded chart answer (fixtures, loaded for
every test by tests/conftest.py, and the fakes behind them)."""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yfinance as yf
import yfinance.cache
from curl_cffi.requests import exceptions as curl_errors
from yfinance.data import YfData
from yfinance.exceptions import YFRateLimitError

from app.prices.sources import YFinanceSource

# Yahoo's /v8/finance/chart/^GSPC body for 2018-11-26..2018-12-31 (24 daily bars).
CHART_JSON = Path(__file__).parent / "prices" / "data" / "yahoo_chart_GSPC_2018-12.json"
# Yahoo's body for a symbol it does not list (HTTP 404).
NOT_FOUND_CHART = {
    "chart": {
        "result": None,
        "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"},
    }
}

Payload = dict[str, Any]
# yfinance's in-process lru_cache of GET answers, cleared around every test that fakes Yahoo.
_REAL_CACHE_GET = YfData.cache_get


@dataclass
class FakeResponse:
    """The part of a curl_cffi Response that yfinance reads."""

    payload: Payload | None
    status_code: int = 200
    url: str = "https://query2.finance.yahoo.com/v8/finance/chart/%5EGSPC"

    @property
    def text(self) -> str:
        if self.status_code == 429:
            return "Too Many Requests"
        return json.dumps(self.payload)

    def json(self) -> Any:
        return copy.deepcopy(self.payload)

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise curl_errors.HTTPError(f"HTTP Error {self.status_code}", 0, self)


@dataclass
class FakeYahoo:
    """Answers yfinance's requests: the chart body, or queued answers for the history call.

    `chart` answers yfinance's history request; `tz_chart` its time-zone probe
    (`range=1d`), which a real Yahoo answers even when the asked range has no bars.
    """

    chart: Payload
    tz_chart: Payload
    queued: list[FakeResponse | BaseException] = field(default_factory=list)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def history_requests(self) -> list[dict[str, Any]]:
        return [p for url, p in self.requests if "/chart/" in url and "period1" in p]

    def answer(self, url: str, params: dict[str, Any] | None) -> FakeResponse:
        params = dict(params or {})
        self.requests.append((url, params))
        if "/chart/" not in url:
            # quoteSummary / quote: what yfinance asks when the time-zone probe found nothing.
            return FakeResponse(NOT_FOUND_CHART, status_code=404, url=url)
        if "period1" not in params:
            return FakeResponse(self.tz_chart, url=url)
        response: FakeResponse | BaseException = (
            self.queued.pop(0) if self.queued else FakeResponse(self.chart, url=url)
        )
        if isinstance(response, BaseException):
            raise response
        if response.status_code == 429:
            # What YfData._make_request does with a 429 it still gets after its one retry.
            raise YFRateLimitError()
        return response


def load_chart() -> Payload:
    """A fresh copy of the recorded chart body."""
    return json.loads(CHART_JSON.read_text())


def chart_result(payload: Payload) -> Payload:
    """The single `result` entry of a chart body (to vary it in a test)."""
    result: Payload = payload["chart"]["result"][0]
    return result


def at_utc(text: str) -> Callable[[], dt.datetime]:
    """A `now` callable frozen at an ISO time in UTC."""
    moment = dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
    return lambda: moment


@pytest.fixture
def isolated_yfinance(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No disk caches, and yfinance's process-wide settings restored after the test."""
    # The time-zone cache is an SQLite file in the user's cache dir; a dummy keeps tests
    # from writing there and makes yfinance ask for the time zone every time.
    monkeypatch.setattr(yfinance.cache, "get_tz_cache", yfinance.cache._TzCacheDummy)
    # YFinanceSource switches this process-wide setting; yfinance's config is not a plain
    # object monkeypatch can restore.
    hide_exceptions = yf.config.debug.hide_exceptions
    _REAL_CACHE_GET.cache_clear()
    yield
    _REAL_CACHE_GET.cache_clear()
    yf.config.debug.hide_exceptions = hide_exceptions


@pytest.fixture
def yahoo(monkeypatch: pytest.MonkeyPatch, isolated_yfinance: None) -> Iterator[FakeYahoo]:
    """Yahoo answering from the recorded chart; YfData.get and cache_get are the HTTP seam."""
    fake = FakeYahoo(chart=load_chart(), tz_chart=load_chart())

    def get(self: YfData, url: str, params: Any = None, timeout: float = 30) -> FakeResponse:
        return fake.answer(url, params)

    # cache_get is an lru_cache around get: replacing both keeps answers from leaking
    # between tests (the history of a past range goes through cache_get).
    monkeypatch.setattr(YfData, "get", get)
    monkeypatch.setattr(YfData, "cache_get", get)
    yield fake


@pytest.fixture
def sleeps() -> list[float]:
    """Records the backoff sleeps instead of sleeping."""
    return []


@pytest.fixture
def make_source(sleeps: list[float]) -> Callable[..., YFinanceSource]:
    """A YFinanceSource that records its sleeps; `now` defaults to after the 2018-12-31 close."""

    def make(now: str = "2019-01-02T12:00:00", **kwargs: Any) -> YFinanceSource:
        return YFinanceSource(sleep=sleeps.append, now=at_utc(now), **kwargs)

    return make


@dataclass
class FakeSession:
    """Stands in for yfinance's curl_cffi session, below YfData's real request logic."""

    handler: Callable[[str], FakeResponse]
    urls: list[str] = field(default_factory=list)

    def get(self, url: str, **kwargs: Any) -> FakeResponse:
        self.urls.append(url)
        return self.handler(url)


@pytest.fixture
def yahoo_http(
    monkeypatch: pytest.MonkeyPatch, isolated_yfinance: None
) -> Callable[[Callable[[str], FakeResponse]], FakeSession]:
    """Fake only the HTTP session, so YfData's own 429 and error handling run for real."""

    def install(handler: Callable[[str], FakeResponse]) -> FakeSession:
        data = YfData()
        session = FakeSession(handler)
        monkeypatch.setattr(data, "_session", session)
        # The cookie/crumb dance is the only other network path; its state is put back after.
        monkeypatch.setattr(YfData, "_get_cookie_and_crumb", lambda self, timeout=30: (None, None))
        for name in ("_cookie_strategy", "_cookie", "_crumb"):
            monkeypatch.setattr(data, name, getattr(data, name))
        return session

    return install


def symbol_chart(symbol: str, factor: float) -> Payload:
    """The recorded chart body as Yahoo answers it for another symbol: its meta names the
    symbol, and every price (and adjusted close) is scaled by `factor`."""
    payload = load_chart()
    result = chart_result(payload)
    result["meta"]["symbol"] = symbol
    quote = result["indicators"]["quote"][0]
    for column in ("open", "high", "low", "close"):
        quote[column] = [None if v is None else v * factor for v in quote[column]]
    adjclose = result["indicators"]["adjclose"][0]
    adjclose["adjclose"] = [None if v is None else v * factor for v in adjclose["adjclose"]]
    return payload


@dataclass
class FakeYahooMany:
    """Yahoo answering many symbols, as a batch (`yf.download` with a list) asks it: one chart
    request per symbol. `charts` answers a symbol's requests; a symbol without one is a 404
    as Yahoo gives an unlisted symbol; `queued` holds answers to a symbol's next history
    requests (a 429, say) before its chart."""

    charts: dict[str, Payload]
    queued: dict[str, list[FakeResponse]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def history_requests(self, symbol: str) -> int:
        return sum(1 for s, p in self.requests if s == symbol and "period1" in p)

    def answer(self, url: str, params: dict[str, Any] | None) -> FakeResponse:
        params = dict(params or {})
        if "/chart/" not in url:
            return FakeResponse(NOT_FOUND_CHART, status_code=404, url=url)
        symbol = urllib.parse.unquote(url.rsplit("/", 1)[-1])
        self.requests.append((symbol, params))
        if symbol not in self.charts:
            return FakeResponse(NOT_FOUND_CHART, status_code=404, url=url)
        waiting = self.queued.get(symbol, [])
        if "period1" in params and waiting:
            response = waiting.pop(0)
            if response.status_code == 429:
                raise YFRateLimitError()
            return response
        return FakeResponse(self.charts[symbol], url=url)


@pytest.fixture
def yahoo_many(monkeypatch: pytest.MonkeyPatch, isolated_yfinance: None) -> Iterator[FakeYahooMany]:
    """Yahoo answering each symbol from the recorded chart (set `charts`); YfData.get and
    cache_get are the HTTP seam, called from yf.download's threads as from history."""
    fake = FakeYahooMany(charts={})
    lock = threading.Lock()

    def get(self: YfData, url: str, params: Any = None, timeout: float = 30) -> FakeResponse:
        with lock:  # yf.download asks from several threads
            return fake.answer(url, params)

    monkeypatch.setattr(YfData, "get", get)
    monkeypatch.setattr(YfData, "cache_get", get)
    yield fake
