"""Engine and sessions: SQLite gets WAL, a busy timeout and foreign keys at every connect."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from app.core.errors import ServiceUnavailable

# How long a SQLite statement waits for another connection's write lock (seconds); a URL's
# own `?timeout=SECONDS` (pysqlite's parameter) sets it per database.
SQLITE_BUSY_TIMEOUT = 30.0
# Every engine this process made, so that a forked child (an RQ work-horse) can let go of the
# pooled connections it inherited: two processes talking over one socket corrupt both.
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def _forget_inherited_connections() -> None:
    for engine in list(_ENGINES):
        # close=False: closing would end the parent's connections too.
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_inherited_connections)


def _sqlite_pragmas(busy_timeout: float) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={round(busy_timeout * 1000)}")
        # A new, empty file only (an existing one keeps its mode until a VACUUM, and setting it
        # there would wait for any writer): retention's prune then hands freed pages back to
        # the file system with `incremental_vacuum`.
        if cursor.execute("PRAGMA page_count").fetchone()[0] == 0:
            cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # WAL keeps committed data safe with NORMAL; FULL would fsync every commit.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return on_connect


def make_engine(url: str) -> Engine:
    """Create an engine; for SQLite, create the parent folder and switch the pragmas on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        busy_timeout = float(str(parsed.query.get("timeout", SQLITE_BUSY_TIMEOUT)))
        engine = create_engine(url, connect_args={"timeout": busy_timeout})
        event.listen(engine, "connect", _sqlite_pragmas(busy_timeout))
    else:
        # pre_ping: a connection the server dropped (a restart, a failover) is replaced before
        # use, so the service recovers from an outage without a restart of its own.
        engine = create_engine(url, pool_pre_ping=True)
    _ENGINES.add(engine)
    return engine


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """One engine per URL per process."""
    return make_engine(url)


def session_factory(url: str) -> sessionmaker[Session]:
    """A sessionmaker bound to the URL's engine."""
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A unit of work for jobs and commands: commit on success, roll back on error."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# One SQLite writer at a time in this process: the others wait here, on a lock that costs them
# nothing, instead of polling the database's lock in SQLite's busy handler for up to
# SQLITE_BUSY_TIMEOUT seconds. Across processes the busy timeout still applies.
_SQLITE_WRITE_TURN = threading.Lock()
_TURN_KEY = "sqlite_write_turn"


def take_write_turn(session: Session) -> None:
    """Before a write that other writers in this process may race: on SQLite, wait for this
    process's turn, then BEGIN IMMEDIATE, holding both until the session's transaction ends.

    Without it, writers of one database meet inside SQLite's busy handler, which retries on a
    timer. Nothing on PostgreSQL, whose row locks already make writers take turns. Blocks: call
    it from a worker thread, never from the event loop.
    """
    if session.info.get(_TURN_KEY) or session.get_bind().dialect.name != "sqlite":
        return
    if not _SQLITE_WRITE_TURN.acquire(timeout=SQLITE_BUSY_TIMEOUT):
        raise ServiceUnavailable(
            "Other writes to the database took too long; nothing was changed. Try again."
        )
    session.info[_TURN_KEY] = True
    try:
        dbapi = session.connection().connection.dbapi_connection
        # Writes this transaction already made hold SQLite's write lock; else take it now, so
        # that no read snapshot taken meanwhile can make the first write fail at once.
        if dbapi is not None and not dbapi.in_transaction:
            session.execute(text("BEGIN IMMEDIATE"))
    except BaseException:
        _end_turn(session)
        raise


def _end_turn(session: Session) -> None:
    if session.info.pop(_TURN_KEY, False):
        _SQLITE_WRITE_TURN.release()


@event.listens_for(Session, "after_transaction_end")
def _release_write_turn(session: Session, transaction: SessionTransaction) -> None:
    # Only the outermost transaction's end (commit, rollback or close) ends the turn.
    if transaction.parent is None:
        _end_turn(session)


def upsert_into(session: Session, table: Any) -> Any:
    """An INSERT into `table` that takes ON CONFLICT clauses, in the session's dialect.

    PostgreSQL and SQLite spell the upsert the same way, through different classes.
    """
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
