"""Real processes that ended, for the tests of what supervisors make of a dead one."""

from __future__ import annotations

import os
import signal
import subprocess


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def killed_status() -> tuple[int, int]:
    """The pid and raw wait status of a real process killed with SIGKILL."""
    proc = subprocess.Popen(["sleep", "30"])
    os.kill(proc.pid, signal.SIGKILL)
    _, status = os.waitpid(proc.pid, 0)
    return proc.pid, status
