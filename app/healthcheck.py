"""`python -m app.healthcheck worker|scheduler`: a container's health check for the processes
that serve no HTTP (docker-compose.yml runs it inside their containers).

It exits 0 when a process of that role runs on this host and reaches what it needs, else 1
with one line saying what is wrong:

- worker: a `tickercast worker` process runs here, and Redis (TICKERCAST_REDIS_URL) holds the
  live registration of an RQ worker of this host on TICKERCAST_RQ_QUEUE_NAME (it lapses when
  the worker stops heartbeating, and is missing while the worker waits out a Redis outage).
- scheduler: a `tickercast scheduler` process runs here and the database answers.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from app.core.config import Settings, load

ROLES = ("worker", "scheduler")


def running(role: str, proc: Path = Path("/proc")) -> list[int]:
    """The pids of this host's `tickercast ROLE` processes (their first two arguments after
    the interpreter, if any)."""
    found = []
    for cmdline in proc.glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:  # gone meanwhile
            continue
        words = [Path(arg).name for arg in argv[:3]]
        if "tickercast" in words and role in argv[words.index("tickercast") + 1 :][:1]:
            found.append(int(cmdline.parent.name))
    return sorted(found)


def worker_problem(settings: Settings) -> str | None:
    from app.jobs.rq_backend import redis_connection

    connection = redis_connection(settings)
    host, queue = socket.gethostname(), settings.rq_queue_name
    # RQ's registrations of the workers on this queue, which lapse without heartbeats.
    for key in connection.smembers(f"rq:workers:{queue}"):
        seen = connection.hget(key, "hostname")
        if seen is not None and (seen.decode() if isinstance(seen, bytes) else seen) == host:
            return None
    return f"no RQ worker of host {host} is registered on queue {queue!r}"


def scheduler_problem(settings: Settings) -> str | None:
    from sqlalchemy import create_engine, text

    engine = create_engine(settings.resolved_database_url())
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    finally:
        engine.dispose()
    return None


def problem(role: str, settings: Settings) -> str | None:
    """What is wrong with this host's process of `role`, None if nothing."""
    if not running(role):
        return f"no `tickercast {role}` process runs here"
    check = worker_problem if role == "worker" else scheduler_problem
    try:
        return check(settings)
    except Exception as exc:  # any failure to reach Redis or the database is the answer
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return f"{type(exc).__name__}: {first}"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in ROLES:
        print(f"usage: python -m app.healthcheck {'|'.join(ROLES)}", file=sys.stderr)
        return 2
    found = problem(args[0], load(Settings))
    if found:
        print(f"unhealthy: {found}")
        return 1
    print(f"healthy: {args[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
