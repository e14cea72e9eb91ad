"""The job supervisor runs once per host however many API processes serve: a lock file decides."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

from app.jobs.periodic import Periodic

log = logging.getLogger("test")


def test_only_the_lock_holder_ticks_and_another_takes_over_when_it_exits(tmp_path: Path) -> None:
    lock = tmp_path / "job-supervisor.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT);"
            " fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)",
            str(lock),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        ticks: list[float] = []
        loop = Periodic("test", 0.05, lambda: ticks.append(time.monotonic()), log, host_lock=lock)
        loop.start()
        time.sleep(0.4)
        assert ticks == []  # another process supervises
        holder.kill()
        holder.wait()
        deadline = time.monotonic() + 5
        while not ticks and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ticks, "the loop did not take over when the holder exited"
        loop.stop()
    finally:
        holder.kill()
        holder.wait()
