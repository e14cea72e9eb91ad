"""Keys on every write, scopes, rate limits, idempotency and bounded requests."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app.api.auth import Caller
from app.api.ratelimit import RateLimiter
from app.core.config import Scope, Settings
from app.core.errors import TooManyRequests
from app.main import create_app
from tests.backing_services import REDIS_ENV, service_url
from tests.conftest import SQLITE_ONLY

ADMIN = "admin-key-0123456789abcdef"
WRITER = "write-key-0123456789abcdef"
READER = "read-key-0123456789abcdefg"


@pytest.fixture
def keyed(settings: Settings) -> Iterator[TestClient]:
    keys = f"{ADMIN},{WRITER}:write,{READER}:read"
    with TestClient(create_app(settings.model_copy(update=_keys(settings, keys)))) as client:
        yield client


def _keys(settings: Settings, keys: str, **more: object) -> dict[str, object]:
    parsed = Settings.model_validate({"api_keys": keys, "data_dir": settings.data_dir})
    return {"api_keys": parsed.api_keys, **more}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@SQLITE_ONLY
def test_writes_need_a_key_401_without_403_with_a_wrong_one(keyed: TestClient) -> None:
    body = {"ticker": "AAA", "epochs": 1}
    missing = keyed.post("/train", json=body)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.json()["code"] == "unauthorized"
    wrong = keyed.post("/train", json=body, headers=bearer("not-a-key-at-all-here"))
    assert wrong.status_code == 403 and 'error="invalid_token"' in wrong.headers["www-authenticate"]
    assert keyed.post("/train", json=body, headers=bearer(WRITER)).status_code == 202
    # X-API-Key works as well as the bearer token.
    assert keyed.post("/train", json=body, headers={"X-API-Key": WRITER}).status_code == 200
    # Reads stay open unless TICKERCAST_PROTECT_READS is on.
    assert keyed.get("/jobs").status_code == 200


@SQLITE_ONLY
def test_scopes_read_write_admin(keyed: TestClient) -> None:
    assert keyed.post("/train", json={"ticker": "AAA"}, headers=bearer(READER)).status_code == 403
    alias = keyed.put("/models/AAA/aliases/champion", json={"version": 1}, headers=bearer(WRITER))
    assert alias.status_code == 403
    assert "needs admin" in alias.json()["detail"]
    assert keyed.delete("/prices/AAA", headers=bearer(WRITER)).status_code == 403
    # An admin key passes the key check; the ticker is unknown.
    assert keyed.delete("/prices/AAA", headers=bearer(ADMIN)).status_code == 404


@SQLITE_ONLY
def test_protected_reads_need_a_read_key(settings: Settings) -> None:
    update = _keys(settings, f"{READER}:read", protect_reads=True)
    with TestClient(create_app(settings.model_copy(update=update))) as client:
        assert client.get("/jobs").status_code == 401
        assert client.get("/jobs", headers=bearer(READER)).status_code == 200
        assert client.get("/healthz").status_code == 200  # probes never need a key


@SQLITE_ONLY
def test_openapi_declares_both_key_schemes(keyed: TestClient) -> None:
    schemes = keyed.get("/openapi.json").json()["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}


@SQLITE_ONLY
def test_training_is_rate_limited_per_caller_with_retry_after(settings: Settings) -> None:
    limited = settings.model_copy(update={"train_rate_limit": "3/minute"})
    with TestClient(create_app(limited)) as client:
        codes = [client.post("/train", json={"ticker": f"T{i}"}).status_code for i in range(4)]
        assert codes == [202, 202, 202, 429]
        refused = client.post("/train", json={"ticker": "T9"})
        assert refused.json()["code"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60


def test_identical_requests_at_the_same_moment_make_one_job(
    settings: Settings, db_url: str
) -> None:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    start = threading.Barrier(6)
    ids: list[str] = []

    def post() -> None:
        import asyncio

        async def go() -> None:
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                start.wait(timeout=30)
                resp = await client.post("/train", json={"ticker": "SAME", "epochs": 3})
                assert resp.status_code in (200, 202), resp.text
                ids.append(resp.json()["id"])

        asyncio.run(go())

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(ids) == 6 and len(set(ids)) == 1


def test_idempotency_key_returns_the_same_job_and_refuses_another_body(
    client: TestClient,
) -> None:
    headers = {"Idempotency-Key": "order-42"}
    first = client.post("/train", json={"ticker": "AAA"}, headers=headers)
    assert first.status_code == 202
    client.delete(f"/jobs/{first.json()['id']}")  # finished: no longer blocks a new job
    again = client.post("/train", json={"ticker": "AAA"}, headers=headers)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    other = client.post("/train", json={"ticker": "BBB"}, headers=headers)
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"]


@SQLITE_ONLY
def test_a_large_body_is_refused_413_and_not_echoed(client: TestClient) -> None:
    huge = {"ticker": "AAA", "layers": [8] * 600_000}  # 1.2 MB of JSON
    resp = client.post("/train", json=huge)
    assert resp.status_code == 413
    assert "TICKERCAST_MAX_BODY_BYTES" in resp.json()["detail"]
    assert len(resp.content) < 1000


@SQLITE_ONLY
def test_validation_errors_quote_at_most_a_few_dozen_characters(client: TestClient) -> None:
    resp = client.post("/train", json={"ticker": "X" * 50_000})
    assert resp.status_code == 422
    body = resp.json()
    assert body["errors"][0]["loc"] == ["body", "ticker"]
    assert "50002 characters" in body["errors"][0]["message"]
    assert len(resp.content) < 2000


@SQLITE_ONLY
@pytest.mark.parametrize(
    "path",
    [
        "/jobs?offset=99999999999999999999",
        "/forecast/AAA?version=9223372036854775808",
        "/models/AAA/versions/2147483648",
        "/prices/AAA?start=0001-01-01",
        "/prices/AAA?end=9999-12-31",
    ],
)
def test_out_of_range_numbers_and_dates_are_422_not_500(client: TestClient, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 422, resp.text
    assert resp.json()["code"] == "invalid_input"


@SQLITE_ONLY
def test_unknown_routes_and_methods_answer_in_the_one_shape(client: TestClient) -> None:
    for resp, status in ((client.get("/nope"), 404), (client.patch("/train"), 405)):
        assert resp.status_code == status
        assert set(resp.json()) == {"status", "code", "title", "detail", "errors", "request_id"}


def _two_processes_count_as_one(settings: Settings) -> None:
    """Two limiters (as two API workers build them) on one host share the window."""
    limited = settings.model_copy(update={"import_rate_limit": "3/minute"})
    first, second = RateLimiter(limited), RateLimiter(limited)
    caller = Caller(id=f"test-{uuid.uuid4()}", scope=Scope.WRITE)
    allowed = 0
    for limiter in (first, second, first, second, first, second):
        try:
            limiter.hit("import", caller)
            allowed += 1
        except TooManyRequests as exc:
            assert int(exc.headers["Retry-After"]) >= 1
    assert allowed == 3


def test_workers_of_one_host_share_the_rate_limit_without_redis(settings: Settings) -> None:
    _two_processes_count_as_one(settings)
    assert (Path(settings.resolved_host_dir()) / "ratelimit.sqlite").exists()


def test_workers_share_the_rate_limit_through_redis(settings: Settings) -> None:
    url = service_url(REDIS_ENV, "Redis")
    # A host directory that cannot be made: only Redis can make the two count as one.
    blocker = settings.data_dir / "a-file"
    blocker.write_text("")
    _two_processes_count_as_one(
        settings.model_copy(
            update={"queue": "rq", "redis_url": url, "host_dir": str(blocker / "host")}
        )
    )
