"""Engine and sessions: SQLite gets WAL, a busy timeout and foreign keys at every connect."""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

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
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={round(busy_timeout * 1000)}")
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


def upsert_into(session: Session, table: Any) -> Any:
    """An INSERT into `table` that takes ON CONFLICT clauses, in the session's dialect.

    PostgreSQL and SQLite spell the upsert the same way, through different classes.
    """
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
