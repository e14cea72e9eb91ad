"""The API's worker processes under uvicorn's supervisor, with a dead worker replaced at once.

uvicorn checks each worker by sending a ping down a pipe and waiting up to
`timeout_worker_healthcheck` for the answer. A worker killed while its ping is in flight never
answers, and the pipe's other end stays open in the parent, so the wait ran the whole 60 s
(`WORKER_HEALTHCHECK_SECONDS`, app/cli.py): 3 of 12 kill -9 probes left the port with no
worker for 51-63 s. Here the wait is cut in slices that each ask whether the process still
exists: a dead worker is replaced within a slice, while a live one busy importing still gets
the whole timeout.
"""

from __future__ import annotations

import logging
import pickle
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess, Process

log = logging.getLogger("uvicorn.error")
# How often a ping's wait looks at whether the worker is still there (seconds).
LIVENESS_SLICE = 0.25


def answers(conn: Connection, worker: BaseProcess, timeout: float) -> bool:
    """Whether `worker` answers a ping on `conn` within `timeout` seconds; False as soon as it
    exits."""
    if not worker.is_alive():
        return False
    try:
        conn.send(b"ping")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if conn.poll(LIVENESS_SLICE):
                conn.recv()
                return True
            if not worker.is_alive():
                return False
    except (OSError, EOFError, pickle.UnpicklingError):
        return False
    return False


class WorkerSupervisor(Multiprocess):
    """uvicorn's Multiprocess, whose liveness check notices a dead worker within a slice."""

    def keep_subprocess_alive(self) -> None:
        """Replace each worker that exited or stopped answering (uvicorn's own loop, with
        `answers` for its ping)."""
        if self.should_exit.is_set():
            return
        for idx, process in enumerate(self.processes):
            if answers(
                process.parent_conn, process.process, self.config.timeout_worker_healthcheck
            ):
                continue
            process.kill()  # hung or gone: make sure, then replace it
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                # Broken before it served (the app, the socket): every restart would fail alike.
                log.error("Child process [%s] failed to start, stopping the parent.", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            log.info("Child process [%s] died; starting a replacement", process.pid)
            replacement = Process(self.config, self.sockets)
            replacement.start()
            self.processes[idx] = replacement
