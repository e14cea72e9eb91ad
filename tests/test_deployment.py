"""The container files, checked without building an image: the compose services and their
order, health checks, scalable workers, settings that exist and are documented, commands the
CLI accepts, Dockerfile targets that install what they should, and a compose file that says
what `make image-test` (deploy/image_test.py) runs from the built images."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from app.cli import build_parser
from app.core.config import Settings
from deploy import image_test, images

REPO = Path(__file__).resolve().parents[1]
INTERPOLATION = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?::?[-?][^}]*)?\}")


@cache
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]  # type: ignore[no-any-return]


def env_example() -> dict[str, str]:
    documented: dict[str, str] = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name, value = line.split("=", 1)
            documented[name] = value
    return documented


def with_defaults(value: str) -> str:
    """A compose value with ${VAR:-default} replaced by its default (required ones by 'x')."""

    def default(match: re.Match[str]) -> str:
        text = match.group(0)
        # A required secret stands for one long enough to be valid (API keys: 16 characters).
        return text.split(":-", 1)[1][:-1] if ":-" in text else "x" * 16

    return INTERPOLATION.sub(default, value)


@dataclass
class Stage:
    name: str
    source: str  # the image or stage it starts FROM
    instructions: list[tuple[str, str]] = field(default_factory=list)


@cache
def dockerfile() -> dict[str, Stage]:
    """The Dockerfile's stages by name, continuation lines joined, build arguments of FROM
    lines at their defaults."""
    text = re.sub(r"\\\n\s*", " ", (REPO / "Dockerfile").read_text())
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    global_args: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        if keyword.upper() == "FROM":
            source, _, name = args.partition(" AS ")
            source = re.sub(r"\$\{(\w+)\}", lambda m: global_args[m.group(1)], source.strip())
            current = stages[name.strip()] = Stage(name.strip(), source)
        elif current is None:
            assert keyword.upper() == "ARG", f"instruction before FROM: {line}"
            arg, _, default = args.partition("=")
            global_args[arg] = default
        else:
            current.instructions.append((keyword.upper(), args))
    return stages


def lineage(target: str) -> list[Stage]:
    """The stages a target is built from, base first."""
    stages = dockerfile()
    chain = [stages[target]]
    while chain[-1].source in stages:
        chain.append(stages[chain[-1].source])
    return chain[::-1]


def instructions(target: str, keyword: str) -> list[str]:
    return [args for stage in lineage(target) for kw, args in stage.instructions if kw == keyword]


def test_compose_runs_postgres_redis_a_migration_the_api_workers_and_a_scheduler() -> None:
    svc = services()
    assert set(svc) == {"postgres", "redis", "migrate", "api", "worker", "scheduler"}
    for name in ("postgres", "redis"):
        assert svc[name]["healthcheck"]["test"], f"{name} has no health check"
        assert re.search(r":\d+\.\d+", svc[name]["image"]), f"{name} image is not pinned"
    assert svc["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert svc["migrate"]["restart"] == "no"
    for name in ("api", "worker"):
        assert svc[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "redis": {"condition": "service_healthy"},
        }
    assert [p.split(":")[-1] for p in svc["api"]["ports"]] == ["8000"]
    # The scheduler runs from the api image that the api service builds: no TensorFlow in it.
    assert svc["scheduler"]["image"] == svc["api"]["image"] and "build" not in svc["scheduler"]
    assert svc["scheduler"]["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"}
    }


def test_the_containers_need_an_api_key() -> None:
    env = services()["api"]["environment"]
    assert env["TICKERCAST_API_KEYS"].startswith("${TICKERCAST_API_KEYS:?")
    assert env_example()["TICKERCAST_API_KEYS"] == "", "no key ships in the example"


def test_worker_can_be_scaled_and_data_lives_on_named_volumes() -> None:
    worker = services()["worker"]
    # A fixed container name or host port would make `--scale worker=N` fail.
    assert "container_name" not in worker and "ports" not in worker
    declared = set(compose()["volumes"])
    used = {
        spec.split(":")[0]
        for svc in services().values()
        for spec in svc.get("volumes", [])
        if not spec.startswith((".", "/"))
    }
    assert used == declared == {"postgres-data", "redis-data"}
    assert "postgres-data:/var/lib/postgresql/data" in services()["postgres"]["volumes"]


def test_every_setting_compose_passes_exists_and_parses() -> None:
    fields = {f"TICKERCAST_{name.upper()}" for name in Settings.model_fields}
    for name in ("migrate", "api", "worker"):
        env = services()[name]["environment"]
        unknown = {key for key in env if key.startswith("TICKERCAST_")} - fields
        assert not unknown, f"{name} sets variables that are no settings: {unknown}"
        values = {
            key.removeprefix("TICKERCAST_").lower(): with_defaults(str(value))
            for key, value in env.items()
        }
        settings = Settings.model_validate(values)  # the values must parse as the settings' types
        assert settings.queue == "rq"
        assert settings.database_url.startswith("postgresql+psycopg://tickercast:")
        assert settings.redis_url == "redis://redis:6379/0"


def test_every_variable_compose_reads_is_documented_in_env_example() -> None:
    text = (REPO / "docker-compose.yml").read_text()
    documented = env_example()
    assert set(INTERPOLATION.findall(text)) <= set(documented)
    fields = {f"TICKERCAST_{name.upper()}" for name in Settings.model_fields}
    assert {k for k in documented if k.startswith("TICKERCAST_")} <= fields
    assert documented["POSTGRES_PASSWORD"] == "", "no password ships in the example"


@pytest.mark.parametrize("service", ["migrate", "api", "worker", "scheduler"])
def test_compose_commands_are_commands_the_cli_accepts(service: str) -> None:
    command = services()[service]["command"]
    assert command[0] == "tickercast"
    build_parser().parse_args(command[1:])


def test_dockerfile_has_api_worker_and_local_targets_built_as_compose_asks() -> None:
    stages = dockerfile()
    assert {"api", "worker", "local"} <= set(stages)
    copied = [args for kw, args in stages["source"].instructions if kw == "COPY"]
    assert copied == ["app /app", "models /models", "migrations /migrations", "alembic.ini /"]
    for svc in services().values():
        if "build" in svc:
            assert svc["build"]["target"] in stages
    external = {s.source for s in stages.values() if s.source not in stages} - {"scratch"}
    assert external == {"python:3.11.7-slim-bookworm"}, "one pinned base image by default"


def test_api_image_has_no_tensorflow_and_the_worker_image_has_it() -> None:
    api_runs = " ".join(instructions("api", "RUN"))
    assert "[train]" not in api_runs and "tensorflow" not in api_runs
    assert "pip install -c constraints.txt ." in api_runs
    assert '".[train]"' in " ".join(instructions("worker", "RUN"))


@pytest.mark.parametrize("target", ["api", "worker", "local"])
def test_images_run_as_a_user_and_install_dependencies_before_the_code(target: str) -> None:
    users = instructions(target, "USER")
    assert users and users[-1] not in ("root", "0")
    chain = [(kw, args) for stage in lineage(target) for kw, args in stage.instructions]
    deps = next(
        i for i, (kw, args) in enumerate(chain) if kw == "RUN" and "constraints.txt" in args
    )
    code = next(i for i, (kw, args) in enumerate(chain) if kw == "COPY" and "source" in args)
    assert deps < code, "a code change would reinstall every dependency"
    cmd = instructions(target, "CMD")[-1]
    argv = yaml.safe_load(cmd) if cmd.startswith("[") else shlex.split(cmd)
    if argv[0] == "tickercast":
        build_parser().parse_args(argv[1:])


@pytest.mark.parametrize("service", ["api", "worker"])
def test_compose_runs_the_images_with_their_own_commands(service: str) -> None:
    spec = services()[service]
    cmd = instructions(spec["build"]["target"], "CMD")[-1]
    assert yaml.safe_load(cmd) == spec["command"]


def test_every_pip_install_gets_the_build_secrets() -> None:
    # Without them pip cannot reach the package index on machines that need a CA bundle or a
    # mirror; as secrets they never land in a layer.
    runs = [
        args for stage in dockerfile().values() for kw, args in stage.instructions if kw == "RUN"
    ]
    pip_runs = [args for args in runs if "pip install" in args]
    assert len(pip_runs) == 5
    for args in pip_runs:
        assert "--mount=type=secret,id=pip.conf,target=/etc/pip.conf" in args
        assert "--mount=type=secret,id=pip-ca.crt " in args  # at /run/secrets/pip-ca.crt
    assert images.PIP_CA == "/run/secrets/pip-ca.crt"


def test_image_test_starts_what_compose_starts_with_only_the_network_swapped() -> None:
    """`make image-test` runs every service compose builds, with compose's command and
    environment; only the hosts `postgres` and `redis` and the api's port are this machine's."""
    variables = image_test.env_file(password="x" * 16, api_key="k" * 16)
    # The test's .env changes only what a user sets in theirs: the password, the API key (which
    # curl then sends), and a queue of the run's own.
    example = env_example()
    changed = {k for k in variables if variables[k] != example.get(k)}
    assert changed == {"POSTGRES_PASSWORD", "TICKERCAST_RQ_QUEUE_NAME", "TICKERCAST_API_KEYS"}
    machine = image_test.Machine(
        hosts={"postgres": "127.0.0.1:5432", "redis": "127.0.0.1:6379"},
        paths={"postgres": "/scratch", "redis": "/15"},
        api_port=18000,
    )
    started = image_test.plan(variables, machine)
    assert tuple(started) == image_test.STARTED
    assert set(started) == {name for name, spec in services().items() if "build" in spec}
    for name, service in started.items():
        spec = services()[name]
        assert service.image == spec["image"]
        command = list(spec["command"])
        if name == "api":
            command[command.index("--port") + 1] = "18000"
        assert list(service.command) == command
        # With .env.example's values, which are compose's defaults, and the test's queue.
        expected = {key: with_defaults(str(value)) for key, value in spec["environment"].items()}
        expected["TICKERCAST_RQ_QUEUE_NAME"] = variables["TICKERCAST_RQ_QUEUE_NAME"]
        assert service.environment.keys() == expected.keys()
        # The test's own API key, in place of the example's placeholder.
        expected["TICKERCAST_API_KEYS"] = variables["TICKERCAST_API_KEYS"]
        moved = {k for k in expected if service.environment[k] != expected[k]}
        assert moved == {"TICKERCAST_DATABASE_URL", "TICKERCAST_REDIS_URL"}
        for key in moved:
            before, after = urlsplit(expected[key]), urlsplit(service.environment[key])
            assert before.hostname in machine.hosts and after.hostname == "127.0.0.1"
            assert (after.scheme, after.username, after.password) == (
                before.scheme,
                before.username,
                before.password,
            )


@pytest.mark.parametrize("target", ["api", "local"])
def test_http_images_check_their_health_on_healthz(target: str) -> None:
    (check,) = instructions(target, "HEALTHCHECK")
    assert "http://127.0.0.1:8000/healthz" in check


def test_build_context_leaves_out_the_venv_and_secrets() -> None:
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {".venv", ".env", ".git"} <= ignored
