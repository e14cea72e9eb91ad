"""A background thread that runs one function every few seconds (the dispatcher, the janitor)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable


class Periodic:
    """Calls `tick` every `interval` seconds (at once after wake()) until stopped."""

    def __init__(
        self, name: str, interval: float, tick: Callable[[], object], log: logging.Logger
    ) -> None:
        self.name = name
        self.interval = interval  # seconds
        self.tick = tick
        self.log = log
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (idempotent)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Tick now rather than at the end of the interval."""
        self._wake.set()

    def stop(self) -> None:
        """Stop ticking; a tick under way finishes first."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # a database or Redis hiccup must not end the thread
                self.log.exception("%s: tick failed", self.name)
            self._wake.wait(self.interval)
            self._wake.clear()
