"""The container files, checked without building an image: the compose services and their
order, health checks, scalable workers, settings that exist and are documented, commands the
CLI accepts, Dockerfile targets that install what they should, and a compose file that says
what `make image-test` runs: on a Docker engine the compose file itself with local stand-ins
for the public images (deploy/compose_test.py), without one the images as compose would run
them (deploy/image_test.py)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from app import healthcheck
from app.cli import build_parser
from app.core.config import Settings
from deploy import compose_test, engine, image_test, images

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
        # postgres directly too: stopped before the database, a worker can hand its job back.
        assert svc[name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
            "redis": {"condition": "service_healthy"},
        }
    assert [p.split(":")[-1] for p in svc["api"]["ports"]] == ["8000"]
    # The scheduler runs from the api image that the api service builds: no TensorFlow in it.
    assert svc["scheduler"]["image"] == svc["api"]["image"] and "build" not in svc["scheduler"]
    assert svc["scheduler"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
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


def test_compose_takes_its_images_from_variables_defaulting_to_the_public_ones() -> None:
    # Where no registry answers, `make image-test` names its local stand-ins in .env; a user's
    # compose file still starts the public images by default, and .env.example says the same.
    expected = {
        "postgres": ("POSTGRES_IMAGE", "postgres:16.4-bookworm"),
        "redis": ("REDIS_IMAGE", "redis:7.4.1-bookworm"),
    }
    for service, (variable, default) in expected.items():
        assert services()[service]["image"] == f"${{{variable}:-{default}}}"
        assert env_example()[variable] == default
    base = dockerfile()["base"].source  # the Dockerfile's ARG default
    for name, spec in services().items():
        if "build" in spec:
            assert spec["build"]["args"] == {"BASE_IMAGE": f"${{BASE_IMAGE:-{base}}}"}, name
    assert env_example()["BASE_IMAGE"] == base
    assert "name" not in compose(), "docker-compose 1.x refuses a top-level name"
    assert env_example()["COMPOSE_PROJECT_NAME"] == "tickercast"


def test_every_long_running_service_checks_its_health_and_the_python_ones_run_under_init() -> None:
    for name, spec in services().items():
        if spec.get("restart") != "no":
            built = spec.get("build", {}).get("target") or "api"
            has_check = "healthcheck" in spec or (
                name != "scheduler" and instructions(built, "HEALTHCHECK")
            )
            assert has_check, f"{name} has no health check"
        if spec.get("command", [""])[0] == "tickercast":
            # A Python PID 1 ignores SIGTERM it has no handler for, and reaps no horses.
            assert spec.get("init") is True, name
    for role in ("worker", "scheduler"):
        test = services()[role]["healthcheck"]["test"]
        assert test == ["CMD", "python", "-m", "app.healthcheck", role]
        assert role in healthcheck.ROLES
    # A stopped worker hands its job back within seconds; compose waits no longer than this.
    assert services()["worker"]["stop_grace_period"] == "15s"


def test_logs_are_json_in_the_containers() -> None:
    env = services()["api"]["environment"]
    assert with_defaults(env["TICKERCAST_LOG_FORMAT"]) == "json"
    assert env_example()["TICKERCAST_LOG_FORMAT"] == "json"


@pytest.mark.parametrize("service", ["postgres", "redis"])
def test_the_stand_ins_offer_what_compose_uses_of_the_public_images(service: str) -> None:
    spec = services()[service]
    variable, name = images.STAND_INS[service]
    assert spec["image"].startswith(f"${{{variable}:-")
    recipe = (images.STAND_IN_DIR / f"{service}.Dockerfile").read_text()
    entrypoint = (images.STAND_IN_DIR / f"{service}-entrypoint.sh").read_text()
    # The data directory compose mounts its volume on.
    (volume,) = [v.split(":", 1)[1] for v in spec["volumes"]]
    assert f"VOLUME {volume}" in recipe
    if service == "postgres":
        assert set(spec["environment"]) <= {"POSTGRES_USER", "POSTGRES_DB", "POSTGRES_PASSWORD"}
        assert all(variable in entrypoint for variable in spec["environment"])
        assert "pg_isready" in spec["healthcheck"]["test"][1]
        assert "ENV PATH=/usr/lib/postgresql/15/bin" in recipe  # pg_isready, postgres
        assert name.endswith(":15")  # named for what it is: Debian bookworm's PostgreSQL 15
    else:
        assert spec["command"][0] == "redis-server" and "redis-server" in recipe
        assert spec["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
        assert "--protected-mode no" in entrypoint  # other containers reach it, as upstream


def test_the_image_tests_env_file_is_the_examples_with_what_it_sets_openly(
    tmp_path: Path,
) -> None:
    bases = {"BASE_IMAGE": "tickercast-base:x", "POSTGRES_IMAGE": "p:15", "REDIS_IMAGE": "r:7"}
    written = compose_test.make_env_file(tmp_path / ".env", port=18000, key="k" * 32, bases=bases)
    example = env_example()
    changed = {k for k in written if written[k] != example.get(k)}
    assert changed == {
        "POSTGRES_PASSWORD",
        "TICKERCAST_API_KEYS",
        "API_PORT",
        "COMPOSE_PROJECT_NAME",
        "TICKERCAST_PRICE_SOURCE",
        *bases,
        *compose_test.FAST_RECOVERY,
    }
    assert {written[k] for k in bases} == set(bases.values())
    assert written["COMPOSE_PROJECT_NAME"] == compose_test.PROJECT != "tickercast"
    fields = {f"TICKERCAST_{name.upper()}" for name in Settings.model_fields}
    assert set(compose_test.FAST_RECOVERY) <= fields


def test_the_compose_plugin_shim_answers_dockers_metadata_query(tmp_path: Path) -> None:
    shim = tmp_path / "docker-compose"
    shim.write_text(engine.COMPOSE_SHIM)
    shim.chmod(0o755)
    done = subprocess.run(
        [str(shim), "docker-cli-plugin-metadata"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0
    assert json.loads(done.stdout)["SchemaVersion"] == "0.1.0"
