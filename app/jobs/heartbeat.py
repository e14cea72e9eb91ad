"""A training process's heartbeat thread: a live job never looks dead to the janitor."""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from app.db.engine import session_scope
from app.jobs import service as jobs

log = logging.getLogger("tickercast.heartbeat")


class Heartbeat:
    """Refreshes a running job's heartbeat every `interval` seconds while the block runs.

    Epoch ends beat too, but loading prices, one long epoch or the ONNX export can outlast
    the heartbeat timeout; without this thread a live job would be re-queued as dead.
    """

    def __init__(self, url: str, job_id: str, interval: float) -> None:
        self.url = url
        self.job_id = job_id
        self.interval = interval  # seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{job_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                with session_scope(self.url) as session:
                    jobs.beat(session, job_id=self.job_id)
            except Exception:  # a database hiccup must not end the training
                log.warning("job %s: heartbeat failed", self.job_id, exc_info=True)
