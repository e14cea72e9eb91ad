"""Prometheus multiprocess mode, set up by the process that starts the others.

prometheus_client decides at import whether values live in memory or in files under
PROMETHEUS_MULTIPROC_DIR, so this module must not import it: `tickercast serve` calls
`prepare()` before anything imports prometheus_client. API worker processes and the training
processes the local dispatcher spawns inherit the variable and write their own files there;
`/metrics` adds them up.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare(directory: Path) -> Path:
    """Empty the directory (files of a previous run would be counted again) and point
    prometheus_client at it, for this process and every process it starts."""
    if "prometheus_client" in sys.modules:
        raise RuntimeError(
            "prometheus_client was imported before its multiprocess directory was set; "
            "call app.observability.multiprocess.prepare() first"
        )
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    os.environ[ENV] = str(directory)
    return directory


def active_dir() -> str | None:
    """The multiprocess directory of this process, if it runs in multiprocess mode."""
    # prometheus_client's own variable, not a setting: it is what the library reads.
    return os.environ.get(ENV) or None


def preallocate_files() -> None:
    """Make prometheus_client's memory-mapped files safe on a full disk.

    prometheus_client maps each file and grows it with `truncate`, which makes a sparse file:
    the disk blocks are only taken when a page is first written, and on a full disk that write
    is a SIGBUS that kills the process (issue 19: both API workers, in a loop). Here every file
    is allocated (`posix_fallocate`) before it is mapped or grown, so a full disk is an
    OSError at that point; then the value is kept in memory instead, not exported (logged once
    per file), and the process goes on. Call after importing prometheus_client, before any
    metric is made.
    """
    from prometheus_client import values

    values.MmapedDict = _preallocated_dict()  # type: ignore[misc,assignment]


@functools.cache
def _preallocated_dict() -> type:
    """The class, made once (prometheus_client is imported only when this is called)."""
    import logging
    import struct
    from typing import Any

    from prometheus_client import mmap_dict

    log = logging.getLogger("tickercast.metrics")

    class PreallocatedDict(mmap_dict.MmapedDict):  # type: ignore[misc]
        """An MmapedDict whose file blocks exist before they are touched."""

        def __init__(self, filename: str, read_mode: bool = False) -> None:
            self._lost: dict[str, tuple[float, float]] = {}
            if read_mode:
                super().__init__(filename, read_mode)
                return
            try:
                fd = os.open(filename, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    size = os.fstat(fd).st_size or mmap_dict._INITIAL_MMAP_SIZE
                    os.posix_fallocate(fd, 0, size)
                finally:
                    os.close(fd)
                super().__init__(filename, read_mode)
            except OSError as exc:
                self._in_memory(filename, exc)

        def _in_memory(self, filename: str, exc: OSError) -> None:
            log.error(
                "metrics file %s cannot be written (%s): this process's metrics of its kind "
                "are kept in memory and not exported until it restarts",
                filename,
                exc.strerror or exc,
            )
            self._f = None
            self._fname = filename
            self._capacity = 0
            self._m = None
            self._positions = {}
            self._used = 8

        def _init_value(self, key: str) -> None:
            if self._f is None:
                self._lost.setdefault(key, (0.0, 0.0))
                return
            encoded = key.encode("utf-8")
            padded = len(encoded) + (8 - (len(encoded) + 4) % 8)
            needed = self._used + struct.calcsize(f"i{padded}sdd")
            capacity = self._capacity
            while needed > capacity:
                capacity *= 2
            try:
                if capacity > self._capacity:
                    os.posix_fallocate(self._f.fileno(), 0, capacity)
                super()._init_value(key)
            except OSError as exc:
                if not self._lost:
                    log.error(
                        "metrics file %s cannot grow (%s): new series of this process are "
                        "kept in memory and not exported",
                        self._fname,
                        exc.strerror or exc,
                    )
                self._lost.setdefault(key, (0.0, 0.0))

        def read_value(self, key: str) -> Any:
            if key not in self._positions and key not in self._lost:
                self._init_value(key)
            if key in self._lost:
                return self._lost[key]
            return super().read_value(key)

        def write_value(self, key: str, value: float, timestamp: float) -> None:
            if key not in self._positions and key not in self._lost:
                self._init_value(key)
            if key in self._lost:
                self._lost[key] = (value, timestamp)
                return
            super().write_value(key, value, timestamp)

        def read_all_values(self) -> Any:
            if self._f is None:
                return iter(())
            return super().read_all_values()

    return PreallocatedDict
