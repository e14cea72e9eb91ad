"""Per-caller rate limits on the expensive writes (training, imports): 429 with Retry-After.

The `limits` library counts hits in a moving window, in this process's memory, or in Redis
when the service runs with the rq queue, so that every API process shares one count. While
Redis does not answer, each process counts in its own memory instead: the limit holds per
process, and a Redis outage does not turn writes into errors.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from fastapi import Depends, Request
from limits import RateLimitItem, parse, storage, strategies
from redis.exceptions import RedisError

from app.api.auth import Caller, require
from app.core.config import Scope, Settings
from app.core.errors import TooManyRequests

log = logging.getLogger("tickercast.ratelimit")


class RateLimiter:
    """One moving-window limiter per service; `hit` raises TooManyRequests past the limit."""

    def __init__(self, settings: Settings) -> None:
        url = settings.redis_url if settings.queue == "rq" else "memory://"
        self._limiter = strategies.MovingWindowRateLimiter(storage.storage_from_string(url))
        self._fallback = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
        self._limits: dict[str, RateLimitItem] = {
            "train": parse(settings.train_rate_limit),
            "import": parse(settings.import_rate_limit),
        }

    def hit(self, action: str, caller: Caller) -> None:
        """Count one `action` by `caller`, or refuse it with the wait."""
        item = self._limits[action]
        limiter = self._limiter
        try:
            allowed = limiter.hit(item, action, caller.id)
        except RedisError as exc:
            log.warning("rate limit counted in this process: Redis does not answer (%s)", exc)
            limiter = self._fallback
            allowed = limiter.hit(item, action, caller.id)
        if allowed:
            return
        reset = limiter.get_window_stats(item, action, caller.id).reset_time
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
