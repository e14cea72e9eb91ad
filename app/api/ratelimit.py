"""Per-caller rate limits on the expensive writes (training, imports): 429 with Retry-After.

Every API process of a deployment counts into one moving window: in Redis when the service
runs with the rq queue (the `limits` library: every host shares it), else in a SQLite file in
the host's shared directory (`HostWindow`: every worker of `tickercast serve` on this host;
issue 19 measured 60 of 90 bad imports let through with a limit of 30, counted per worker).
While Redis or the file does not answer, each process counts in its own memory instead: the
limit holds per process, and an outage does not turn writes into errors.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from fastapi import Depends, Request
from limits import RateLimitItem, parse, storage, strategies
from redis.exceptions import RedisError

from app.api.auth import Caller, require
from app.core.config import Scope, Settings
from app.core.errors import TooManyRequests

log = logging.getLogger("tickercast.ratelimit")


class HostWindow:
    """A moving window of hits kept in a SQLite file, shared by the processes of one host.

    Each hit is a row; a hit first drops the rows older than the window, then counts. One
    short write transaction per hit (BEGIN IMMEDIATE), so processes take turns.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._made = False  # the file is made at the first hit, not by every app built

    def _connect(self) -> sqlite3.Connection:
        if not self._made:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Not the service's database: its own file, made in autocommit mode.
            with contextlib.closing(
                sqlite3.connect(self.path, timeout=5, isolation_level=None)
            ) as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("CREATE TABLE IF NOT EXISTS hit (key TEXT NOT NULL, at REAL NOT NULL)")
                conn.execute("CREATE INDEX IF NOT EXISTS hit_key_at ON hit (key, at)")
            self._made = True
        # autocommit mode: transactions are begun by hand
        return sqlite3.connect(self.path, timeout=5, isolation_level=None)

    def hit(self, item: RateLimitItem, *keys: str) -> tuple[bool, float]:
        """Count a hit unless the window is full: (allowed, when the oldest hit leaves it)."""
        key = "/".join((str(item), *keys))
        window = item.get_expiry()  # seconds
        now = time.time()
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM hit WHERE key = ? AND at <= ?", (key, now - window))
            count, oldest = conn.execute(
                "SELECT count(*), min(at) FROM hit WHERE key = ?", (key,)
            ).fetchone()
            allowed = count < item.amount
            if allowed:
                conn.execute("INSERT INTO hit (key, at) VALUES (?, ?)", (key, now))
            conn.execute("COMMIT")
        finally:
            conn.close()
        return allowed, (oldest if oldest is not None else now) + window


class RateLimiter:
    """One moving-window limiter per service; `hit` raises TooManyRequests past the limit."""

    def __init__(self, settings: Settings) -> None:
        self._redis = (
            strategies.MovingWindowRateLimiter(storage.storage_from_string(settings.redis_url))
            if settings.queue == "rq"
            else None
        )
        self._host = HostWindow(settings.resolved_host_dir() / "ratelimit.sqlite")
        self._fallback = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
        self._limits: dict[str, RateLimitItem] = {
            "train": parse(settings.train_rate_limit),
            "import": parse(settings.import_rate_limit),
        }

    def _count(self, item: RateLimitItem, action: str, caller: str) -> tuple[bool, float]:
        """(allowed, when to come back) from the shared count, else this process's own."""
        try:
            if self._redis is not None:
                if self._redis.hit(item, action, caller):
                    return True, 0.0
                return False, self._redis.get_window_stats(item, action, caller).reset_time
            return self._host.hit(item, action, caller)
        except (RedisError, sqlite3.Error, OSError) as exc:
            log.warning("rate limit counted in this process: its shared count fails (%s)", exc)
        if self._fallback.hit(item, action, caller):
            return True, 0.0
        return False, self._fallback.get_window_stats(item, action, caller).reset_time

    def hit(self, action: str, caller: Caller) -> None:
        """Count one `action` by `caller`, or refuse it with the wait."""
        item = self._limits[action]
        allowed, reset = self._count(item, action, caller.id)
        if allowed:
            return
        wait = max(1, math.ceil(reset - time.time()))
        raise TooManyRequests(
            f"Rate limit for {action}: {item} per caller; try again in {wait} s.",
            headers={"Retry-After": str(wait)},
        )


def limited(action: str, scope: Scope = Scope.WRITE) -> Callable[..., Caller]:
    """A dependency: the caller must hold `scope`, and `action` is counted against it."""

    # A default, not an annotation: annotations are strings here, and `scope` is local.
    def check(request: Request, caller: Caller = Depends(require(scope))) -> Caller:  # noqa: B008
        limiter: RateLimiter = request.app.state.rate_limiter
        limiter.hit(action, caller)
        return caller

    check.__name__ = f"limit_{action}"
    return check
