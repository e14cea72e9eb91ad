"""Job backends: where a queued job gets run. The jobs table is the truth for every backend."""

from __future__ import annotations

from typing import Protocol

from app.core.config import Settings
from app.jobs.local import LocalDispatcher


class JobBackend(Protocol):
    """Runs queued jobs somewhere other than the API process."""

    name: str

    def start(self) -> None:
        """Begin dispatching (called at service start-up)."""

    def stop(self) -> None:
        """Stop dispatching (called at shutdown); running jobs carry on."""

    def submit(self, job_id: str) -> None:
        """A job was queued in the table (already committed)."""

    def cancel(self, job_id: str) -> None:
        """A job was cancelled in the table (already committed)."""

    def queue_status(self) -> str | None:
        """ "ok" or what is wrong with the queue jobs go through; None without one."""


class LocalBackend:
    """Spawned processes on this machine, driven by a dispatcher thread."""

    name = "local"

    def __init__(self, settings: Settings) -> None:
        self.dispatcher = LocalDispatcher(settings)

    def start(self) -> None:
        self.dispatcher.start()

    def stop(self) -> None:
        self.dispatcher.stop()

    def submit(self, job_id: str) -> None:
        self.dispatcher.wake()

    def cancel(self, job_id: str) -> None:
        # Nothing to take back: the dispatcher only starts jobs the table says are queued.
        pass

    def queue_status(self) -> str | None:
        return None  # the jobs table is the queue


def make_backend(settings: Settings) -> JobBackend:
    """The backend named by TICKERCAST_QUEUE."""
    if settings.queue == "rq":
        from app.jobs.rq_backend import RqBackend

        return RqBackend(settings)
    return LocalBackend(settings)
