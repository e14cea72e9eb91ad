"""Database outages: telling a passing one (locked, unreachable) from a bug, and outlasting it.

A training job runs for minutes; a database restart, a failover or another writer holding
SQLite's lock must not end it. Its writes go through `outlast`, which retries with a doubling
backoff for a bounded time; what stays down past that is a `DatabaseOutage`, whose message is
one sentence for the job's error. The SQL and the driver's words go to the log only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.core.errors import ServiceUnavailable
from app.db import disk

T = TypeVar("T")
log = logging.getLogger("tickercast.db")
FIRST_BACKOFF = 0.2  # seconds
MOST_BACKOFF = 5.0  # seconds
# SQLite's words for a database another connection holds, or one it cannot reach.
_SQLITE_LOCKED = ("database is locked", "database table is locked", "database is busy")
_SQLITE_UNREACHABLE = ("unable to open database file", "disk i/o error")


class DatabaseOutage(ServiceUnavailable):
    """The database stayed busy or unreachable for longer than a caller would wait."""

    code = "database_unavailable"


def is_locked(exc: BaseException) -> bool:
    """Whether SQLite refused because another connection holds its write lock."""
    return isinstance(exc, OperationalError) and any(w in str(exc.orig) for w in _SQLITE_LOCKED)


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` is the database being busy or unreachable, rather than a bad statement."""
    if isinstance(exc, PoolTimeout | DatabaseOutage):
        return True
    if disk.is_disk_full(exc):  # not passing: someone must free space (app/db/disk.py)
        return False
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    module = type(exc.orig).__module__
    if module.startswith("sqlite3"):
        words = str(exc.orig).lower()
        return any(w in words for w in (*_SQLITE_LOCKED, *_SQLITE_UNREACHABLE))
    # psycopg's OperationalError is the connection's (refused, reset, server shutting down),
    # never the statement's: that is a ProgrammingError or an IntegrityError.
    return True


def describe(exc: BaseException) -> str:
    """What a user reads about an outage, in a few words, without SQL or parameters."""
    if isinstance(exc, DatabaseOutage):
        return exc.message
    if is_locked(exc):
        return "the database was locked by another writer"
    if not is_outage(exc):
        return f"the database refused ({type(exc).__name__})"
    return "the database was unreachable"


def outlast(action: Callable[[], T], *, seconds: float, what: str) -> T:
    """Run `action`, again after a doubling pause while the database is down, for `seconds`.

    Raises DatabaseOutage naming `what` and the cause once the time is up; any other error at
    once.
    """
    deadline = time.monotonic() + seconds
    pause = FIRST_BACKOFF
    tries = 0
    while True:
        tries += 1
        try:
            return action()
        except Exception as exc:
            if not is_outage(exc):
                raise
            left = deadline - time.monotonic()
            if left <= 0:
                log.error("%s: gave up after %d tries: %s", what, tries, exc)
                raise DatabaseOutage(
                    f"Could not {what}: {describe(exc)} for longer than {seconds:g} s "
                    "(TICKERCAST_DB_RETRY_SECONDS)."
                ) from exc
            log.warning("%s: %s; trying again in %.1f s", what, describe(exc), min(pause, left))
            time.sleep(min(pause, left))
            pause = min(pause * 2, MOST_BACKOFF)
