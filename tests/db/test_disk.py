"""A full disk is told apart from a passing outage, on both databases and for files."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import psycopg
from sqlalchemy.exc import OperationalError

from app.db import disk, outages


def test_sqlite_full_is_a_full_disk_not_an_outage() -> None:
    exc = OperationalError("INSERT ...", {}, sqlite3.OperationalError("database or disk is full"))
    assert disk.is_disk_full(exc)
    assert not outages.is_outage(exc)


def test_postgresql_disk_full_is_a_full_disk_not_an_outage() -> None:
    exc = OperationalError("INSERT ...", {}, psycopg.errors.DiskFull("could not extend file"))
    assert disk.is_disk_full(exc)
    assert not outages.is_outage(exc)
    where = disk.which_disk("postgresql+psycopg://u@db.example/t", Path("/data"), exc)
    assert where == "the disk of the postgresql server (db.example)"


def test_enospc_names_the_directory_of_the_file() -> None:
    exc = OSError(errno.ENOSPC, "No space left on device", "/data/logs/job-1.log")
    assert disk.is_disk_full(exc)
    refusal = disk.refusal("sqlite:////data/tickercast.db", Path("/data"), exc)
    assert refusal.status == 507 and refusal.headers["Retry-After"] == "60"
    assert refusal.message == (
        "The disk holding /data/logs is full; nothing was changed. "
        "Free space there, then try again."
    )


def test_a_locked_database_is_still_an_outage_not_a_full_disk() -> None:
    exc = OperationalError("UPDATE ...", {}, sqlite3.OperationalError("database is locked"))
    assert not disk.is_disk_full(exc)
    assert outages.is_outage(exc)
