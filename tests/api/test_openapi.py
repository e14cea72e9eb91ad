"""The OpenAPI document answers a client's questions: ids, summaries, examples, error answers."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import SQLITE_ONLY

# Probes take no input and answer 200 or 503: they have no client error to document.
PROBES = {"/healthz", "/readyz", "/metrics"}


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in spec["paths"].items() for method, op in ops.items()]


def has_example(spec: dict[str, Any], value: Any) -> bool:
    """Whether an example is reachable from a part of the schema (through $refs)."""
    if isinstance(value, dict):
        if "example" in value or "examples" in value:
            return True
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            return has_example(spec, spec["components"]["schemas"][ref.rsplit("/", 1)[1]])
        return any(has_example(spec, v) for v in value.values())
    if isinstance(value, list):
        return any(has_example(spec, v) for v in value)
    return False


@SQLITE_ONLY
def test_every_operation_has_an_id_a_summary_a_description_an_example_and_its_errors(
    client: TestClient,
) -> None:
    spec = client.get("/openapi.json").json()
    ids = []
    for path, method, op in operations(spec):
        where = f"{method.upper()} {path}"
        ids.append(op["operationId"])
        assert op.get("summary") and op.get("description"), where
        # A 204 has no body to show.
        ok = [c for c in op["responses"] if c.startswith("2") and c != "204"]
        assert ok or "204" in op["responses"], where
        assert not ok or has_example(spec, [op["responses"][c] for c in ok]), where
        if "requestBody" in op:
            assert has_example(spec, op["requestBody"]), where
        if path not in PROBES:
            errors = [c for c in op["responses"] if c.startswith("4")]
            assert errors, where
            for code in errors:
                schema = op["responses"][code]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (where, code)
    # Short and stable: no FastAPI default ids such as get_forecast_forecast__ticker__get.
    assert len(ids) == len(set(ids)) and all(len(i) <= 20 and "__" not in i for i in ids)
