"""The schema comes only from migrations, and they agree with the table models."""

from __future__ import annotations

import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from app.db import migrate
from app.db.tables import Base


def _diff(url: str) -> list[object]:
    engine = create_engine(url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    return list(diff)


def test_upgrade_matches_models_then_downgrade_and_upgrade_again(empty_database_url: str) -> None:
    url = empty_database_url
    migrate.upgrade(url)
    assert migrate.current_revision(url) == migrate.head_revision(url)
    assert _diff(url) == []
    migrate.downgrade(url, "base")
    engine = create_engine(url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    migrate.upgrade(url)
    assert migrate.current_revision(url) == migrate.head_revision(url)
    assert _diff(url) == []


@pytest.mark.parametrize("database_backend", ["sqlite"])
def test_sqlite_connections_have_foreign_keys_and_wal(db_url: str) -> None:
    from app.db.engine import get_engine

    with get_engine(db_url).connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_versions_scored_against_the_dollar_drift_are_marked_not_rewritten(
    empty_database_url: str,
) -> None:
    url = empty_database_url
    migrate.upgrade(url, "0004")
    old_test = {"n_windows": 3, "drift_per_day": 0.0044, "mae_ratio_overall": 0.99}
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO model_version (ticker, version, model_type, target, status, config, "
                "scalers, metrics, calendar, data_start, data_end, data_rows, data_sha256, "
                "library_versions, keras_model, onnx_model, created_at) VALUES ('OLD', 1, "
                "'lstm', 'log_return', 'ready', '{}', '{}', :m, 'XNYS', '2018-01-02', "
                "'2018-12-31', 250, 'x', '{}', :b, :b, '2026-11-21T00:00:00+00:00')"
            ),
            {"m": json.dumps({"test": old_test}), "b": b"x"},
        )
    engine.dispose()
    migrate.upgrade(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT metrics FROM model_version")).scalar_one()
    engine.dispose()
    stored = json.loads(stored) if isinstance(stored, str) else stored
    assert stored["test"] == {**old_test, "drift_method": "dollar"}
    migrate.downgrade(url, "0004")
    engine = create_engine(url)
    with engine.connect() as conn:
        back = conn.execute(text("SELECT metrics FROM model_version")).scalar_one()
    engine.dispose()
    assert (json.loads(back) if isinstance(back, str) else back)["test"] == old_test
