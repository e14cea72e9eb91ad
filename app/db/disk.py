"""A full disk: telling it from other errors, naming the disk, and whether writes fail now.

A full disk is not an outage that passes in a few seconds (app/db/outages.py retries those):
an operator has to free space. So a write that meets it is refused at once with 507 and one
sentence naming the disk, a training job stops at once with that reason, and `/readyz` says
not ready while it lasts (the free space of the data directory, and any write of this process
that met a full disk in the last `RECENT_SECONDS`).
"""

from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from app.core.errors import InsufficientStorage

# How long after a write met a full disk `/readyz` keeps saying not ready (seconds): the
# PostgreSQL server's disk cannot be looked at from here, and a large write can fail on a disk
# that still has a few megabytes free.
RECENT_SECONDS = 30.0
# SQLite's words for SQLITE_FULL; PostgreSQL's SQLSTATE disk_full.
_SQLITE_FULL = "database or disk is full"
_PG_DISK_FULL = "53100"
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)

_lock = threading.Lock()
_last_full: float | None = None  # time.monotonic() of the last write that met a full disk


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc`, or what it wraps, says the disk (or a quota) is full."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _NO_SPACE:
            return True
        if isinstance(current, DBAPIError) and current.orig is not None:
            if _SQLITE_FULL in str(current.orig).lower():
                return True
            if getattr(current.orig, "sqlstate", None) == _PG_DISK_FULL:
                return True
        current = current.__cause__ or current.__context__
    return False


def which_disk(database_url: str, data_dir: Path, exc: BaseException | None = None) -> str:
    """The disk a user must free, in a few words."""
    if exc is not None:
        filename = _filename(exc)
        if filename:
            return f"the disk holding {Path(filename).parent}"
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            return f"the disk holding the database ({Path(url.database).parent})"
        return f"the disk holding the data directory ({data_dir})"
    if exc is not None and isinstance(exc, DBAPIError):
        return f"the disk of the {url.get_backend_name()} server ({url.host or 'local'})"
    return f"the disk holding the data directory ({data_dir})"


def _filename(exc: BaseException) -> str | None:
    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, OSError) and current.filename:
            return str(current.filename)
        current = current.__cause__ or current.__context__
    return None


def refusal(database_url: str, data_dir: Path, exc: BaseException) -> InsufficientStorage:
    """The 507 for a write that met a full disk."""
    disk = which_disk(database_url, data_dir, exc)
    return InsufficientStorage(
        f"{disk[0].upper()}{disk[1:]} is full; nothing was changed. "
        "Free space there, then try again."
    )


def noted() -> None:
    """Remember that a write of this process met a full disk now."""
    global _last_full
    with _lock:
        _last_full = time.monotonic()


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use on the filesystem of `path` (of its nearest
    existing parent, for a directory not made yet)."""
    while not path.exists() and path.parent != path:
        path = path.parent
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def problem(data_dir: Path, *, min_free_bytes: int) -> str | None:
    """Why writes fail or are about to, for `/readyz`; None while they can go on."""
    with _lock:
        last = _last_full
    try:
        free = free_bytes(data_dir)
    except OSError as exc:
        return f"the data directory ({data_dir}) cannot be read: {exc.strerror or exc}"
    if free < min_free_bytes:
        return (
            f"the disk holding the data directory ({data_dir}) is full: {free / 1e6:.1f} MB free, "
            f"under {min_free_bytes / 1e6:g} MB (TICKERCAST_MIN_FREE_DISK_MB)"
        )
    if last is not None and time.monotonic() - last < RECENT_SECONDS:
        return f"a write met a full disk {time.monotonic() - last:.0f} s ago"
    return None
