"""Bounded work per process: a few turns for the heavy requests, a short wait, then 429.

A CSV import holds its whole body and the parsed frame while it works; issue 19 measured
+3.8 GB in one API process for 16 imports of a 2-million-row file at once. An import takes a
turn before it reads its body, so that those waiting hold nothing but their connection.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app.core.errors import TooManyRequests


class Turns:
    """At most `size` holders at once; the next ones wait up to `wait` seconds for a turn."""

    def __init__(self, what: str, *, size: int, wait: float, setting: str) -> None:
        self.what = what
        self.setting = setting  # the variable that sets `size`, named in the 429
        self.size = size
        self.wait = wait  # seconds
        self._free = asyncio.Semaphore(size)

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold a turn for the block, or raise TooManyRequests once the wait is over."""
        try:
            if self._free.locked():
                await asyncio.wait_for(self._free.acquire(), timeout=self.wait)
            else:  # free: taken without yielding (wait_for with no time left would refuse)
                await self._free.acquire()
        except TimeoutError:
            retry = max(1, math.ceil(self.wait))
            raise TooManyRequests(
                f"{self.size} {self.what} are already running in this process "
                f"({self.setting}); nothing was read or stored. "
                f"Try again in {retry} s.",
                headers={"Retry-After": str(retry)},
            ) from None
        try:
            yield
        finally:
            self._free.release()
