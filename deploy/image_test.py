"""`make image-test` where no Docker engine can run (deploy/compose_test.py falls back to it):
the built images, started as docker-compose.yml starts them, through the README's curl flow.

Without an engine, each service runs with `buildah run` (chroot
isolation, the host's network) in a container of its own image, as the image's user, in its
working directory, with its environment, and with compose's command and environment. Only what
compose's network would provide is this machine's: the hosts `postgres` and `redis` are the
local servers (a fresh database; the test Redis, on a queue of this run's own), and the api
listens on a free port where compose publishes its port 8000.

Steps: `migrate` (api image) on the fresh database; the `api` (api image); a `worker` (worker
image). Then the curl flow: import the sample CSV, train a tiny LSTM (on the worker), poll the
job, forecast the next five sessions. Then: the api image is much smaller than the worker's,
holds no TensorFlow, the processes ran as the images' non-root user, the health check passes.
Everything it starts is removed at the end (processes, containers, the database, the queue's
keys), and every wait is bounded.

    python -m deploy.image_test [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from deploy.containers import (
    BUILDAH,
    ISOLATION,
    REPO,
    Failed,
    ensure_commands,
    image_size,
    inspect_image,
    local_name,
    megabytes,
    run,
)

COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
# The services this test starts, in order: every one compose builds from this repository.
STARTED = ("migrate", "api", "worker")
# The one variable that carries the API key, from the env file to the api and to curl.
API_KEY_VARIABLE = "TICKERCAST_API_KEYS"
# Where the test suite's PostgreSQL and Redis are (`make test` and .ci/run set these).
ADMIN_POSTGRES = os.environ.get("TICKERCAST_TEST_POSTGRES_URL") or (
    "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS = os.environ.get("TICKERCAST_TEST_REDIS_URL") or "redis://127.0.0.1:6379/15"
# Names of this run's containers, database and queue carry its pid: a later run removes those
# of runs that died.
NAME = f"tickercast-image-test-{os.getpid()}"
LEFTOVER = re.compile(r"tickercast[-_]image[-_]test[-_](\d+)")
# The README's request, tiny on purpose: the point is that the worker image trains.
TRAIN_REQUEST = {
    "ticker": "^GSPC",
    "model_type": "lstm",
    "epochs": 2,
    "layers": [8],
    "lookback": 20,
}
# The sample ends on 2018-12-31; 1 January 2019 is an NYSE holiday.
NEXT_NYSE_SESSIONS = ["2019-01-02", "2019-01-03", "2019-01-04", "2019-01-07", "2019-01-08"]
STARTUP_TIMEOUT = 180  # seconds, for the api to be ready and the worker to listen
TRAINING_TIMEOUT = 1200  # seconds
STOP_GRACE = 60  # seconds: compose's stop_grace_period for the workers
# The api image must be at most this share of the worker's: TensorFlow is the difference.
API_SHARE_OF_WORKER = 0.5
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}")


# --- What runs: compose's services, moved onto this machine ---------------------------------


@dataclass(frozen=True)
class Service:
    """A compose service as it is started: its image, command and environment."""

    name: str
    image: str
    command: tuple[str, ...]
    environment: dict[str, str] = field(hash=False)


@dataclass(frozen=True)
class Machine:
    """This machine's stand-ins for compose's network."""

    hosts: dict[str, str] = field(hash=False)  # compose host name -> "host:port" here
    paths: dict[str, str] = field(hash=False)  # compose host name -> URL path here
    api_port: int


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of a compose env file (`NAME=value` lines)."""
    variables = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            variables[name.strip()] = value.strip()
    return variables


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    """A compose value with ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error} replaced."""

    def substitute(match: re.Match[str]) -> str:
        name, colon, kind, arg = match.groups()
        value = variables.get(name)
        missing = value is None or (colon == ":" and value == "")
        if kind == "?" and missing:
            raise Failed(f"compose needs {name}: {arg}")
        if kind == "-" and missing:
            return str(arg)
        return value or ""

    return INTERPOLATION.sub(substitute, value)


