"""The TypeScript client (clients/typescript/): its committed types are what openapi-typescript
makes of the live schema, and the example dashboard backend type-checks with `tsc --noEmit`
and runs green under Node against a live service.

Needs Node 20 and npm (`apt-get install nodejs npm`; .ci/run installs them when missing):
without them the tests skip, except in CI where they fail. The pinned packages are installed
from the lockfile (`npm ci`) when clients/typescript/node_modules is missing.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO, SAMPLE_CSV
from tests.e2e.live import LiveService

# A live service and Node.js.
pytestmark = pytest.mark.live

PACKAGE = REPO / "clients" / "typescript"
COMMITTED_TYPES = PACKAGE / "src" / "schema.d.ts"
NEXT_NYSE_SESSIONS = ["2019-01-02", "2019-01-03", "2019-01-04", "2019-01-07", "2019-01-08"]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def run(*args: str, timeout: float = 300, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=PACKAGE, capture_output=True, text=True, timeout=timeout, **kwargs
    )


@pytest.fixture(scope="module")
def node_package() -> Iterator[Path]:
    """clients/typescript with its pinned packages installed (`npm ci` from the lockfile)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        message = "Node 20 and npm are needed (apt-get install nodejs npm)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    version = run("node", "--version").stdout.strip()
    assert int(version.lstrip("v").split(".")[0]) >= 20, f"Node {version}; 20 or later is needed"
    if not (PACKAGE / "node_modules" / ".package-lock.json").exists():
        done = run("npm", "ci", "--no-audit", "--no-fund", timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
    yield PACKAGE


def generate(schema: dict[str, Any], where: Path) -> str:
    """openapi-typescript's types for a schema, made the way `make ts-types` makes them."""
    source, output = where / "openapi.json", where / "schema.d.ts"
    source.write_text(json.dumps(schema, indent=2))
    script = json.loads((PACKAGE / "package.json").read_text())["scripts"]["generate"]
    args = [
        str(source) if arg == "openapi.json" else str(output) if arg == "src/schema.d.ts" else arg
        for arg in shlex.split(script)
    ]
    args[0] = str(PACKAGE / "node_modules" / ".bin" / args[0])
    done = run(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    return output.read_text()


def test_the_committed_types_are_the_live_schemas_and_a_schema_change_is_caught(
    live_service: LiveService, node_package: Path, tmp_path: Path
) -> None:
    schema = httpx.get(f"{live_service.url}/openapi.json", timeout=30).json()
    assert generate(schema, tmp_path) == COMMITTED_TYPES.read_text(), (
        "clients/typescript/src/schema.d.ts differs from the live schema: run `make ts-types` "
        "and commit the result"
    )
    # The check can fail: a field added to a response is a difference.
    schema["components"]["schemas"]["ForecastOut"]["properties"]["new_field"] = {"type": "string"}
    changed = tmp_path / "changed"
    changed.mkdir()
    assert "new_field" in generate(schema, changed) != COMMITTED_TYPES.read_text()


def test_the_example_dashboard_backend_type_checks_and_runs_green_against_a_live_service(
    live_service: LiveService, node_package: Path
) -> None:
    checked = run("node_modules/.bin/tsc", "--noEmit")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    built = run("node_modules/.bin/tsc")
    assert built.returncode == 0, built.stdout + built.stderr
    env = {
        **os.environ,
        "TICKERCAST_URL": live_service.url,
        "TICKERCAST_CSV": str(SAMPLE_CSV),
        "TICKERCAST_TICKER": "TSDEMO",
        "TICKERCAST_EPOCHS": "1",
    }
    done = run("node", "dist/example.js", env=env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    steps = {}
    for line in done.stdout.splitlines():
        name, _, facts = line.partition(" ")
        steps[name] = json.loads(facts)
    assert steps["imported"] == {"ticker": "TSDEMO", "stored_rows": 5031, "last": "2018-12-31"}
    assert steps["queued"]["status"] == 202 and steps["queued"]["repeat_status"] == 200
    assert steps["trained"]["status"] == "succeeded" and steps["trained"]["events"]["end"] == 1
    assert steps["forecast"]["dates"] == NEXT_NYSE_SESSIONS
    assert steps["forecast"]["revalidated"] == 304
    assert steps["batch"] == {"count": 2, "failed": 1, "statuses": [200, 404], "steps": 3}
    assert steps["errors"]["not_found"]["status"] == 404
    assert "NOPE" in steps["errors"]["not_found"]["detail"]
    assert steps["errors"]["invalid"] == {"status": 422, "fields": ["body.epochs"]}
    assert steps["done"] == {"ticker": "TSDEMO"}
    # The job really ran on the service, once for the two requests with one Idempotency-Key.
    jobs = httpx.get(f"{live_service.url}/jobs?ticker=TSDEMO").json()
    assert [j["id"] for j in jobs] == [steps["queued"]["job"]]
