"""Prometheus multiprocess mode, set up by the process that starts the others.

prometheus_client decides at import whether values live in memory or in files under
PROMETHEUS_MULTIPROC_DIR, so this module must not import it: `tickercast serve` calls
`prepare()` before anything imports prometheus_client. API worker processes and the training
processes the local dispatcher spawns inherit the variable and write their own files there;
`/metrics` adds them up.
"""

from __future__ import annotations

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
