"""Schemathesis against the service's own OpenAPI: every operation, valid and invalid input,
a fixed seed. No answer may be a server error, break its documented schema, or carry a
status the operation does not document."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from hypothesis.strategies import SearchStrategy
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from app.core.config import Settings
from app.main import create_app
from tests.conftest import SAMPLE_CSV

# Schemathesis: every operation of the schema, a few hundred requests.
pytestmark = pytest.mark.fuzz

# Cases per operation and generation mode: ~30 operations x 2 modes x this, about a minute.
EXAMPLES = 40
KEY = "fuzz-admin-key-0123456789"
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
# The job event stream stays open until its job ends, and no job runs here.
NOT_FUZZED = {"jobs_events"}


@dataclass
class Tally:
    cases: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


@pytest.fixture
def app(tmp_path: Path, migrated_template: Path) -> Iterator[FastAPI]:
    """The service with an admin key, no price source and no training processes: training
    requests are validated and queued, and nothing runs them."""
    db = tmp_path / "fuzz.db"
    db.write_bytes(migrated_template.read_bytes())
    app = create_app(
        Settings(
            data_dir=tmp_path,
            host_dir=str(tmp_path / "host"),
            database_url=f"sqlite:///{db}",
            price_source="none",
            job_supervisor=False,
            api_keys=KEY,  # type: ignore[arg-type]
            train_rate_limit="100000/minute",
            import_rate_limit="100000/minute",
        )
    )
    with TestClient(app) as client:
        resp = client.put(
            "/prices/%5EGSPC",
            content=SAMPLE_CSV.read_bytes(),
            headers={"Content-Type": "text/csv", "X-API-Key": KEY},
        )
        assert resp.status_code == 200, resp.text
        yield app


def fuzz(operation: APIOperation, cases: SearchStrategy[Case], label: str, tally: Tally) -> None:
    @given(case=cases)
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Case) -> None:
        tally.cases += 1
        response = case.call_and_validate(headers={"X-API-Key": KEY}, checks=CHECKS)
        tally.statuses[response.status_code] = tally.statuses.get(response.status_code, 0) + 1

    try:
        run()
    except Unsatisfiable:
        pass  # an operation with nothing invalid to send (no parameters, no body)
    except (Exception, BaseExceptionGroup) as exc:  # Schemathesis' report, with a curl to replay
        tally.failures.append(f"{operation.label} ({label}):\n{exc}")


def test_fuzzing_finds_no_server_error_nor_undocumented_answer(app: FastAPI) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    tally = Tally()
    started = time.perf_counter()
    operations = 0
    for result in schema.get_all_operations():
        # An operation Schemathesis cannot read is a schema bug: fail on it.
        assert isinstance(result, Ok), result.err()
        operation = result.ok()
        if operation.definition.raw.get("operationId") in NOT_FUZZED:
            continue
        operations += 1
        # The documented examples (a real CSV among them), then generated valid and invalid input.
        examples = schema.get_strategies_from_examples(operation)
        if examples:
            fuzz(operation, st.one_of(examples), "examples", tally)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(operation, operation.as_strategy(generation_mode=mode), str(mode), tally)
    took = time.perf_counter() - started
    print(
        f"fuzzed {operations} operations, {tally.cases} cases in {took:.0f} s; "
        f"statuses {dict(sorted(tally.statuses.items()))}; {len(tally.failures)} failures"
    )
    assert not tally.failures, "\n\n".join(tally.failures)
