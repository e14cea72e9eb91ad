"""A background thread that runs one function every few seconds (the dispatcher, the janitor)."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from app.core.config import Settings


def supervisor_lock(settings: Settings) -> Path:
    """The host lock of the job supervisor (the local dispatcher or the rq janitor): one
    process per data directory supervises, however many API processes serve."""
    return settings.data_dir / "job-supervisor.lock"


class Periodic:
    """Calls `tick` every `interval` seconds (at once after wake()) until stopped."""

    def __init__(
        self,
        name: str,
        interval: float,
        tick: Callable[[], object],
        log: logging.Logger,
        *,
        host_lock: Path | None = None,
    ) -> None:
        self.name = name
        self.interval = interval  # seconds
        self.tick = tick
        self.log = log
        # With a lock file, only the process holding it ticks: `serve --workers N` starts N
        # API processes on one host, and one supervisor among them is enough. The others
        # keep trying, so one takes over when the holder exits.
        self.host_lock = host_lock
        self._lock_fd: int | None = None
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
        self._release()

    def holds_lock(self) -> bool:
        """Whether this process may tick: it holds the host lock, or none is used."""
        if self.host_lock is None or self._lock_fd is not None:
            return True
        self.host_lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.host_lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd
        self.log.info("%s: this process (%d) supervises the jobs", self.name, os.getpid())
        return True

    def _release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = None

    def _loop(self) -> None:
        failing: str | None = None  # the failure logged last, not logged again while it lasts
        while not self._stop.is_set():
            try:
                if self.holds_lock():
                    self.tick()
                if failing is not None:
                    self.log.warning("%s: ticks work again", self.name)
                    failing = None
            except Exception as exc:  # a database or Redis hiccup must not end the thread
                # Once per kind of failure, not once a tick: a full disk lasts until someone
                # frees space, and a line a second (with its traceback) only fills it more.
                # (A database error's own words, not its SQL, whose parameters change.)
                what = f"{type(exc).__name__}: {getattr(exc, 'orig', None) or exc}"
                if what != failing:
                    self.log.exception(
                        "%s: tick failed (not logged again until it changes or works)",
                        self.name,
                    )
                    failing = what
            self._wake.wait(self.interval)
            self._wake.clear()
