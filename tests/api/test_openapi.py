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


def request_integers(spec: dict[str, Any], schema: Any, where: str) -> list[tuple[str, Any]]:
    """Every integer a request body may carry, with its schema (through $refs)."""
    found: list[tuple[str, Any]] = []
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[1]
            return request_integers(spec, spec["components"]["schemas"][name], f"{where}.{name}")
        if schema.get("type") == "integer":
            found.append((where, schema))
        for key, value in schema.items():
            if key in ("properties",):
                for prop, sub in value.items():
                    found += request_integers(spec, sub, f"{where}.{prop}")
            elif key in ("items", "anyOf", "oneOf", "allOf", "additionalProperties"):
                found += request_integers(spec, value, where)
    elif isinstance(schema, list):
        for item in schema:
            found += request_integers(spec, item, where)
    return found


@SQLITE_ONLY
def test_every_integer_of_a_request_body_is_bounded_both_ways(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    integers = []
    for path, method, op in operations(spec):
        for content in op.get("requestBody", {}).get("content", {}).values():
            integers += request_integers(spec, content.get("schema"), f"{method} {path}")
    assert integers  # the walk finds the training request's epochs, at least
    unbounded = [w for w, s in integers if "maximum" not in s or "minimum" not in s]
    assert unbounded == []


@SQLITE_ONLY
def test_a_thirty_digit_alias_version_is_a_422_naming_the_field(client: TestClient) -> None:
    resp = client.put(
        "/models/^GSPC/aliases/champion",
        content=b'{"version": 340864109294508429065070837760}',
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["loc"] == ["body", "version"]
    assert "body field version" in resp.json()["detail"]


@SQLITE_ONLY
def test_the_event_stream_is_documented_as_events_with_their_fields(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    content = spec["paths"]["/jobs/{job_id}/events"]["get"]["responses"]["200"]["content"]
    event = content["text/event-stream"]["itemSchema"]
    assert set(event["properties"]) == {"id", "event", "data", "retry"}
    assert event["properties"]["event"]["enum"] == ["status", "progress", "version", "end"]
    data = event["properties"]["data"]
    assert data["contentMediaType"] == "application/json"
    kinds = {s["title"]: s for s in data["contentSchema"]["oneOf"]}
    assert set(kinds) == {"status", "progress", "version", "end"}
    assert set(kinds["end"]["properties"]) == {"status", "model_version", "message", "error"}
