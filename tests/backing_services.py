"""Fixtures for the real PostgreSQL and Redis the tests run against (imported by conftest).

Every test that touches the database runs twice: on a SQLite file and on a PostgreSQL database
of its own, created from a migrated template (a copy costs about 0.1 s). The PostgreSQL and
Redis variants skip only when TICKERCAST_TEST_POSTGRES_URL / TICKERCAST_TEST_REDIS_URL are unset
outside CI (`make test` and `.ci/run` set both); in CI an unset URL fails the test.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import (
    CanceledJobRegistry,
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    StartedJobRegistry,
)
from rq.worker_registration import REDIS_WORKER_KEYS, WORKERS_BY_QUEUE_KEY
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from app.core.config import Settings
from app.db import migrate
from app.db.engine import get_engine
from app.jobs.local import pid_alive, settings_env
from app.jobs.rq_backend import redis_connection, training_queue

POSTGRES_ENV = "TICKERCAST_TEST_POSTGRES_URL"
REDIS_ENV = "TICKERCAST_TEST_REDIS_URL"
# Databases of this run are named after its pid, so a later run can drop those of dead runs
# and two runs at once (two developers on one server) never touch each other's.
DB_PREFIX = "tickercast_test_"


def service_url(env: str, what: str) -> str:
    """The test URL of a backing service, or skip (outside CI) / fail (in CI) when unset."""
    url = os.environ.get(env, "")
    if url:
        return url
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{env} is unset in CI: the {what} variants must run there (.ci/run sets it)")
    pytest.skip(f"{env} is unset: {what} variants skipped (`make test` sets it)")


class PostgresServer:
    """Creates and drops throwaway databases on the test server."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.admin: Engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)

    def url_for(self, name: str) -> str:
        """The SQLAlchemy URL of a database on this server."""
        return self.url.set(database=name).render_as_string(hide_password=False)

    def create(self, name: str, *, template: str | None = None) -> str:
        """Create a database (a copy of `template` if given); returns its URL."""
        clause = f' TEMPLATE "{template}"' if template else ""
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{clause}'))
        return self.url_for(name)

    def drop(self, name: str) -> None:
        """Drop a database, closing this process's pooled connections and ending others."""
        get_engine(self.url_for(name)).dispose()
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def drop_leftovers(self) -> None:
        """Drop the databases of earlier test runs whose process is gone."""
        with self.admin.connect() as conn:
            names = conn.scalars(
                text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                {"p": f"{DB_PREFIX}%"},
            ).all()
        for name in names:
            pid = name.removeprefix(DB_PREFIX).split("_", 1)[0]
            if pid.isdigit() and not pid_alive(int(pid)):
                self.drop(name)

    def new_name(self, label: str) -> str:
        """A database name unique to this run and call."""
        return f"{DB_PREFIX}{os.getpid()}_{label}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The PostgreSQL server named by TICKERCAST_TEST_POSTGRES_URL."""
    server = PostgresServer(service_url(POSTGRES_ENV, "PostgreSQL"))
    server.drop_leftovers()
    yield server
    server.admin.dispose()


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> Iterator[str]:
    """A database at the migration head, copied for each test."""
    name = postgres_server.new_name("template")
    url = postgres_server.create(name)
    migrate.upgrade(url)
    # CREATE DATABASE ... TEMPLATE refuses while anyone is connected to the template.
    get_engine(url).dispose()
    yield name
    postgres_server.drop(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_backend(request: pytest.FixtureRequest) -> str:
    """Which database a test runs on; a test pins one with parametrize("database_backend")."""
    return str(request.param)


@pytest.fixture
def database_url(
    database_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A migrated database of the test's own: a SQLite file, or a PostgreSQL database."""
    if database_backend == "sqlite":
        template: Path = request.getfixturevalue("migrated_template")
        db = tmp_path / "tickercast.db"
        shutil.copy(template, db)
        yield f"sqlite:///{db}"
        get_engine(f"sqlite:///{db}").dispose()
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    template_name: str = request.getfixturevalue("postgres_template")
    name = server.new_name("t")
    url = server.create(name, template=template_name)
    yield url
    server.drop(name)


@pytest.fixture
def empty_database_url(
    database_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A database with no tables at all, for the migration tests."""
    if database_backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.new_name("empty")
    url = server.create(name)
    yield url
    server.drop(name)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis named by TICKERCAST_TEST_REDIS_URL (its keys are shared: never flush it)."""
    url = service_url(REDIS_ENV, "Redis")
    Redis.from_url(url).ping()
    return url


def delete_queue(settings: Settings) -> None:
    """Remove a test queue, its registries and its jobs from Redis."""
    queue = training_queue(settings, redis_connection(settings))
    for registry_class in (
        StartedJobRegistry,
        FinishedJobRegistry,
        FailedJobRegistry,
        CanceledJobRegistry,
        DeferredJobRegistry,
    ):
        registry = registry_class(queue=queue)
        for job_id in registry.get_job_ids(cleanup=False):
            with contextlib.suppress(NoSuchJobError):
                Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer).delete()
        queue.connection.delete(registry.key)
    # Workers killed in a test never unregister from the queue's worker set.
    by_queue = WORKERS_BY_QUEUE_KEY % queue.name
    workers = queue.connection.smembers(by_queue)
    if workers:
        queue.connection.srem(REDIS_WORKER_KEYS, *workers)
    queue.connection.delete(by_queue)
    queue.delete(delete_jobs=True)


@pytest.fixture
def rq_settings(settings: Settings, redis_url: str) -> Iterator[Settings]:
    """The test's settings with the rq backend on a queue of its own."""
    rq = settings.model_copy(
        update={
            "queue": "rq",
            "redis_url": redis_url,
            "rq_queue_name": f"tickercast-test-{uuid.uuid4().hex[:12]}",
        }
    )
    yield rq
    delete_queue(rq)


def run_burst_worker(settings: Settings, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run `tickercast worker --burst` with these settings until the queue is empty."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "worker", "--burst"],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
