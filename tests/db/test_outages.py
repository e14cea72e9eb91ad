"""Outlasting a passing database outage, on a real SQLite file locked by another connection."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from app.db.engine import session_scope
from app.db.outages import DatabaseOutage, describe, is_outage, outlast
from app.jobs.runner import failure_reason


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "t.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
    return path


def insert(path: Path) -> None:
    # A 0.2 s busy timeout: each try waits that long for the lock, then fails.
    with session_scope(f"sqlite:///{path}?timeout=0.2") as session:
        session.execute(text("INSERT INTO t VALUES (1)"))


def lock(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])


def test_a_write_waits_out_a_lock_released_within_the_retry_time(db: Path) -> None:
    holder = lock(db)
    threading.Timer(1.0, lambda: holder.execute("ROLLBACK")).start()
    outlast(lambda: insert(db), seconds=10, what="insert")
    assert rows(db) == 1


def test_a_lock_held_past_the_retry_time_is_one_sentence_without_sql(db: Path) -> None:
    holder = lock(db)
    started = time.monotonic()
    with pytest.raises(DatabaseOutage) as raised:
        outlast(lambda: insert(db), seconds=1, what="insert a row")
    holder.execute("ROLLBACK")
    assert 1 <= time.monotonic() - started < 3
    assert raised.value.message == (
        "Could not insert a row: the database was locked by another writer for longer than "
        "1 s (TICKERCAST_DB_RETRY_SECONDS)."
    )
    assert rows(db) == 0


def test_a_bad_statement_is_not_an_outage_and_is_not_retried(db: Path) -> None:
    tries = []

    def bad() -> None:
        tries.append(1)
        with session_scope(f"sqlite:///{db}") as session:
            session.execute(text("SELECT * FROM missing"))

    with pytest.raises(OperationalError) as raised:
        outlast(bad, seconds=10, what="read")
    assert len(tries) == 1
    assert not is_outage(raised.value)
    assert "missing" not in failure_reason(raised.value)


def test_job_errors_name_the_cause_not_the_sql(db: Path) -> None:
    holder = lock(db)
    with pytest.raises(OperationalError) as raised:
        insert(db)
    holder.execute("ROLLBACK")
    locked = raised.value
    assert describe(locked) == "the database was locked by another writer"
    assert failure_reason(locked) == "Training stopped: the database was locked by another writer."
    assert failure_reason(MemoryError()).startswith("Training ran out of memory")
    assert failure_reason(KeyError("/srv/secret/path")) == (
        "Training failed unexpectedly (KeyError); the job's log has the details."
    )
