"""Shared fixtures: settings on a temporary data dir and a SQLite file built by the migrations."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.db import migrate
from app.db.engine import session_scope
from app.main import create_app

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CSV = REPO / "app" / "data" / "GSPC.csv"


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the migration head, copied for each test (migrating is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def settings(tmp_path: Path, migrated_template: Path) -> Settings:
    """Settings for one test: its own database file, no network source, no dispatcher."""
    db = tmp_path / "tickercast.db"
    shutil.copy(migrated_template, db)
    return Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{db}",
        price_source="none",
        embedded_dispatcher=False,
        dispatch_interval_seconds=0.2,
    )


@pytest.fixture
def db_url(settings: Settings) -> str:
    return settings.resolved_database_url()


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    """A session whose work is committed at the end of the test's block."""
    with session_scope(db_url) as s:
        yield s


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="session")
def sample_csv_text() -> str:
    return SAMPLE_CSV.read_text()
