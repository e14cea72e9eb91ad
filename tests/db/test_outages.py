"""Outlasting a passing database outage, on a real SQLite file locked by another connection."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from app.core.config import Settings
from app.db.engine import get_engine, session_scope
from app.db.outages import DatabaseOutage, describe, is_outage, outlast
from app.jobs.runner import failure_reason
from app.main import create_app
from tests.conftest import SAMPLE_CSV

CSV = {"Content-Type": "text/csv"}


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


@pytest.mark.parametrize("database_backend", ["postgresql"])
def test_a_postgresql_row_lock_held_past_the_statement_timeout_is_a_503(
    settings: Settings,
) -> None:
    """statement_timeout comes from the settings: a write stuck behind another transaction's
    lock is a 503 after it, not a request that waits for as long as the lock is held."""
    limited = settings.model_copy(update={"db_statement_timeout_seconds": 1.0})
    url = limited.resolved_database_url()
    assert "connect_timeout=5" in url and "statement_timeout%3D1000" in url
    csv = SAMPLE_CSV.read_bytes()
    with TestClient(create_app(limited)) as client:
        assert client.put("/prices/LOCK", content=csv, headers=CSV).status_code == 200
        holder = create_engine(settings.resolved_database_url()).connect()
        try:
            holder.execute(text("SELECT * FROM ticker WHERE symbol = 'LOCK' FOR UPDATE"))
            with get_engine(url).connect() as conn:
                assert conn.execute(text("SHOW statement_timeout")).scalar() == "1s"
            started = time.monotonic()
            resp = client.put("/prices/LOCK", content=csv, headers=CSV)
            took = time.monotonic() - started
        finally:
            holder.rollback()
            holder.close()
    assert resp.status_code == 503, resp.text
    assert resp.headers["retry-after"] and resp.headers["x-request-id"]
    assert took < 10, took
    print(f"row lock past a 1 s statement_timeout: 503 in {took:.2f} s")
