"""`python -m app.healthcheck`, the health check docker-compose.yml runs in the worker and
scheduler containers, against real `tickercast worker` and `tickercast scheduler` processes."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from app import healthcheck
from app.core.config import Settings
from app.jobs.local import settings_env

TICKERCAST = Path(sys.executable).with_name("tickercast")  # the console script, as in an image
WAIT = 60  # seconds for a process to register, or to be gone

pytestmark = pytest.mark.live


@contextmanager
def tickercast(role: str, settings: Settings) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [str(TICKERCAST), role],
        env=settings_env(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=WAIT)


def listed(pid: int, role: str) -> bool:
    """Whether `running` lists pid once it has exec'd: right after Popen, under load, the child
    may still carry the test's own command line (forked, not yet exec'd)."""
    deadline = time.monotonic() + WAIT
    while pid not in healthcheck.running(role):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def settle(role: str, settings: Settings, healthy: bool) -> str | None:
    """The health check's answer once it is (un)healthy, or the last one after WAIT s."""
    deadline = time.monotonic() + WAIT
    while True:
        found = healthcheck.problem(role, settings)
        if (found is None) == healthy or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def test_a_worker_is_healthy_while_registered_on_its_queue_and_not_once_stopped(
    rq_settings: Settings,
) -> None:
    assert healthcheck.problem("worker", rq_settings) is not None  # none on this queue yet
    with tickercast("worker", rq_settings) as process:
        assert listed(process.pid, "worker")
        assert settle("worker", rq_settings, healthy=True) is None
    # Gone, and its registration with it (another run's worker on this host would not count).
    assert settle("worker", rq_settings, healthy=False) is not None
    assert healthcheck.worker_problem(rq_settings) is not None


@pytest.mark.parametrize("database_backend", ["postgresql"])
def test_a_scheduler_is_healthy_while_its_database_answers(rq_settings: Settings) -> None:
    with tickercast("scheduler", rq_settings) as process:
        assert listed(process.pid, "scheduler")
        assert healthcheck.problem("scheduler", rq_settings) is None
        unreachable = rq_settings.model_copy(
            update={"database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
        )
        found = healthcheck.problem("scheduler", unreachable)
        assert found is not None and found.startswith("OperationalError: ")


def test_the_command_exits_1_with_a_reason_and_2_on_a_wrong_role(rq_settings: Settings) -> None:
    env = settings_env(rq_settings)
    unhealthy = subprocess.run(
        [sys.executable, "-m", "app.healthcheck", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert unhealthy.returncode == 1 and unhealthy.stdout.startswith("unhealthy: ")
    wrong = subprocess.run(
        [sys.executable, "-m", "app.healthcheck", "api"],
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert wrong.returncode == 2 and "worker|scheduler" in wrong.stderr
