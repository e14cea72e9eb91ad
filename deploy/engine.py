"""A Docker engine for `make image-test`: the one that answers, else a dockerd started here.

On these machines the engine is Debian's `docker.io` (dockerd 20.10, containerd, runc) started
by hand as root, and Compose is Debian's docker-compose 1.29 (the Python one), which a shim
installs as Docker's `docker-compose` CLI plugin, so that the commands are typed as users type
them: `docker compose up -d --build`. Builds need BuildKit (the Dockerfile's `RUN --mount`
secrets); a `docker` client that has no buildx plugin gets it from Debian's 20.10 client,
which has BuildKit built in.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from deploy.containers import Failed, ensure_commands, run

START_TIMEOUT = 60  # seconds for a dockerd started here to answer
STOP_TIMEOUT = 60  # seconds for it to exit after SIGTERM (it stops its containers first)
# Docker's CLI asks a plugin for this before running it; the shim then hands over to 1.29.
COMPOSE_SHIM = """#!/bin/sh
# docker-compose 1.29 as Docker's `compose` CLI plugin (written by deploy/engine.py).
if [ "$1" = docker-cli-plugin-metadata ]; then
  echo '{"SchemaVersion":"0.1.0","Vendor":"tickercast","Version":"1.29",'\\
'"ShortDescription":"docker-compose 1.29"}'
  exit 0
fi
shift
exec docker-compose "$@"
"""


class NoEngine(Failed):
    """No engine answers and none could be started here."""


@dataclass(frozen=True)
class Engine:
    """How to reach the engine: the environment every docker command of the test runs with
    (PATH with a BuildKit-capable `docker` first, the CLI configuration with the shim)."""

    env: dict[str, str]
    started_pid: int | None  # the dockerd started here, stopped at the end

    def docker(self, *args: str, timeout: float = 300, capture: bool = True) -> str:
        return run(["docker", *args], timeout=timeout, capture=capture, env=self.env)

    def versions(self) -> dict[str, str]:
        server = self.docker("version", "--format", "{{.Server.Version}}").strip()
        client = self.docker("version", "--format", "{{.Client.Version}}").strip()
        compose = self.docker("compose", "version").strip().splitlines()[0]
        return {"engine": server, "client": client, "compose": compose}


def answers(env: dict[str, str] | None = None) -> bool:
    """Whether a Docker engine answers `docker info`."""
    if shutil.which("docker", path=(env or os.environ).get("PATH")) is None:
        return False
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, timeout=20, env=env)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def docker_clients() -> list[Path]:
    """Every `docker` executable on PATH, first to last, each once."""
    found: list[Path] = []
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(directory or ".") / "docker"
        if os.access(candidate, os.X_OK) and candidate.resolve() not in {
            c.resolve() for c in found
        }:
            found.append(candidate)
    return found


def builds_with_buildkit(client: Path) -> bool:
    """Whether `client build` runs BuildKit: with the buildx plugin, or built in (20.10)."""
    try:
        buildx = subprocess.run(
            [str(client), "buildx", "version"], capture_output=True, timeout=30
        ).returncode
        version = subprocess.run(
            [str(client), "version", "--format", "{{.Client.Version}}"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return False
    return buildx == 0 or version.startswith("20.10")


def build_client() -> Path:
    for client in docker_clients():
        if builds_with_buildkit(client):
            return client
    raise Failed(
        "no `docker` client here builds with BuildKit: install the buildx plugin "
        "(docker-buildx) or Debian's docker.io (20.10, BuildKit built in)"
    )


def build_env() -> dict[str, str]:
    """The environment for `docker build` with BuildKit: a client that has it first on PATH."""
    client = build_client()
    path = f"{client.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PATH": path, "DOCKER_BUILDKIT": "1"}


def compose_env(env: dict[str, str], config: Path) -> dict[str, str]:
    """`env` with `docker compose` working: as it is where the plugin answers, else with
    docker-compose 1.29 as a plugin in a CLI configuration of its own (`config`)."""
    with contextlib.suppress(Failed):
        run(["docker", "compose", "version"], timeout=60, capture=True, env=env)
        return env
    ensure_commands("docker-compose")
    plugin = config / "cli-plugins" / "docker-compose"
    plugin.parent.mkdir(parents=True, exist_ok=True)
    plugin.write_text(COMPOSE_SHIM)
    plugin.chmod(0o755)
    # docker-compose 1.29 builds with the docker client on PATH (BuildKit, secrets and all).
    return {**env, "DOCKER_CONFIG": str(config), "COMPOSE_DOCKER_CLI_BUILD": "1"}


def start_dockerd(log: Path) -> int:
    """Start dockerd (as root) with its defaults, its output in `log`; its pid once it answers."""
    if os.geteuid() != 0:
        raise NoEngine("no Docker engine answers, and only root can start dockerd here")
    with log.open("ab") as out:
        process = subprocess.Popen(
            ["dockerd"], stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise NoEngine(f"dockerd exited with code {process.returncode}:\n{tail}")
        if answers():
            return process.pid
        time.sleep(0.5)
    stop_dockerd(process.pid)
    raise NoEngine(f"dockerd did not answer within {START_TIMEOUT} s (its log: {log})")


def stop_dockerd(pid: int) -> None:
    """Stop the dockerd started here, by its pid, and wait for it to exit."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                return
        if not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.5)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def engine(workdir: Path) -> Iterator[Engine]:
    """The engine that answers, or one started here (installed with apt-get where missing)
    and stopped on leaving."""
    started = None
    if not answers():
        try:
            ensure_commands("dockerd")
        except Failed as exc:
            raise NoEngine(str(exc)) from None
        started = start_dockerd(workdir / "dockerd.log")
    try:
        yield Engine(compose_env(build_env(), workdir / "docker-config"), started)
    finally:
        if started is not None:
            stop_dockerd(started)
