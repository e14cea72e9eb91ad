"""`make image-test`: docker-compose.yml brought up on a real Docker engine and driven through
its published port, each step timed.

The engine is the one that answers, or a dockerd started here and stopped at the end
(deploy/engine.py). No registry is reachable, so the images start from local bases: the
Dockerfile's Python base from Debian's packages, and stand-ins for the PostgreSQL and Redis
images built from Debian's `postgresql-15` and `redis-server` (deploy/stand-ins), which the
test names openly in its .env (POSTGRES_IMAGE, REDIS_IMAGE, BASE_IMAGE). Compose cannot pass
build secrets, and pip needs this machine's CA bundle, so `make images`' builder builds the
three targets first with the secrets; `docker compose up -d --build` then builds from its cache.

Steps: the README's curl flow (import, train on a worker, poll, forecast the next five
sessions); `--scale worker=3` training three tickers at once, each on a worker of its own;
`docker kill` of a worker in the middle of a job (the job ends succeeded elsewhere or failed
with a reason, and the registry holds no version without its job); `docker compose restart
api`, then `down` and `up` with the volumes kept (versions, prices and jobs still there);
every long-running service healthy in `docker compose ps`; processes as uid 10001; logs as
JSON; `docker compose stop` timed with a job running; `down -v` leaving nothing; and the
`local` image alone (SQLite in a volume) through the same curl flow. Without an engine (none
answers and dockerd cannot start), it falls back to buildah (deploy/image_test.py).

    python -m deploy.compose_test [--timeout SECONDS] [--keep-images]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from deploy import image_test, images
from deploy.containers import REPO, Failed, ensure_commands, megabytes, run
from deploy.engine import Engine, NoEngine, engine
from deploy.image_test import NEXT_NYSE_SESSIONS, TRAIN_REQUEST, Curl, free_port, read_env_file

PROJECT = "tickercast-image-test"
ENV_EXAMPLE = REPO / ".env.example"
# The services that keep running, each with a health check; `migrate` runs once and exits.
LONG_RUNNING = ("postgres", "redis", "api", "worker", "scheduler")
USER_ID = "10001"  # the Dockerfile's `tickercast` user
STOP_TARGET = 15.0  # seconds for `docker compose stop` (issue 22)
HEALTHY_TIMEOUT = 300  # seconds for every service to be healthy after `up`
TRAINING_TIMEOUT = 900  # seconds for a job to end
# A worker killed mid-job: its job's heartbeat stands still; these make the janitor see it
# within half a minute rather than the default five (settings a user sets in .env).
FAST_RECOVERY = {
    "TICKERCAST_HEARTBEAT_TIMEOUT_SECONDS": "20",
    "TICKERCAST_HEARTBEAT_INTERVAL_SECONDS": "5",
    "TICKERCAST_JANITOR_INTERVAL_SECONDS": "5",
}
# A job long enough to be caught in the middle (a kill, a stop).
LONG_REQUEST = {**TRAIN_REQUEST, "epochs": 20, "patience": 20}
SCALED_TICKERS = ("AAA", "BBB", "CCC")


class Report(image_test.Report):
    """Each step's time and what it showed, printed at the end."""

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[list[str]]:
        """Time a step; what the step appends to the list is reported with its time."""
        print(f"\n== {name}", flush=True)
        notes: list[str] = []
        began = time.monotonic()
        yield notes
        took = time.monotonic() - began
        line = f"{name}: {took:.1f} s" + (f" ({'; '.join(notes)})" if notes else "")
        self.add(line)


@dataclass
class Compose:
    """`docker compose` on the project's own file, with the test's env file."""

    engine: Engine
    env_file: Path
    variables: dict[str, str] = field(default_factory=dict)

    def __call__(self, *args: str, timeout: float = 600, capture: bool = False) -> str:
        argv = ["docker", "compose", "--env-file", str(self.env_file), *args]
        print(f"$ {shlex.join(argv)}", flush=True)
        return run(argv, timeout=timeout, capture=capture, env=self.engine.env)

    def quiet(self, *args: str, timeout: float = 120) -> str:
        argv = ["docker", "compose", "--env-file", str(self.env_file), *args]
        return run(argv, timeout=timeout, capture=True, env=self.engine.env)

    def containers(self, service: str | None = None, *, every: bool = False) -> list[str]:
        """Ids of the project's containers (of one service), running ones unless `every`."""
        argv = ["ps", "-a", "--format", "{{.ID}}"] if every else ["ps", "--format", "{{.ID}}"]
        labels = [f"label=com.docker.compose.project={self.variables['COMPOSE_PROJECT_NAME']}"]
        if service:
            labels.append(f"label=com.docker.compose.service={service}")
        filters = [arg for label in labels for arg in ("--filter", label)]
        return self.engine.docker(*argv, *filters).split()

    def state(self, container: str) -> dict[str, Any]:
        out = self.engine.docker("inspect", "--format", "{{json .}}", container)
        return json.loads(out)  # type: ignore[no-any-return]