def env_file(*, password: str, api_key: str) -> dict[str, str]:
    """The .env this test runs compose's services with: .env.example's, with the password set,
    a queue of this run's own (other runs share the Redis), and the API key."""
    return {
        **read_env_file(ENV_EXAMPLE),
        "POSTGRES_PASSWORD": password,
        "TICKERCAST_RQ_QUEUE_NAME": NAME,
        API_KEY_VARIABLE: api_key,
    }


def compose_services(compose: Mapping[str, Any], variables: Mapping[str, str]) -> list[Service]:
    """The services compose builds from this repository, as `docker compose up` runs them with
    these env-file variables."""
    return [
        Service(
            name=name,
            image=spec["image"],
            command=tuple(spec["command"]),
            environment={k: interpolate(str(v), variables) for k, v in spec["environment"].items()},
        )
        for name, spec in compose["services"].items()
        if "build" in spec
    ]


def on_this_machine(service: Service, machine: Machine) -> Service:
    """The service with compose's host names in its URLs swapped for this machine's servers,
    and a --port for the free one; nothing else changes."""
    environment = {}
    for key, value in service.environment.items():
        url = urlsplit(value)
        if url.scheme and url.hostname in machine.hosts:
            user, at, _ = url.netloc.rpartition("@")
            url = url._replace(
                netloc=f"{user}{at}{machine.hosts[url.hostname]}", path=machine.paths[url.hostname]
            )
            value = url.geturl()
        environment[key] = value
    command = list(service.command)
    if "--port" in command:
        command[command.index("--port") + 1] = str(machine.api_port)
    return replace(service, command=tuple(command), environment=environment)


def plan(variables: Mapping[str, str], machine: Machine) -> dict[str, Service]:
    """What this test starts: compose's services with these variables, on this machine."""
    try:
        import yaml
    except ImportError:
        raise Failed(f"{sys.executable} has no PyYAML to read docker-compose.yml") from None

    compose = yaml.safe_load(COMPOSE.read_text())
    return {s.name: on_this_machine(s, machine) for s in compose_services(compose, variables)}


# --- Processes and containers ---------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (a work-horse sits in a process group of its own)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def process_user(pid: int) -> tuple[int, str] | None:
    """The effective uid and the command line of a process, None once it is gone."""
    with contextlib.suppress(OSError):
        status = Path(f"/proc/{pid}/status").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        uid = next(line.split()[2] for line in status.splitlines() if line.startswith("Uid:"))
        return int(uid), cmdline.strip()
    return None


@dataclass
class Started:
    """A service running in its container, with its log."""

    service: Service
    container: str
    process: subprocess.Popen[bytes]
    log: Path
    began: float = field(default_factory=time.monotonic)

    def tail(self) -> str:
        return f"--- {self.service.name}\n{self.log.read_text(errors='replace')[-4000:]}"

    def users(self) -> dict[int, tuple[int, str]]:
        """The service's own processes (not buildah's) by pid: uid and command line."""
        found = {}
        for pid in descendants(self.process.pid):
            user = process_user(pid)
            if user and not user[1].startswith(("buildah", "/usr/bin/buildah")):
                found[pid] = user
        return found

    def stop(self) -> None:
        """SIGTERM to the whole tree, SIGKILL to what is left after the grace period."""
        tree = [self.process.pid, *descendants(self.process.pid)]
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        # poll() reaps buildah, which would otherwise linger in /proc as a zombie.
        while self.process.poll() is None or any(Path(f"/proc/{pid}").exists() for pid in tree[1:]):
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=30)


def new_container(cleanup: contextlib.ExitStack, image: str, name: str) -> str:
    """A buildah working container of `image`, removed at the end."""
    argv = [*BUILDAH, "from", "--pull=never", "--name", name, local_name(image)]
    run(argv, timeout=900, capture=True)
    cleanup.callback(remove_container, name)
    return name


def remove_container(name: str) -> None:
    run([*BUILDAH, "rm", name], timeout=600, capture=True)


def buildah_run(container: str, service: Service) -> list[str]:
    """`buildah run` of a service's command, with its environment, in its container."""
    env = [f"--env={key}={value}" for key, value in service.environment.items()]
    return [*BUILDAH, "run", *ISOLATION, *env, container, "--", *service.command]


