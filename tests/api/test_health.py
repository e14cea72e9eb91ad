"""Liveness and readiness."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app
from tests.conftest import SQLITE_ONLY


def test_healthz_and_readyz_on_a_migrated_database(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["revision"] == ready.json()["head"]


def test_readyz_is_503_before_migrations(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'empty.db'}",
        job_supervisor=False,
    )
    with TestClient(create_app(settings)) as client:
        resp = client.get("/readyz")
    assert resp.status_code == 503
    assert "tickercast db upgrade" in resp.json()["status"]
    assert resp.json()["revision"] is None


@SQLITE_ONLY  # dialect-independent
def test_openapi_lists_every_route(client: TestClient) -> None:
    paths = set(client.get("/openapi.json").json()["paths"])
    assert {
        "/train",
        "/jobs",
        "/jobs/{job_id}",
        "/forecast/{ticker}",
        "/models",
        "/models/{ticker}",
        "/models/{ticker}/versions/{version}",
        "/prices/{ticker}",
        "/healthz",
        "/readyz",
    } <= paths


def test_readyz_is_503_naming_redis_when_the_rq_queue_is_unreachable(
    tmp_path: Path, migrated_template: Path
) -> None:
    import shutil

    from tests.tcp_proxy import free_port

    shutil.copy(migrated_template, tmp_path / "t.db")
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 't.db'}",
        queue="rq",
        redis_url=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        job_supervisor=False,
    )
    with TestClient(create_app(settings)) as client:
        resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.json()["database"] == "ok"
    assert resp.json()["queue"].startswith("Redis unreachable")