def make_env_file(path: Path, *, port: int, key: str, bases: dict[str, str]) -> dict[str, str]:
    """The .env as the README has a user make it (`cp .env.example .env`, then set the password
    and an API key), plus this test's own: its project name and port, the local images in
    place of the public ones, no price source (stored bars only: no network), and a janitor
    that notices a killed worker within half a minute."""
    text = ENV_EXAMPLE.read_text()
    changes = {
        "POSTGRES_PASSWORD": secrets.token_hex(16),
        "TICKERCAST_API_KEYS": key,
        "API_PORT": str(port),
        "COMPOSE_PROJECT_NAME": PROJECT,
        "TICKERCAST_PRICE_SOURCE": "none",
        **bases,
        **FAST_RECOVERY,
    }
    lines = []
    for line in text.splitlines():
        name = line.partition("=")[0].strip()
        if not line.lstrip().startswith("#") and name in changes:
            line = f"{name}={changes.pop(name)}"
        lines.append(line)
    lines += [f"{name}={value}" for name, value in changes.items()]
    path.write_text("\n".join(lines) + "\n")
    shown = {k: v for k, v in read_env_file(path).items() if k not in ("POSTGRES_PASSWORD",)}
    changed = {k: v for k, v in shown.items() if read_env_file(ENV_EXAMPLE).get(k) != v}
    print(f"the test's .env differs from .env.example in: {changed}", flush=True)
    return read_env_file(path)


