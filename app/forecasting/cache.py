"""Forecast answers computed once: the response bytes per request, tagged with the ticker's
serving token they were computed under (app/db/serving_state.py).

The key is everything a request says: ticker, version or alias (or neither: the champion,
else the latest version), horizon (or none: the version's own) and the sorted levels. The
value is the token read *before* the answer was computed, and the answer: the JSON bytes of a
forecast, or the domain error it raised. An entry is served only while the ticker's token is
still the one it was tagged with, so any write that changes the ticker (bars, a version, an
alias) makes every process recompute on its next request, with no time-to-live. Since the
token is read first, an answer is never older than its tag: a write that lands between the
read and the computation leaves an answer newer than its tag, which the next request, seeing
the new token, computes once more.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from app.core.errors import TickercastError
from app.observability.metrics import FORECAST_CACHE


@dataclass(frozen=True)
class ForecastRequest:
    """What a caller asked for; the cache key."""

    ticker: str  # upper-case, as stored
    levels: tuple[int, ...]  # sorted, each once
    horizon: int | None = None
    version: int | None = None
    alias: str | None = None


@dataclass(frozen=True)
class Refusal:
    """A domain error as a value: what a caller hears again for the same request and token."""

    status: int
    code: str
    message: str

    @classmethod
    def of(cls, exc: TickercastError) -> Refusal:
        return cls(exc.status, exc.code, exc.message)

    def error(self) -> TickercastError:
        """A fresh exception to raise (a stored one would gather tracebacks)."""
        exc = TickercastError(self.message)
        exc.status, exc.code = self.status, self.code
        return exc


@dataclass(frozen=True)
class Answer:
    """A computed answer: the forecast's JSON, or the refusal a caller must hear again.

    `keep` is False for a refusal that must not be kept under the serving token, because what
    it is about can be repaired without a new token (a corrupted blob, app/registry/versions.py).
    """

    body: bytes | None = None
    refusal: Refusal | None = None
    keep: bool = True


class ForecastCache:
    """Thread-safe LRU of answers, at most `capacity` requests per process."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[ForecastRequest, tuple[int, Answer]] = OrderedDict()
        self._lock = threading.Lock()
        self._hit = FORECAST_CACHE.labels("hit")
        self._miss = FORECAST_CACHE.labels("miss")

    def get(
        self, request: ForecastRequest, token: int, *, count_miss: bool = True
    ) -> Answer | None:
        """The answer computed under this token, or None; counted as a hit or a miss (a caller
        that passes the request on to one that asks again does not count its miss)."""
        with self._lock:
            entry = self._items.get(request)
            if entry is not None and entry[0] == token:
                self._items.move_to_end(request)
                self._hit.inc()
                return entry[1]
        if count_miss:
            self._miss.inc()
        return None

    def put(self, request: ForecastRequest, token: int, answer: Answer) -> None:
        """Keep an answer computed under `token`, evicting the least recently used."""
        with self._lock:
            self._items[request] = (token, answer)
            self._items.move_to_end(request)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
