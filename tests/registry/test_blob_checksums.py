"""Every stored model blob is checked against the SHA-256 recorded at its registration: a damaged
one is an error naming its version, never a forecast with wrong numbers."""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from app import cli
from app.core.config import Settings
from app.core.errors import ModelCorrupted
from app.db import migrate
from app.db.engine import session_scope
from app.main import create_app
from app.prices import store
from app.registry import versions
from app.training.pipeline import Prices, build_version
from app.training.spec import TrainingSpec
from tests.conftest import TINY_REQUEST
from tests.registry.test_versions import new_version


def flip_bits(url: str, *, ticker: str, version: int, column: str, at: int = 200) -> None:
    """Flip one byte of a stored blob in place, as a bad disk or a careless UPDATE would."""
    with session_scope(url) as session:
        blob = bytearray(
            session.execute(
                text(f"SELECT {column} FROM model_version WHERE ticker = :t AND version = :v"),
                {"t": ticker, "v": version},
            ).scalar_one()
        )
        blob[at % len(blob)] ^= 0x5A
        session.execute(
            text(f"UPDATE model_version SET {column} = :b WHERE ticker = :t AND version = :v"),
            {"b": bytes(blob), "t": ticker, "v": version},
        )


def verify(settings: Settings, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """`tickercast registry verify` on the test's database: its exit status and lines."""
    code = cli.cmd_registry_verify(argparse.Namespace(action="verify"), settings)
    return code, capsys.readouterr().out.splitlines()


def test_registration_records_the_sha256_of_each_blob(session: Session) -> None:
    row = versions.register_version(session, new=new_version())
    assert row.onnx_sha256 == hashlib.sha256(b"onnx-bytes").hexdigest()
    assert row.keras_sha256 == hashlib.sha256(b"keras-bytes").hexdigest()
    baseline = versions.register_version(
        session, new=new_version(model_type="naive", keras_model=None, onnx_model=None)
    )
    assert baseline.onnx_sha256 is None and baseline.keras_sha256 is None
    assert versions.onnx_bytes(session, version_id=row.id) == b"onnx-bytes"
    assert versions.keras_bytes(session, version_id=row.id) == b"keras-bytes"


def test_a_damaged_keras_model_stops_a_warm_start_naming_the_version(
    session: Session, db_url: str
) -> None:
    row = versions.register_version(session, new=new_version("PAR"))
    session.commit()
    flip_bits(db_url, ticker="PAR", version=row.version, column="keras_model", at=3)
    with pytest.raises(ModelCorrupted, match=r"Model version 1 of 'PAR' is corrupted: its Keras"):
        versions.keras_bytes(session, version_id=row.id)
    # The other blob of the version is still whole and still served.
    assert versions.onnx_bytes(session, version_id=row.id) == b"onnx-bytes"


def test_flipped_bits_in_the_onnx_graph_make_the_forecast_a_clear_error_and_verify_names_it(
    settings: Settings,
    register_tiny: Callable[..., Any],
    session: Session,
    sample_frame: pd.DataFrame,
    tiny_result: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    row, _ = register_tiny(promote="always")
    version = row.version
    # A second ticker whose model is whole, asked for in the same batch.
    store.ensure_ticker(session, ticker="WHOLE", calendar="XNYS", source="csv")
    store.upsert_bars(session, ticker="WHOLE", frame=sample_frame)
    spec = TrainingSpec.from_dict({**TINY_REQUEST, "promote": "always"})
    prices = Prices(sample_frame, "XNYS", None)
    versions.register_version(
        session, new=build_version("WHOLE", spec, prices, tiny_result, job_id=None)
    )
    session.commit()
    assert verify(settings, capsys) == (0, ["checked 4 blob(s): all match their SHA-256"])
    flip_bits(
        settings.resolved_database_url(), ticker="^GSPC", version=version, column="onnx_model"
    )
    with TestClient(create_app(settings)) as client:
        resp = client.get("/forecast/^GSPC", headers={"X-Request-ID": "corrupt-blob-1"})
        batch = client.post("/forecasts", json={"tickers": ["^GSPC", "WHOLE"]})
        again = client.post("/forecasts", json={"tickers": ["^GSPC", "WHOLE"]})
    assert resp.status_code == 500, resp.text
    assert resp.headers["x-request-id"] == "corrupt-blob-1"
    body = resp.json()
    assert body["code"] == "model_corrupted"
    assert f"Model version {version} of '^GSPC' is corrupted" in body["detail"]
    assert "ONNX graph" in body["detail"] and "SHA-256" in body["detail"]
    assert "points" not in body
    # A batch names the same damage for that ticker alone, serves no numbers for it, and
    # still serves the whole one; the damage is not kept as an answer (asked again: the same).
    for answer in (batch, again):
        assert answer.status_code == 200, answer.text
        damaged, whole = answer.json()["results"]
        assert (damaged["status"], damaged["forecast"]) == (500, None)
        assert damaged["error"]["code"] == "model_corrupted"
        assert f"Model version {version} of '^GSPC' is corrupted" in damaged["error"]["detail"]
        assert whole["status"] == 200 and len(whole["forecast"]["points"]) == 5
        assert answer.json()["failed"] == 1
    code, lines = verify(settings, capsys)
    assert code == 1
    assert len(lines) == 2
    assert lines[0].startswith(f"^GSPC version {version}: its ONNX graph (")
    assert "does not match the SHA-256 recorded at registration" in lines[0]
    assert lines[1] == "checked 4 blob(s): 1 damaged"


def test_migration_0011_records_the_hash_of_every_stored_blob(empty_database_url: str) -> None:
    url = empty_database_url
    migrate.upgrade(url, "0010")
    insert = text(
        "INSERT INTO model_version (ticker, version, model_type, target, status, config, "
        "scalers, metrics, calendar, data_start, data_end, data_rows, data_sha256, "
        "library_versions, keras_model, onnx_model, created_at) VALUES (:t, 1, :type, "
        "'log_return', 'ready', '{}', '{}', :m, 'XNYS', :d, :d, 250, 'x', '{}', :k, :o, :c)"
    )
    common = {"m": json.dumps({}), "d": dt.date(2018, 1, 2), "c": dt.datetime(2026, 12, 1)}
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(insert, {**common, "t": "NET", "type": "lstm", "k": b"k1", "o": b"o1"})
        conn.execute(insert, {**common, "t": "BASE", "type": "naive", "k": None, "o": None})
    engine.dispose()
    migrate.upgrade(url, "0011")
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = {
            r.ticker: (r.keras_sha256, r.onnx_sha256)
            for r in conn.execute(
                text("SELECT ticker, keras_sha256, onnx_sha256 FROM model_version")
            )
        }
    engine.dispose()
    assert rows == {
        "NET": (hashlib.sha256(b"k1").hexdigest(), hashlib.sha256(b"o1").hexdigest()),
        "BASE": (None, None),
    }
    migrate.downgrade(url, "0010")
    migrate.upgrade(url)