def wait_until(what: str, ready: Callable[[], bool], timeout: float, pause: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise Failed(f"{what}: not within {timeout:g} s")
        time.sleep(pause)


def healthy(compose: Compose, services: tuple[str, ...] = LONG_RUNNING) -> bool:
    """Whether every container of these services runs and its health check passes."""
    for service in services:
        ids = compose.containers(service)
        if not ids:
            return False
        for container in ids:
            state = compose.state(container)["State"]
            if state["Status"] != "running" or state.get("Health", {}).get("Status") != "healthy":
                return False
    return True


def wait_healthy(compose: Compose) -> None:
    def ready() -> bool:
        return healthy(compose)

    try:
        wait_until("every service healthy", ready, HEALTHY_TIMEOUT, pause=2)
    except Failed:
        print(compose.quiet("ps"), file=sys.stderr)
        print(compose.quiet("logs", "--tail", "40"), file=sys.stderr)
        raise


def check_ps(compose: Compose, notes: list[str]) -> None:
    """`docker compose ps`: every long-running service up and healthy, migrate exited 0."""
    listing = compose("ps", capture=True)
    print(listing, flush=True)
    if not healthy(compose):
        raise Failed(f"not every long-running service is healthy:\n{listing}")
    for container in compose.containers("migrate", every=True):
        state = compose.state(container)["State"]
        if state["Status"] != "exited" or state["ExitCode"] != 0:
            raise Failed(f"migrate: {state['Status']}, exit code {state['ExitCode']}")
    counts = {s: len(compose.containers(s)) for s in LONG_RUNNING}
    notes.append(
        "healthy: " + ", ".join(f"{s}" + (f" x{n}" if n > 1 else "") for s, n in counts.items())
    )


def train(curl: Curl, ticker: str, request: dict[str, Any] | None = None) -> dict[str, Any]:
    body = json.dumps({**(request or TRAIN_REQUEST), "ticker": ticker})
    job = curl("POST", "/train", "-H", "Content-Type: application/json", "-d", body, expect=202)
    return job  # type: ignore[no-any-return]


def wait_job(curl: Curl, job_id: str, timeout: float = TRAINING_TIMEOUT) -> dict[str, Any]:
    """Poll a job until it ends; the job."""
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = curl("GET", f"/jobs/{job_id}", show=False)
        if job["status"] not in ("queued", "running"):
            return job
        if time.monotonic() > deadline:
            raise Failed(f"job {job_id} still {job['status']} after {timeout:g} s")
        time.sleep(1)


def wait_running(curl: Curl, job_id: str) -> dict[str, Any]:
    """Poll a job until a worker trains it (past its first heartbeat); the job."""
    deadline = time.monotonic() + TRAINING_TIMEOUT
    while True:
        job: dict[str, Any] = curl("GET", f"/jobs/{job_id}", show=False)
        if job["status"] == "running" and job["worker"] and not job["worker"].endswith(":?"):
            return job
        if job["status"] not in ("queued", "running"):
            raise Failed(f"job {job_id} ended ({job['status']}) before it could be caught running")
        if time.monotonic() > deadline:
            raise Failed(f"job {job_id} still {job['status']} after {TRAINING_TIMEOUT} s")
        time.sleep(0.5)


def host_of(job: dict[str, Any]) -> str:
    return str(job["worker"] or "").rpartition(":")[0]


def worker_hosts(compose: Compose) -> dict[str, str]:
    """The running workers' host names (a container's host name is its short id) -> id."""
    hosts = {}
    for container in compose.containers("worker"):
        hosts[compose.state(container)["Config"]["Hostname"]] = container
    return hosts


def curl_flow(curl: Curl, compose: Compose, notes: list[str]) -> dict[str, Any]:
    """The README's flow: import the sample, train on a worker, poll, forecast."""
    imported = curl(
        "PUT",
        "/prices/%5EGSPC",
        "-H",
        "Content-Type: text/csv",
        "--data-binary",
        "@app/data/GSPC.csv",
    )
    notes.append(f"imported {imported['rows']} bars")
    job = train(curl, "^GSPC")
    if f"location: /jobs/{job['id']}" not in curl.headers.lower():
        raise Failed(f"POST /train answered without Location: /jobs/{job['id']}")
    job = wait_job(curl, job["id"])
    if job["status"] != "succeeded":
        raise Failed(f"job {job['id']} {job['status']}: {job['error']}")
    if host_of(job) not in worker_hosts(compose):
        raise Failed(f"job {job['id']} was trained by {job['worker']}, not a worker container")
    forecast = curl("GET", "/forecast/%5EGSPC?horizon=5")
    dates = [point["date"] for point in forecast["points"]]
    # The job registers its version, and the drift baseline as champion in its place where
    # its version does not beat the baselines (the job's message says which).
    registered = job_versions(curl, job)
    if dates != NEXT_NYSE_SESSIONS or forecast["model_version"] not in registered:
        raise Failed(
            f"forecast of version {forecast['model_version']} on {dates}, "
            f"after job {job['id']} registered versions {registered}"
        )
    notes.append(f"trained version {job['model_version']} on worker {job['worker']}")
    notes.append(f"forecast {dates[0]}..{dates[-1]} from version {forecast['model_version']}")
    return job


def snapshot(curl: Curl) -> dict[str, Any]:
    """What must survive restarts: every version, price and job."""
    tickers = sorted(row["ticker"] for row in curl("GET", "/models", show=False))
    versions = {
        t: [v["version"] for v in curl("GET", f"/models/{quote(t)}", show=False)["versions"]]
        for t in tickers
    }
    prices = {
        t: len(curl("GET", f"/prices/{quote(t)}?start=2000-01-01", show=False)["bars"])
        for t in ["^GSPC", *SCALED_TICKERS]
    }
    jobs = sorted(
        (j["id"], j["status"], j["model_version"])
        for j in curl("GET", "/jobs?limit=1000", show=False)
    )
    return {"versions": versions, "prices": prices, "jobs": jobs}


def quote(ticker: str) -> str:
    return ticker.replace("^", "%5E")


def job_versions(curl: Curl, job: dict[str, Any]) -> list[int]:
    """The versions of the job's ticker registered while it ran (its own and, where that did
    not beat the baselines, the baseline registered as champion in its place)."""
    listing = curl("GET", f"/models/{quote(job['ticker'])}", show=False)["versions"]
    return sorted(
        v["version"]
        for v in listing
        if job["started_at"] <= v["created_at"] <= (job["finished_at"] or "~")
    )


def check_registry(curl: Curl) -> str:
    """Nothing half-written: every version is ready, forecasts, and was registered by a job
    that succeeded (in its transaction: within its run); every succeeded job's version is
    there; no job is left running."""
    jobs = curl("GET", "/jobs?limit=1000", show=False)
    stuck = [j["id"] for j in jobs if j["status"] in ("queued", "running")]
    if stuck:
        raise Failed(f"jobs left queued or running: {stuck}")
    succeeded = [j for j in jobs if j["status"] == "succeeded"]
    owned = {(j["ticker"], v) for j in succeeded for v in job_versions(curl, j)}
    listed = set()
    for row in curl("GET", "/models", show=False):
        ticker = row["ticker"]
        for version in curl("GET", f"/models/{quote(ticker)}", show=False)["versions"]:
            if version["status"] != "ready":
                raise Failed(f"{ticker} version {version['version']} is {version['status']}")
            listed.add((ticker, version["version"]))
        curl("GET", f"/forecast/{quote(ticker)}?horizon=5", show=False)
    mine = {(j["ticker"], j["model_version"]) for j in succeeded}
    if listed != owned or not mine <= listed:
        raise Failed(f"registry {sorted(listed)}, registered by succeeded jobs {sorted(owned)}")
    return f"{len(listed)} versions, each ready, forecasting and of a job that succeeded"


def check_users(compose: Compose, notes: list[str]) -> None:
    """Every process of the api, workers and scheduler runs as the image's user, 10001."""
    seen = 0
    for service in ("api", "worker", "scheduler"):
        for container in compose.containers(service):
            user = compose.state(container)["Config"]["User"]
            uids = compose.engine.docker("top", container, "-o", "uid,pid,args").splitlines()[1:]
            wrong = [line for line in uids if line.split()[0] != USER_ID]
            if user != "tickercast" or wrong or not uids:
                raise Failed(f"{service} {container}: user {user!r}, processes {uids}")
            seen += len(uids)
    notes.append(f"{seen} processes of api, workers and scheduler, all uid {USER_ID}")


def check_json_logs(compose: Compose, notes: list[str]) -> None:
    """Every line the api, the workers and the scheduler write to stdout is a JSON log record
    (stderr holds the CLI's notices and TensorFlow's native output)."""
    records = 0
    for service in ("api", "worker", "scheduler"):
        for container in compose.containers(service):
            done = subprocess.run(
                ["docker", "logs", container],
                capture_output=True,
                text=True,
                timeout=60,
                env=compose.engine.env,
            )
            for line in done.stdout.splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    raise Failed(f"{service} wrote a line that is not JSON: {line[:300]}") from None
                if not {"time", "level", "logger", "message"} <= set(entry):
                    raise Failed(f"{service} logged JSON without its fields: {line[:300]}")
                records += 1
    if not records:
        raise Failed("no log records on the services' stdout")
    notes.append(f"{records} log records on stdout of api, worker and scheduler, all JSON")


def image_sizes(engine_: Engine, names: list[str]) -> str:
    sizes = []
    for name in names:
        size = int(engine_.docker("image", "inspect", "--format", "{{.Size}}", name))
        sizes.append(f"{name} {megabytes(size)}")
    return ", ".join(sizes)


def compose_test(workdir: Path, report: Report, keep: bool) -> None:
    began = time.monotonic()
    with engine(workdir) as eng:
        versions = eng.versions()
        report.add(
            f"engine: {time.monotonic() - began:.1f} s (Docker {versions['engine']}, client "
            f"{versions['client']}, {versions['compose']}"
            + (f"; dockerd started here, pid {eng.started_pid})" if eng.started_pid else ")")
        )
        built: list[str] = []
        try:
            with report.step("local bases") as notes:
                base = images.debian_base("docker")
                bases = {"BASE_IMAGE": base, **images.build_stand_ins(base)}
                built += list(bases.values())
                notes.append(image_sizes(eng, list(bases.values())))
            with report.step("images, built with the build secrets") as notes:
                with images.pip_secrets() as pip:
                    for target in images.TARGETS:
                        images.build("docker", target, base, pip)
                        built.append(images.image_name(target))
                notes.append(image_sizes(eng, [images.image_name(t) for t in images.TARGETS]))
            port, key = free_port(), secrets.token_hex(16)
            compose = Compose(eng, workdir / ".env")
            compose.variables = make_env_file(compose.env_file, port=port, key=key, bases=bases)
            curl = Curl(port, key, workdir)
            try:
                compose_steps(compose, curl, report)
            finally:
                with contextlib.suppress(Failed):
                    compose.quiet("down", "-v", "--remove-orphans", timeout=300)
            local_image(eng, workdir, report)
        finally:
            if not keep:
                for name in reversed(built):
                    with contextlib.suppress(Failed):
                        eng.docker("image", "rm", name)
                with contextlib.suppress(Failed):
                    eng.docker("builder", "prune", "--all", "--force", timeout=600)


def compose_steps(compose: Compose, curl: Curl, report: Report) -> None:
    with report.step("docker compose up -d --build") as notes:
        compose("up", "-d", "--build")
        wait_healthy(compose)
        notes.append("to every service healthy")
    with report.step("docker compose ps") as notes:
        check_ps(compose, notes)
    with report.step("curl flow") as notes:
        curl_flow(curl, compose, notes)
    with report.step("processes and logs") as notes:
        check_users(compose, notes)
        check_json_logs(compose, notes)

    with report.step("--scale worker=3, three tickers at once") as notes:
        compose("up", "-d", "--no-recreate", "--scale", "worker=3")
        wait_healthy(compose)
        for ticker in SCALED_TICKERS:
            curl(
                "PUT",
                f"/prices/{ticker}",
                "-H",
                "Content-Type: text/csv",
                "--data-binary",
                "@app/data/GSPC.csv",
                show=False,
            )
        jobs = [train(curl, ticker) for ticker in SCALED_TICKERS]
        done = [wait_job(curl, job["id"]) for job in jobs]
        failed = [j for j in done if j["status"] != "succeeded"]
        if failed:
            raise Failed(f"scaled jobs failed: {[(j['ticker'], j['error']) for j in failed]}")
        hosts = {host_of(j) for j in done}
        if len(hosts) != 3 or not hosts <= set(worker_hosts(compose)):
            raise Failed(f"three jobs trained on {sorted(hosts)}, not three workers")
        notes.append(f"three jobs succeeded on three workers {sorted(hosts)}")

    with report.step("docker kill of a worker mid-job") as notes:
        job = wait_running(curl, train(curl, "^GSPC", LONG_REQUEST)["id"])
        victim, killed = worker_hosts(compose)[host_of(job)], job["worker"]
        compose.engine.docker("kill", victim)
        killed_at = time.monotonic()
        job = wait_job(curl, job["id"])
        took = time.monotonic() - killed_at
        if job["status"] == "succeeded":
            if job["attempts"] < 2 or job["worker"] == killed:
                raise Failed(f"job {job['id']} succeeded on the killed worker {killed}: {job}")
            notes.append(
                f"killed {killed}; the job succeeded on {job['worker']} (attempt "
                f"{job['attempts']}) {took:.0f} s after the kill"
            )
        elif job["status"] == "failed" and job["error"] and "\n" not in job["error"]:
            notes.append(f"job failed {took:.0f} s after the kill: {job['error']}")
        else:
            raise Failed(f"job {job['id']} ended {job['status']} without a reason")
        notes.append(check_registry(curl))
        wait_healthy(compose)  # the killed worker is restarted (restart: unless-stopped)

    before = snapshot(curl)
    with report.step("docker compose restart api") as notes:
        compose("restart", "api")
        wait_until("the api ready again", curl.ready, 120, pause=0.5)
        if snapshot(curl) != before:
            raise Failed("versions, prices or jobs changed across `restart api`")
        notes.append(f"{len(before['jobs'])} jobs, versions and prices unchanged")
    with report.step("docker compose down") as notes:
        compose("down")
        left = compose.containers(every=True)
        if left:
            raise Failed(f"containers left after down: {left}")
    with report.step("docker compose up -d (volumes kept)") as notes:
        compose("up", "-d")
        wait_healthy(compose)
        if snapshot(curl) != before:
            raise Failed("versions, prices or jobs changed across `down` and `up`")
        notes.append(f"{len(before['jobs'])} jobs, versions and prices unchanged")

    with report.step("docker compose stop with a job running") as notes:
        job = wait_running(curl, train(curl, "^GSPC", LONG_REQUEST)["id"])
        began = time.monotonic()
        compose("stop")
        took = time.monotonic() - began
        verdict = "under" if took < STOP_TARGET else "over"
        notes.append(f"stop took {took:.1f} s, {verdict} the {STOP_TARGET:g} s target")
        compose("start")
        wait_healthy(compose)
        job = wait_job(curl, job["id"])
        if job["status"] != "succeeded":
            raise Failed(f"the job running at `stop` ended {job['status']}: {job['error']}")
        if job["attempts"] != 1:  # handed back by its worker, not re-queued by the janitor
            raise Failed(f"the job running at `stop` took {job['attempts']} attempts: {job}")
        notes.append(
            f"the job running at stop was handed back and succeeded after start "
            f"({job['worker']}, attempt 1)"
        )
        notes.append(check_registry(curl))

    with report.step("docker compose down -v") as notes:
        compose("down", "-v")
        project = f"label=com.docker.compose.project={PROJECT}"
        remains = {
            kind: compose.engine.docker(kind, "ls", "-q", "--filter", project).split()
            for kind in ("volume", "network")
        }
        remains["container"] = compose.containers(every=True)
        if any(remains.values()):
            raise Failed(f"left behind by down -v: {remains}")
        notes.append("no container, network or volume of the project left")


def local_image(eng: Engine, workdir: Path, report: Report) -> None:
    """The `local` image alone: SQLite in a volume, the same curl flow, training spawned."""
    with report.step("the local image (one container, SQLite in a volume)") as notes:
        port, key = free_port(), secrets.token_hex(16)
        name, volume = f"{PROJECT}-local", f"{PROJECT}-local-data"
        curl = Curl(port, key, workdir)
        eng.docker(
            "run", "-d", "--init", "--name", name, "-p", f"127.0.0.1:{port}:8000",
            "-v", f"{volume}:/data", "-e", f"TICKERCAST_API_KEYS={key}",
            "-e", "TICKERCAST_PRICE_SOURCE=none", "-e", "TICKERCAST_LOG_FORMAT=json",
            images.image_name("local"),
        )  # fmt: skip
        try:
            wait_until("the local image's /readyz", curl.ready, 180, pause=1)
            job = train(curl, "^GSPC")  # the image loads the sample itself
            job = wait_job(curl, job["id"])
            if job["status"] != "succeeded":
                raise Failed(f"local job {job['status']}: {job['error']}")
            forecast = curl("GET", "/forecast/%5EGSPC?horizon=5")
            dates = [point["date"] for point in forecast["points"]]
            if dates != NEXT_NYSE_SESSIONS:
                raise Failed(f"local forecast on {dates}")
            uid = eng.docker("exec", name, "id", "-u").strip()
            if uid != USER_ID:
                raise Failed(f"the local image runs as uid {uid}")
            began = time.monotonic()
            eng.docker("stop", name)
            notes.append(
                f"trained version {job['model_version']} in the container, forecast "
                f"{dates[0]}..{dates[-1]}, uid {uid}, stopped in {time.monotonic() - began:.1f} s"
            )
        except Failed:
            print(eng.docker("logs", "--tail", "60", name), file=sys.stderr)
            raise
        finally:
            with contextlib.suppress(Failed):
                eng.docker("rm", "-f", name)
            with contextlib.suppress(Failed):
                eng.docker("volume", "rm", volume)


def fallback() -> int:
    """No engine: build with buildah and run the images as compose would (the old test)."""
    print("no Docker engine: falling back to buildah (deploy/image_test.py)", flush=True)
    for module in (["deploy.images", "--builder", "buildah"], ["deploy.image_test"]):
        code = subprocess.run([sys.executable, "-m", *module], cwd=REPO).returncode
        if code:
            return code
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=int, default=3600, help="seconds for the whole test")
    parser.add_argument(
        "--keep-images", action="store_true", help="keep the images and build cache at the end"
    )
    args = parser.parse_args(argv)

    def give_up(signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGALRM:
            raise Failed(f"did not finish within {args.timeout} s (--timeout)")
        raise Failed(f"stopped by {signal.Signals(signum).name}")

    report = Report()
    os.chdir(REPO)  # compose reads ./docker-compose.yml; curl sends app/data/GSPC.csv
    try:
        ensure_commands("curl", "debootstrap")
        signal.signal(signal.SIGALRM, give_up)
        signal.signal(signal.SIGTERM, give_up)
        signal.alarm(args.timeout)
        with tempfile.TemporaryDirectory(prefix=f"{PROJECT}-") as tmp:
            try:
                compose_test(Path(tmp), report, args.keep_images)
            finally:
                signal.alarm(0)
    except NoEngine as exc:
        print(f"make image-test: {exc}", file=sys.stderr)
        return fallback()
    except Failed as exc:
        print(f"make image-test: FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"\nmake image-test passed in {time.monotonic() - report.began:.0f} s:")
    print("\n".join(f"  {line}" for line in report.lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
