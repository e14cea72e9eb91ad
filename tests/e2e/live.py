"""A real `tickercast serve` process on a free port, for tests that need a real HTTP server
(browsers, the client commands, server-sent events across a shutdown)."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen

import httpx

from app.core.config import Settings
from tests.conftest import SAMPLE_CSV, WAIT_SECONDS
from tests.e2e.test_rq_scale_out import free_port, spawn, stop


@dataclass
class LiveService:
    settings: Settings
    url: str
    process: Popen[bytes]
    log: Path

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def start(
    settings: Settings,
    data_dir: Path,
    *,
    extra_args: list[str] | None = None,
    log_dir: Path | None = None,
) -> LiveService:
    """Start `tickercast serve` with these settings and wait until it answers /healthz; its
    output goes to `serve.log` in `log_dir` (default the data directory)."""
    port = free_port()
    log = (log_dir or data_dir) / "serve.log"
    args = ["serve", "--port", str(port), "--no-migrate", *(extra_args or [])]
    process = spawn(args, settings, log)
    service = LiveService(settings, f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{service.url}/healthz", timeout=5).status_code == 200:
                return service
        assert process.poll() is None, f"the service exited:\n{service.tail()}"
        assert time.monotonic() < deadline, f"the service did not start:\n{service.tail()}"
        time.sleep(0.2)


@contextlib.contextmanager
def running(
    data_dir: Path,
    template: Path,
    *,
    sample: bool = True,
    log_dir: Path | None = None,
    **overrides: object,
) -> Iterator[LiveService]:
    """A service on a copy of the migrated SQLite template, the sample imported over HTTP."""
    db = data_dir / "tickercast.db"
    shutil.copy(template, db)
    values: dict[str, object] = {
        "data_dir": data_dir,
        # Beside the data directory, not on it (a test fills that disk) nor in /dev/shm.
        "host_dir": str(data_dir.parent / f"{data_dir.name}-host"),
        "database_url": f"sqlite:///{db}",
        "price_source": "none",
        "embedded_dispatcher": True,
        "dispatch_interval_seconds": 0.2,
        "events_poll_seconds": 0.25,
        # One process, as these tests expect (serve's default is one per core).
        "workers": 1,
        **overrides,
    }
    settings = Settings(**values)  # type: ignore[arg-type]
    service = start(settings, data_dir, log_dir=log_dir)
    try:
        if sample:
            resp = httpx.put(
                f"{service.url}/prices/%5EGSPC",
                content=SAMPLE_CSV.read_bytes(),
                headers={"Content-Type": "text/csv"},
                timeout=60,
            )
            assert resp.status_code == 200, resp.text
        yield service
    finally:
        stop(service.process)