def in_container(container: str, *argv: str) -> str:
    """The output of a command run in a container, as its image's user (as `docker exec`)."""
    return run([*BUILDAH, "run", *ISOLATION, container, "--", *argv], timeout=300, capture=True)


def start(cleanup: contextlib.ExitStack, service: Service, workdir: Path) -> Started:
    """Start a long-running service in a container of its own, stopped at the end."""
    container = new_container(cleanup, service.image, f"{NAME}-{service.name}")
    log = workdir / f"{service.name}.log"
    print(f"starting {service.name}: {shlex.join(service.command)}", flush=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            buildah_run(container, service),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    started = Started(service, container, process, log)
    cleanup.callback(started.stop)
    return started


def wait_until(what: str, ready: Callable[[], bool], timeout: float, *alive: Started) -> None:
    """Poll until ready; fail at the timeout, or as soon as a service exits."""
    began = time.monotonic()
    while not ready():
        for service in alive:
            if service.process.poll() is not None:
                raise Failed(f"{service.service.name} exited while waiting for {what}")
        if time.monotonic() - began > timeout:
            raise Failed(f"{what}: not within {timeout} s")
        time.sleep(1)


# --- PostgreSQL and Redis -------------------------------------------------------------------


def libpq_url(url: str, database: str | None = None) -> str:
    """A SQLAlchemy URL (postgresql+psycopg://...) as psql takes it."""
    parts = urlsplit(url)
    return parts._replace(
        scheme="postgresql", path=f"/{database}" if database else parts.path
    ).geturl()


def psql(sql: str, database: str | None = None) -> str:
    argv = ["psql", libpq_url(ADMIN_POSTGRES, database), "-v", "ON_ERROR_STOP=1", "-Atqc", sql]
    return run(argv, timeout=120, capture=True).strip()


def drop_database(name: str) -> None:
    psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_database(cleanup: contextlib.ExitStack, name: str, owner: str, password: str) -> None:
    """A fresh database owned by `owner` (the role is created here, and dropped, if missing)."""
    if not psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{owner}'"):
        psql(f"CREATE ROLE \"{owner}\" LOGIN PASSWORD '{password}'")
        cleanup.callback(psql, f'DROP ROLE IF EXISTS "{owner}"')
        # So that a later run can drop it if this one is killed before it does.
        psql(f"COMMENT ON ROLE \"{owner}\" IS '{NAME}'")
    psql(f'CREATE DATABASE "{name}" OWNER "{owner}"')
    cleanup.callback(drop_database, name)


def redis_cli(*args: str) -> str:
    return run(["redis-cli", "-u", REDIS, *args], timeout=60, capture=True)


def delete_keys(pattern: str) -> None:
    keys = redis_cli("--scan", "--pattern", pattern).split()
    for i in range(0, len(keys), 500):
        redis_cli("DEL", *keys[i : i + 500])


def delete_queue(queue: str, jobs: list[str]) -> None:
    """Remove a queue of this test from Redis: its keys, its workers, its jobs."""
    workers = redis_cli("SMEMBERS", f"rq:workers:{queue}").split()
    if workers:
        redis_cli("SREM", "rq:workers", *workers)
        redis_cli("DEL", *workers)
    redis_cli("SREM", "rq:queues", f"rq:queue:{queue}")
    for pattern in [f"*{queue}*", *(f"rq:*{job}*" for job in jobs)]:
        delete_keys(pattern)


def remove_leftovers() -> None:
    """Remove what earlier runs killed before their clean-up left behind: their processes,
    containers, databases (with their jobs' keys in Redis), the role one created, their logs."""

    def dead(name: str) -> bool:
        match = LEFTOVER.search(name)
        return match is not None and not Path(f"/proc/{match.group(1)}").exists()

    # Processes first: they hold the containers and the databases.
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            argv = cmdline.read_bytes().decode(errors="replace").split("\0")
            if argv[0].endswith("buildah") and dead(" ".join(argv)):
                pid = int(cmdline.parent.name)
                for process in [pid, *descendants(pid)]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(process, signal.SIGKILL)
    listing = run(
        [*BUILDAH, "containers", "--format", "{{.ContainerName}}"], timeout=900, capture=True
    )
    for container in filter(dead, listing.split()):
        remove_container(container)
    databases = psql("SELECT datname FROM pg_database WHERE datname LIKE 'tickercast_image_test_%'")
    for database in filter(dead, databases.split()):
        with contextlib.suppress(Failed):  # a run killed before it migrated has no jobs
            delete_queue(
                database.replace("_", "-"), psql("SELECT id FROM training_job", database).split()
            )
        drop_database(database)
    roles = psql(
        "SELECT r.rolname || ' ' || d.description FROM pg_roles r JOIN pg_shdescription d "
        "ON d.objoid = r.oid WHERE d.description LIKE 'tickercast-image-test-%'"
    )
    for role, run_name in (line.split() for line in roles.splitlines()):
        if dead(run_name):
            psql(f'DROP ROLE IF EXISTS "{role}"')
    for logs in Path(tempfile.gettempdir()).glob("tickercast-image-test-*"):
        if dead(logs.name):
            shutil.rmtree(logs, ignore_errors=True)


# --- The curl flow --------------------------------------------------------------------------


@dataclass
class Curl:
    """The README's curl commands against the api, with the API key on every request."""

    port: int
    key: str
    workdir: Path
    headers: str = ""  # of the last answer

    def __call__(
        self, method: str, path: str, *options: str, expect: int = 200, show: bool = True
    ) -> Any:
        body, head = self.workdir / "body", self.workdir / "head"
        argv = ["curl", "-sS", "--max-time", "60", "-X", method, *options]
        argv += ["-H", f"Authorization: Bearer {self.key}"]
        url = f"http://127.0.0.1:{self.port}{path}"
        if show:
            print(f"$ {shlex.join([*argv, url])}", flush=True)
        status = run(
            [*argv, "-o", str(body), "-D", str(head), "-w", "%{http_code}", url],
            timeout=90,
            capture=True,
        )
        text = body.read_text(errors="replace")
        if int(status) != expect:
            raise Failed(f"{method} {path}: HTTP {status}, expected {expect}: {text[:2000]}")
        self.headers = head.read_text(errors="replace")
        return json.loads(text) if text else None

    def ready(self) -> bool:
        argv = ["curl", "-sf", "--max-time", "5", f"http://127.0.0.1:{self.port}/readyz"]
        return subprocess.run(argv, capture_output=True, timeout=30).returncode == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- The test -------------------------------------------------------------------------------


class Report:
    """Figures gathered along the way, printed at the end."""

    def __init__(self) -> None:
        self.began = time.monotonic()
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        print(f"ok: {line}", flush=True)
        self.lines.append(line)


def check_images() -> dict[str, dict[str, Any]]:
    records = {}
    for image in ("tickercast-api", "tickercast-worker"):
        record = inspect_image(image)
        if record is None:
            raise Failed(
                f"no image {image} in buildah's storage: build it with "
                "`python -m deploy.images --builder buildah` (as `make image-test` does)"
            )
        records[image] = record
    return records


def config(record: Mapping[str, Any]) -> dict[str, Any]:
    return record["Docker"]["config"]  # type: ignore[no-any-return]


def image_test(workdir: Path, cleanup: contextlib.ExitStack, report: Report) -> None:
    records = check_images()
    remove_leftovers()
    key = secrets.token_hex(16)
    variables = env_file(password=secrets.token_hex(16), api_key=key)
    database = NAME.replace("-", "_")
    redis = urlsplit(REDIS)
    machine = Machine(
        hosts={
            "postgres": str(urlsplit(ADMIN_POSTGRES).netloc.rpartition("@")[2]),
            "redis": str(redis.netloc.rpartition("@")[2]),
        },
        paths={"postgres": f"/{database}", "redis": redis.path or "/0"},
        api_port=free_port(),
    )
    services = plan(variables, machine)
    missing = set(STARTED) ^ set(services)
    if missing:
        raise Failed(f"compose's services and the ones this test starts differ: {missing}")
    for name in ("api", "worker"):
        service = services[name]
        own = replace(service, command=tuple(config(records[service.image])["Cmd"]))
        if on_this_machine(own, machine).command != service.command:
            raise Failed(f"compose runs {name} as {service.command}, its image as {own.command}")

    owner = urlsplit(services["migrate"].environment["TICKERCAST_DATABASE_URL"]).username or ""
    create_database(cleanup, database, owner, variables["POSTGRES_PASSWORD"])
    jobs: list[str] = []  # filled by the curl flow
    cleanup.callback(delete_queue, NAME, jobs)

    migrate = services["migrate"]
    container = new_container(cleanup, migrate.image, f"{NAME}-migrate")
    began = time.monotonic()
    print(f"running migrate: {shlex.join(migrate.command)}", flush=True)
    run(buildah_run(container, migrate), timeout=600)
    report.add(f"migrate ({shlex.join(migrate.command)}) in {time.monotonic() - began:.0f} s")

    curl = Curl(machine.api_port, key, workdir)
    api = start(cleanup, services["api"], workdir)
    worker = start(cleanup, services["worker"], workdir)
    try:
        wait_until("the api's /readyz", curl.ready, STARTUP_TIMEOUT, api)
        took = time.monotonic() - api.began
        report.add(f"api ready on 127.0.0.1:{machine.api_port} {took:.0f} s after its start")

        def listening() -> bool:
            return int(redis_cli("SCARD", f"rq:workers:{NAME}") or 0) > 0

        wait_until("the worker on its queue", listening, STARTUP_TIMEOUT, worker)
        took = time.monotonic() - worker.began
        report.add(f"worker listening on queue {NAME} {took:.0f} s after its start")
        users = curl_flow(curl, api, worker, jobs, report)
        check_images_and_processes(records, api, worker, users, machine, report)
    except Failed:
        print("\n".join(s.tail() for s in (api, worker)), file=sys.stderr)
        raise


def curl_flow(
    curl: Curl, api: Started, worker: Started, jobs: list[str], report: Report
) -> dict[int, tuple[int, str]]:
    """The README's flow: import, train on the worker, poll, forecast the next sessions.
    Returns the processes of the api and the worker seen meanwhile: uid and command line."""
    imported = curl(
        "PUT",
        "/prices/%5EGSPC",
        "-H",
        "Content-Type: text/csv",
        "--data-binary",
        "@app/data/GSPC.csv",
    )
    week = curl("GET", "/prices/%5EGSPC?start=2018-12-24&end=2018-12-31")
    if week["bars"][-1]["date"] != "2018-12-31":
        raise Failed(f"the imported bars end on {week['bars'][-1]['date']}, not 2018-12-31")
    report.add(
        f"PUT /prices/%5EGSPC: {imported['rows']} bars, {imported['first']} to {imported['last']}"
    )

    job = curl(
        "POST",
        "/train",
        "-H",
        "Content-Type: application/json",
        "-d",
        json.dumps(TRAIN_REQUEST),
        expect=202,
    )
    jobs.append(job["id"])
    if f"location: /jobs/{job['id']}" not in curl.headers.lower():
        raise Failed(f"POST /train answered without Location: /jobs/{job['id']}")
    began = time.monotonic()
    users = {**api.users(), **worker.users()}
    trained_by_worker = False
    while job["status"] in ("queued", "running"):
        if time.monotonic() - began > TRAINING_TIMEOUT:
            raise Failed(f"job {job['id']} still {job['status']} after {TRAINING_TIMEOUT} s")
        time.sleep(1)
        job = curl("GET", f"/jobs/{job['id']}", show=time.monotonic() - began < 2)
        horses = worker.users()
        users.update(horses)
        pid = int((job["worker"] or ":0").rpartition(":")[2] or 0)
        trained_by_worker = trained_by_worker or pid in horses
    if job["status"] != "succeeded":
        raise Failed(f"job {job['id']} {job['status']}: {job['error']}")
    if not trained_by_worker:
        raise Failed(f"job {job['id']} was trained by {job['worker']}, no process of the worker")
    report.add(
        f"POST /train: job {job['status']} in {time.monotonic() - began:.0f} s on the worker "
        f"({job['worker']}), version {job['model_version']}; {job['message']}"
    )
    forecast = curl("GET", "/forecast/%5EGSPC?horizon=5")
    dates = [point["date"] for point in forecast["points"]]
    if dates != NEXT_NYSE_SESSIONS or forecast["model_version"] != job["model_version"]:
        raise Failed(f"forecast of version {forecast['model_version']} on {dates}")
    report.add(f"GET /forecast/%5EGSPC?horizon=5: version {job['model_version']} on {dates}")
    return users


def check_images_and_processes(
    records: Mapping[str, Mapping[str, Any]],
    api: Started,
    worker: Started,
    users: Mapping[int, tuple[int, str]],
    machine: Machine,
    report: Report,
) -> None:
    """Sizes, no TensorFlow in the api, non-root processes, the health check."""
    api_size = image_size(records["tickercast-api"])
    worker_size = image_size(records["tickercast-worker"])
    if api_size > API_SHARE_OF_WORKER * worker_size:
        raise Failed(f"api image {megabytes(api_size)}, worker {megabytes(worker_size)}")
    report.add(
        f"sizes: tickercast-api {megabytes(api_size)}, tickercast-worker {megabytes(worker_size)}"
    )

    probe = ["python", "-c", "import importlib.util as u; print(bool(u.find_spec('tensorflow')))"]
    if in_container(api.container, *probe).strip() != "False":
        raise Failed("TensorFlow can be imported in the api image")
    if in_container(worker.container, *probe).strip() != "True":
        raise Failed("TensorFlow cannot be imported in the worker image: the probe is wrong")
    report.add("TensorFlow: absent from the api image, present in the worker image")

    expected = {}
    for started in (api, worker):
        user = config(records[started.service.image])["User"]
        uid = int(in_container(started.container, "id", "-u"))
        if uid == 0 or not user or user in ("root", "0"):
            raise Failed(f"{started.service.name}'s image runs as {user!r} (uid {uid})")
        expected[started.service.name] = uid
    wrong = {pid: u for pid, u in users.items() if u[0] not in expected.values()}
    if not users or wrong:
        raise Failed(f"processes not run as the images' users {expected}: {wrong or 'none seen'}")
    report.add(f"{len(users)} processes of api, worker and its work-horse ran as uid {expected}")

    test = config(records["tickercast-api"])["Healthcheck"]["Test"]
    if test[0] == "CMD-SHELL":
        test = ["/bin/sh", "-c", test[1]]
    else:
        test = test[1:]
    published = ":8000/"
    if not any(published in arg for arg in test):
        raise Failed(f"the health check does not ask port 8000: {test}")
    test = [arg.replace(published, f":{machine.api_port}/") for arg in test]
    try:
        in_container(api.container, *test)
    except Failed as exc:
        raise Failed(f"the api image's health check failed: {exc}") from None
    report.add("the api image's HEALTHCHECK command succeeds against the running api")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=int, default=1800, help="seconds for the whole test")
    args = parser.parse_args(argv)

    def give_up(signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGALRM:
            raise Failed(f"did not finish within {args.timeout} s (--timeout)")
        raise Failed(f"stopped by {signal.Signals(signum).name}")

    report = Report()
    os.chdir(REPO)  # curl sends app/data/GSPC.csv as the README does
    try:
        ensure_commands("buildah", "curl", "psql", "redis-cli")
        signal.signal(signal.SIGALRM, give_up)
        signal.signal(signal.SIGTERM, give_up)
        signal.alarm(args.timeout)
        with tempfile.TemporaryDirectory(prefix=f"{NAME}-") as tmp:
            with contextlib.ExitStack() as cleanup:
                try:
                    image_test(Path(tmp), cleanup, report)
                finally:
                    # Cleaning up is bounded by its own commands' timeouts; no alarm cuts it.
                    signal.alarm(0)
                    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    except Failed as exc:
        print(f"make image-test: FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"\nmake image-test passed in {time.monotonic() - report.began:.0f} s:")
    print("\n".join(f"  {line}" for line in report.lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
