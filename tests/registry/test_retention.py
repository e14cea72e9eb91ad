"""Retention: which versions a prune keeps, what a pruned version still says, and a prune that
meets a registration of the same ticker."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.db.engine import session_scope
from app.db.tables import ModelVersion
from app.registry import retention, versions
from tests.conftest import SQLITE_ONLY
from tests.registry.test_versions import new_version


def blobs(session: Session, ticker: str) -> dict[int, tuple[str, bool, bool, bool]]:
    """Per version: status and whether its Keras model, ONNX graph and backtest are stored."""
    rows = session.execute(
        select(
            ModelVersion.version,
            ModelVersion.status,
            ModelVersion.keras_model.is_not(None),
            ModelVersion.onnx_model.is_not(None),
            ModelVersion.backtest.is_not(None),
        ).where(ModelVersion.ticker == ticker)
    )
    return {v: (status, k, o, b) for v, status, k, o, b in rows}


FULL = ("ready", True, True, True)
PRUNED = ("pruned", False, False, False)
BACKTEST = {"as_of": ["2018-12-31"]}


def test_prune_keeps_the_latest_n_the_aliased_and_the_parents_of_kept_ones(db_url: str) -> None:
    with session_scope(db_url) as s:
        for n in range(1, 9):
            # v8 was warm-started from v1; BBB v1 (kept: BBB's latest) from AAA v3.
            parent = {"parent_ticker": "AAA", "parent_version": 1} if n == 8 else {}
            versions.register_version(s, new=new_version("AAA", backtest=BACKTEST, **parent))
        versions.register_version(
            s, new=new_version("BBB", parent_ticker="AAA", parent_version=3, backtest=BACKTEST)
        )
        versions.set_alias(s, ticker="AAA", alias="pinned", version=2)

    dry = retention.prune_registry(db_url, keep=3, dry_run=True)
    assert dry.pruned == {"AAA": [4, 5]}
    with session_scope(db_url) as s:
        assert set(blobs(s, "AAA").values()) == {FULL}  # a dry run changes nothing

    done = retention.prune_registry(db_url, keep=3)
    assert done.pruned == {"AAA": [4, 5]} and done.tickers == 2
    with session_scope(db_url) as s:
        kept = blobs(s, "AAA")
        assert {v for v, state in kept.items() if state == FULL} == {1, 2, 3, 6, 7, 8}
        assert {v for v, state in kept.items() if state == PRUNED} == {4, 5}
        assert blobs(s, "BBB") == {1: FULL}
        # What a pruned version keeps: its row, config, metrics and lineage.
        row, lineage = versions.version_with_lineage(s, ticker="AAA", version=4)
        assert row.config == {"lookback": 10, "horizon": 3}
        assert row.metrics == {"test": {"mae_ratio_overall": 0.99}}
        assert versions.lineage(s, row=versions.get_version(s, ticker="AAA", version=8)) == [
            versions.Ancestor("AAA", 1)
        ]
    # A second pass finds nothing more to do.
    assert retention.prune_registry(db_url, keep=3).pruned == {}


def test_a_pruned_versions_forecast_and_backtest_are_410_and_say_why(
    client: TestClient, register_tiny: Callable[..., Any], db_url: str
) -> None:
    for _ in range(3):
        register_tiny("never")
    assert retention.prune_registry(db_url, keep=1).pruned == {"^GSPC": [1, 2]}

    gone = client.get("/forecast/^GSPC", params={"version": 1})
    assert gone.status_code == 410, gone.text
    assert "pruned by retention" in gone.json()["detail"]
    assert "TICKERCAST_KEEP_VERSIONS" in gone.json()["detail"]
    backtest = client.get("/models/^GSPC/versions/2/backtest")
    assert backtest.status_code == 410, backtest.text
    assert "its backtest is not possible" in backtest.json()["detail"]
    # The row is still listed with its metrics, and the kept version still serves.
    detail = client.get("/models/^GSPC/versions/1")
    assert detail.status_code == 200 and detail.json()["status"] == "pruned"
    served = client.get("/forecast/^GSPC")
    assert served.status_code == 200 and served.json()["model_version"] == 3
    # Nor can an alias be pointed at it by hand.
    moved = client.put("/models/^GSPC/aliases/pinned", json={"version": 1})
    assert moved.status_code == 410 and "an alias to it" in moved.json()["detail"]


def test_a_prune_waits_for_a_registration_under_way_and_loses_nothing_of_it(db_url: str) -> None:
    with session_scope(db_url) as s:
        for _ in range(3):
            versions.register_version(s, new=new_version("RAC", backtest=BACKTEST))
    report: list[retention.PruneReport] = []
    errors: list[BaseException] = []

    def prune() -> None:
        try:
            report.append(retention.prune_registry(db_url, keep=2))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    with session_scope(db_url) as job:
        # A registration under way: the lock, a new version and an alias moved to v1, not
        # yet committed. Before the lock, the prune would see v1 as beyond the latest two.
        versions.lock_ticker(job, ticker="RAC")
        versions.register_version(job, new=new_version("RAC", backtest=BACKTEST))
        versions.set_alias(job, ticker="RAC", alias="pinned", version=1)
        job.flush()
        pruner = threading.Thread(target=prune)
        pruner.start()
        time.sleep(1.0)
        assert pruner.is_alive(), "the prune went ahead while the ticker's lock was held"
    pruner.join(timeout=60)
    assert not pruner.is_alive() and errors == []
    # Decided on what was committed when it got the lock: v4 is new, v1 aliased.
    assert report[0].pruned == {"RAC": [2]}
    with session_scope(db_url) as s:
        assert blobs(s, "RAC") == {1: FULL, 2: PRUNED, 3: FULL, 4: FULL}


@SQLITE_ONLY
def test_a_prune_hands_sqlites_freed_pages_back_to_the_file_system(db_url: str) -> None:
    weights = bytes(range(256)) * 4096  # 1 MiB
    with session_scope(db_url) as s:
        assert s.execute(text("PRAGMA auto_vacuum")).scalar() == 2  # incremental
        for _ in range(4):
            versions.register_version(s, new=new_version("BIG", keras_model=weights))

    def pages() -> tuple[int, int]:
        with session_scope(db_url) as s:
            s.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            count = s.execute(text("PRAGMA page_count")).scalar()
            free = s.execute(text("PRAGMA freelist_count")).scalar()
            return int(count or 0), int(free or 0)

    before, _ = pages()
    assert retention.prune_registry(db_url, keep=1).pruned == {"BIG": [1, 2, 3]}
    after, free = pages()
    page_size = 4096
    assert free == 0
    assert (before - after) * page_size > 3 * len(weights) * 0.9
