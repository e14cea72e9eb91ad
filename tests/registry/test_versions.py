"""Registry behaviour: version numbering, lookups, aliases, concurrent writers."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.core.errors import ModelNotFound
from app.db.engine import session_scope
from app.registry import versions


def new_version(ticker: str = "AAA", **overrides: object) -> versions.NewVersion:
    fields: dict[str, object] = {
        "ticker": ticker,
        "model_type": "lstm",
        "target": "log_return",
        "config": {"lookback": 10, "horizon": 3},
        "scalers": {},
        "metrics": {"test": {"mae_ratio_overall": 0.99}},
        "calendar": "XNYS",
        "data_start": dt.date(2018, 1, 2),
        "data_end": dt.date(2018, 12, 31),
        "data_rows": 251,
        "data_sha256": "0" * 64,
        "library_versions": {"numpy": "2"},
        "keras_model": b"keras-bytes",
        "onnx_model": b"onnx-bytes",
    }
    fields.update(overrides)
    return versions.NewVersion(**fields)  # type: ignore[arg-type]


def test_versions_count_up_per_ticker(session: Session) -> None:
    numbers = [versions.register_version(session, new=new_version("AAA")).version for _ in range(3)]
    other = versions.register_version(session, new=new_version("BBB")).version
    assert numbers == [1, 2, 3]
    assert other == 1
    assert versions.latest_ready(session, ticker="AAA").version == 3
    assert [r.version for r in versions.list_versions(session, ticker="AAA")] == [3, 2, 1]
    latest = {r.ticker: r.version for r in versions.list_latest_per_ticker(session)}
    assert latest == {"AAA": 3, "BBB": 1}


def test_unknown_version_names_the_known_ones(session: Session) -> None:
    versions.register_version(session, new=new_version())
    with pytest.raises(ModelNotFound, match=r"no model version 7 \(known versions: \[1\]\)"):
        versions.get_version(session, ticker="AAA", version=7)
    with pytest.raises(ModelNotFound, match="POST /train"):
        versions.latest_ready(session, ticker="ZZZ")


def test_blobs_are_stored_and_loaded_on_demand(session: Session) -> None:
    row = versions.register_version(session, new=new_version())
    session.expunge_all()
    found = versions.get_version(session, ticker="AAA", version=1)
    # Deferred by the mapping: not read with the row, read when asked for.
    assert {"keras_model", "onnx_model", "backtest"} <= inspect(found).unloaded
    assert versions.onnx_bytes(session, version_id=row.id) == b"onnx-bytes"
    assert versions.keras_bytes(session, version_id=row.id) == b"keras-bytes"
    assert found.keras_model == b"keras-bytes"


def test_alias_set_move_resolve_delete(session: Session) -> None:
    for _ in range(2):
        versions.register_version(session, new=new_version())
    versions.set_alias(session, ticker="AAA", alias="champion", version=1)
    assert versions.resolve_alias(session, ticker="AAA", alias="champion").version == 1  # type: ignore[union-attr]
    versions.set_alias(session, ticker="AAA", alias="champion", version=2)
    assert versions.aliases_by_version(session, ticker="AAA") == {2: ["champion"]}
    versions.delete_alias(session, ticker="AAA", alias="champion")
    assert versions.resolve_alias(session, ticker="AAA", alias="champion") is None
    with pytest.raises(ModelNotFound):
        versions.delete_alias(session, ticker="AAA", alias="champion")
    with pytest.raises(ModelNotFound):
        versions.set_alias(session, ticker="AAA", alias="champion", version=9)


@pytest.mark.parametrize("alias_change", ["move", "delete"])
@pytest.mark.parametrize("database_backend", ["postgresql"])  # SQLite has one lock for all
def test_moving_or_deleting_an_alias_waits_for_the_tickers_registry_lock(
    db_url: str, alias_change: str
) -> None:
    with session_scope(db_url) as s:
        for _ in range(2):
            versions.register_version(s, new=new_version("LCK"))
        versions.set_alias(s, ticker="LCK", alias="champion", version=1)
    with session_scope(db_url) as gate, session_scope(db_url) as admin:
        versions.lock_ticker(gate, ticker="LCK")  # a champion decision under way
        admin.execute(text("SET LOCAL lock_timeout = '100ms'"))
        with pytest.raises(OperationalError, match="lock timeout"):
            if alias_change == "move":
                versions.move_alias(admin, ticker="LCK", alias="champion", version=2)
            else:
                versions.delete_alias(admin, ticker="LCK", alias="champion")
        admin.rollback()
        gate.rollback()
    with session_scope(db_url) as s:
        assert versions.resolve_alias(s, ticker="LCK", alias="champion").version == 1  # type: ignore[union-attr]


def test_concurrent_registrations_get_distinct_numbers(db_url: str) -> None:
    errors: list[BaseException] = []

    def register() -> None:
        try:
            with session_scope(db_url) as s:
                versions.register_version(s, new=new_version("CON"))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with session_scope(db_url) as s:
        assert versions.list_version_numbers(s, ticker="CON") == [1, 2, 3, 4, 5, 6]
