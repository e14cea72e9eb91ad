"""Retention: per ticker keep the latest TICKERCAST_KEEP_VERSIONS versions, every aliased one
and the parents of kept ones; the others lose their Keras model, ONNX graph and backtest
windows (most of a version's bytes) and become `pruned`, keeping row, config, metrics and
lineage.

Each ticker is pruned in its own transaction under its registry lock (the lock a registration
and an alias move take), so the set kept is decided on what is registered and aliased when the
blobs are removed: a version registered or aliased meanwhile waits for the lock, and the next
pass sees it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import null, select, text, update
from sqlalchemy.orm import Session

from app.db import serving_state
from app.db.engine import get_engine, session_scope
from app.db.tables import ModelAlias, ModelVersion
from app.registry import versions


@dataclass(frozen=True)
class _Link:
    id: int
    version: int
    status: str
    parent_ticker: str | None
    parent_version: int | None


@dataclass
class PruneReport:
    """What a prune did (or, dry, would do): version numbers per ticker."""

    keep: int
    dry_run: bool
    pruned: dict[str, list[int]] = field(default_factory=dict)
    tickers: int = 0  # tickers looked at

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.pruned.values())


def parents_elsewhere(session: Session, *, ticker: str | None = None) -> dict[str, set[int]]:
    """Per ticker, its version numbers that a version of another ticker still holding its
    weights began from (a warm start across tickers); for one ticker, or all in one query."""
    query = select(ModelVersion.parent_ticker, ModelVersion.parent_version).where(
        ModelVersion.parent_ticker.is_not(None),
        ModelVersion.parent_version.is_not(None),
        ModelVersion.ticker != ModelVersion.parent_ticker,
        ModelVersion.status != versions.PRUNED,
    )
    if ticker is not None:
        query = query.where(ModelVersion.parent_ticker == ticker)
    out: dict[str, set[int]] = {}
    for parent_ticker, parent_version in session.execute(query):
        if parent_ticker is not None and parent_version is not None:  # the query's own filter
            out.setdefault(parent_ticker, set()).add(parent_version)
    return out


def plan_ticker(
    session: Session, *, ticker: str, keep: int, elsewhere: dict[str, set[int]] | None = None
) -> list[int]:
    """Version numbers of a ticker that a prune would prune now (already pruned excluded);
    `elsewhere` is parents_elsewhere() read once for a pass, else it is read for the ticker."""
    links = [
        _Link(*row)
        for row in session.execute(
            select(
                ModelVersion.id,
                ModelVersion.version,
                ModelVersion.status,
                ModelVersion.parent_ticker,
                ModelVersion.parent_version,
            ).where(ModelVersion.ticker == ticker)
        )
    ]
    aliased = set(
        session.scalars(select(ModelAlias.model_version_id).where(ModelAlias.ticker == ticker))
    )
    if elsewhere is None:
        elsewhere = parents_elsewhere(session, ticker=ticker)
    others = elsewhere.get(ticker, set())
    kept = _keep_set(links, ticker=ticker, keep=keep, aliased=aliased, others=others)
    return sorted(
        link.version
        for link in links
        if link.version not in kept and link.status != versions.PRUNED
    )


def _keep_set(
    links: list[_Link], *, ticker: str, keep: int, aliased: set[int], others: set[int]
) -> set[int]:
    by_version = {link.version: link for link in links}
    todo = sorted(by_version, reverse=True)[:keep]
    todo += [link.version for link in links if link.id in aliased]
    todo += list(others)
    kept: set[int] = set()
    while todo:
        version = todo.pop()
        if version in kept or version not in by_version:
            continue
        kept.add(version)
        link = by_version[version]
        if link.parent_ticker == ticker and link.parent_version is not None:
            todo.append(link.parent_version)
    return kept


def prune_ticker(
    session: Session,
    *,
    ticker: str,
    keep: int,
    dry_run: bool = False,
    elsewhere: dict[str, set[int]] | None = None,
) -> list[int]:
    """Prune one ticker's versions beyond what retention keeps, under its registry lock, in
    the caller's transaction; the version numbers pruned (or, dry, that would be). A first
    plan may use a pass's `elsewhere`; the one under the lock reads everything afresh."""
    doomed = plan_ticker(session, ticker=ticker, keep=keep, elsewhere=elsewhere)
    if not doomed or dry_run:
        return doomed  # most passes: nothing to prune, so no lock and no write
    # Decided again under the lock: what is registered or aliased now, not before it.
    versions.lock_ticker(session, ticker=ticker)
    doomed = plan_ticker(session, ticker=ticker, keep=keep)
    if doomed:
        session.execute(
            update(ModelVersion)
            .where(ModelVersion.ticker == ticker, ModelVersion.version.in_(doomed))
            # null(): SQL NULL, where None would store JSON's `null` in the backtest column.
            .values(status=versions.PRUNED, keras_model=None, onnx_model=None, backtest=null())
            .execution_options(synchronize_session=False)
        )
        # A cached forecast of a pruned version must not outlive it.
        serving_state.changed(session, ticker=ticker)
        session.flush()
    return doomed


def tickers_with_versions(session: Session) -> list[str]:
    """Every ticker with at least one registered version, in order."""
    return list(
        session.scalars(select(ModelVersion.ticker).distinct().order_by(ModelVersion.ticker))
    )


def prune_registry(url: str, *, keep: int, dry_run: bool = False) -> PruneReport:
    """A prune of every ticker, each in its own transaction under its lock; then the freed
    space is made usable at once (`release_free_pages`, README "Retention")."""
    report = PruneReport(keep=keep, dry_run=dry_run)
    with session_scope(url) as session:
        tickers = tickers_with_versions(session)
        # Read once for the pass (one query, not one per ticker): each ticker's first plan.
        elsewhere = parents_elsewhere(session)
    for ticker in tickers:
        with session_scope(url) as session:
            doomed = prune_ticker(
                session, ticker=ticker, keep=keep, dry_run=dry_run, elsewhere=elsewhere
            )
        report.tickers += 1
        if doomed:
            report.pruned[ticker] = doomed
    if report.count and not dry_run:
        release_free_pages(url)
    return report


def release_free_pages(url: str) -> None:
    """Make the space a prune freed usable at once: on SQLite with auto_vacuum=INCREMENTAL,
    `incremental_vacuum` hands the freed pages back to the file system (without it, SQLite
    reuses them for later writes); on PostgreSQL a plain `VACUUM model_version`, what
    autovacuum would do later, marks the removed blobs' TOAST space reusable by the next
    versions (it takes no lock that blocks reads or writes; VACUUM FULL would return the
    space to the operating system, under an exclusive lock)."""
    engine = get_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM model_version"))
        return
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as connection:
        if connection.execute(text("PRAGMA auto_vacuum")).scalar() != 2:  # 2: incremental
            return
        # Run to its end: Python's sqlite3 steps a statement without result columns once, and
        # incremental_vacuum frees one page per step; executescript runs it through.
        dbapi = connection.connection.dbapi_connection
        assert dbapi is not None
        dbapi.executescript("PRAGMA incremental_vacuum;")
