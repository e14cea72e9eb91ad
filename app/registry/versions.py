"""Model registry queries: versions per ticker (max+1 with retry) and named aliases."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.errors import Gone, ModelCorrupted, ModelNotFound
from app.db import serving_state
from app.db.engine import upsert_into
from app.db.tables import ModelAlias, ModelVersion, RegistryLock, utcnow
from app.webhooks import outbox
from models.config import ModelType

READY = "ready"
# Retention (app/registry/retention.py) removed the version's Keras model, ONNX graph and
# backtest windows; its row, config, metrics and lineage stay.
PRUNED = "pruned"
# The alias forecasts serve by default, moved by the champion gate or by hand.
CHAMPION = "champion"
# Version numbers are allocated as max+1; concurrent writers retry on the unique constraint.
MAX_ALLOCATION_ATTEMPTS = 64


@dataclass(frozen=True)
class NewVersion:
    """Everything a training run hands to the registry."""

    ticker: str
    model_type: str
    target: str
    config: dict[str, Any]
    scalers: dict[str, Any]
    metrics: dict[str, Any]
    calendar: str
    data_start: dt.date
    data_end: dt.date
    data_rows: int
    data_sha256: str
    library_versions: dict[str, Any]
    keras_model: bytes | None  # None for a baseline: no weights
    onnx_model: bytes | None
    job_id: str | None = None
    calibration: dict[str, Any] | None = None
    backtest: dict[str, Any] | None = None
    parent_ticker: str | None = None
    parent_version: int | None = None

    def with_metrics(self, metrics: dict[str, Any]) -> NewVersion:
        """The same version with other metrics (the gate adds its decision)."""
        return replace(self, metrics=metrics)


def register_version(session: Session, *, new: NewVersion) -> ModelVersion:
    """Insert a ready version numbered max+1 for its ticker, retrying on a concurrent insert."""
    last_error: IntegrityError | None = None
    for _ in range(MAX_ALLOCATION_ATTEMPTS):
        current = session.scalar(
            select(func.max(ModelVersion.version)).where(ModelVersion.ticker == new.ticker)
        )
        row = ModelVersion(
            ticker=new.ticker,
            version=(current or 0) + 1,
            model_type=new.model_type,
            target=new.target,
            status=READY,
            config=new.config,
            scalers=new.scalers,
            metrics=new.metrics,
            calendar=new.calendar,
            data_start=new.data_start,
            data_end=new.data_end,
            data_rows=new.data_rows,
            data_sha256=new.data_sha256,
            library_versions=new.library_versions,
            keras_model=new.keras_model,
            onnx_model=new.onnx_model,
            keras_sha256=blob_sha256(new.keras_model),
            onnx_sha256=blob_sha256(new.onnx_model),
            job_id=new.job_id,
            calibration=new.calibration,
            backtest=new.backtest,
            parent_ticker=new.parent_ticker,
            parent_version=new.parent_version,
            created_at=utcnow(),
        )
        # A savepoint, so that losing the race rolls back only this insert.
        savepoint = session.begin_nested()
        session.add(row)
        try:
            session.flush()
        except IntegrityError as exc:
            savepoint.rollback()
            last_error = exc
            continue
        savepoint.commit()
        # The latest version (served when no champion sits) and version numbers changed.
        serving_state.changed(session, ticker=new.ticker)
        return row
    raise RuntimeError(
        f"could not allocate a version for {new.ticker} after "
        f"{MAX_ALLOCATION_ATTEMPTS} attempts: {last_error}"
    )


def get_version(session: Session, *, ticker: str, version: int) -> ModelVersion:
    """One version of a ticker's model (its blobs deferred, as the mapping says), or
    ModelNotFound."""
    row = session.scalar(
        select(ModelVersion).where(ModelVersion.ticker == ticker, ModelVersion.version == version)
    )
    if row is None:
        known = list_version_numbers(session, ticker=ticker)
        hint = f"known versions: {known}" if known else "no versions are registered for it"
        raise ModelNotFound(f"Ticker {ticker!r} has no model version {version} ({hint}).")
    return row


def require_unpruned(row: ModelVersion, *, use: str) -> None:
    """Raise Gone (410) when retention pruned the version, saying what `use` needed."""
    if row.status == PRUNED:
        raise Gone(
            f"Version {row.version} of {row.ticker!r} was pruned by retention "
            f"(TICKERCAST_KEEP_VERSIONS): its weights and backtest windows were removed, so "
            f"{use} is not possible; its config, metrics and lineage remain at "
            f"GET /models/{row.ticker}/versions/{row.version}. Use a newer version or retrain."
        )


def latest_ready(session: Session, *, ticker: str) -> ModelVersion:
    """The newest ready version of a ticker's model, or ModelNotFound."""
    row = session.scalar(
        select(ModelVersion)
        .where(ModelVersion.ticker == ticker, ModelVersion.status == READY)
        .order_by(ModelVersion.version.desc())
        .limit(1)
    )
    if row is None:
        raise ModelNotFound(
            f"No trained model for ticker {ticker!r}. Start one with "
            f'`POST /train` {{"ticker": "{ticker}"}} and poll `GET /jobs/{{id}}`.'
        )
    return row


def latest_network(session: Session, *, ticker: str) -> ModelVersion | None:
    """The newest ready version of a ticker that is a network (not a baseline), or None."""
    baselines = [m.value for m in ModelType if m.is_baseline]
    return session.scalar(
        select(ModelVersion)
        .where(
            ModelVersion.ticker == ticker,
            ModelVersion.status == READY,
            ModelVersion.model_type.not_in(baselines),
        )
        .order_by(ModelVersion.version.desc())
        .limit(1)
    )


def list_version_numbers(session: Session, *, ticker: str) -> list[int]:
    """Version numbers registered for a ticker, ascending."""
    return list(
        session.scalars(
            select(ModelVersion.version)
            .where(ModelVersion.ticker == ticker)
            .order_by(ModelVersion.version)
        )
    )


def list_versions(
    session: Session, *, ticker: str, limit: int | None = None, offset: int = 0
) -> list[ModelVersion]:
    """A ticker's versions, newest first, without the weight blobs (a page of `limit` from
    `offset`, or all); ModelNotFound if it has none (a page past the last is empty)."""
    rows = list(
        session.scalars(
            select(ModelVersion)
            .where(ModelVersion.ticker == ticker)
            .order_by(ModelVersion.version.desc())
            .limit(limit)
            .offset(offset)
        )
    )
    if not rows and (offset == 0 or not list_version_numbers(session, ticker=ticker)):
        raise ModelNotFound(f"No model versions for ticker {ticker!r}; train one with POST /train.")
    return rows


def list_latest_per_ticker(
    session: Session, *, limit: int = 100, offset: int = 0
) -> list[ModelVersion]:
    """For every ticker with a model, by ticker, its newest version (without blobs)."""
    newest = (
        select(ModelVersion.ticker, func.max(ModelVersion.version).label("version"))
        .group_by(ModelVersion.ticker)
        .subquery()
    )
    return list(
        session.scalars(
            select(ModelVersion)
            .join(
                newest,
                (ModelVersion.ticker == newest.c.ticker)
                & (ModelVersion.version == newest.c.version),
            )
            .order_by(ModelVersion.ticker)
            .limit(limit)
            .offset(offset)
        )
    )


def lock_ticker(session: Session, *, ticker: str) -> None:
    """Hold the ticker's registry lock until the transaction ends.

    An upsert, so it works for a ticker seen for the first time: on PostgreSQL it locks the
    row (a second writer waits at this statement); on SQLite any write takes the database's
    write lock, so both databases serialise champion decisions per ticker.
    """
    now = utcnow()
    stmt = upsert_into(session, RegistryLock).values(ticker=ticker, locked_at=now)
    session.execute(
        stmt.on_conflict_do_update(index_elements=[RegistryLock.ticker], set_={"locked_at": now})
    )


def set_alias(session: Session, *, ticker: str, alias: str, version: int) -> None:
    """Point `alias` at a version of the ticker's model (created or moved, in one upsert)."""
    target = get_version(session, ticker=ticker, version=version)
    before = resolve_alias(session, ticker=ticker, alias=alias) if alias == CHAMPION else None
    now = utcnow()
    stmt = upsert_into(session, ModelAlias).values(
        ticker=ticker, alias=alias, model_version_id=target.id, updated_at=now
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[ModelAlias.ticker, ModelAlias.alias],
            set_={"model_version_id": target.id, "updated_at": now},
        )
    )
    serving_state.changed(session, ticker=ticker)
    if alias == CHAMPION:
        outbox.champion_changed(
            session, ticker=ticker, version=version, previous=before.version if before else None
        )
    session.flush()


def move_alias(session: Session, *, ticker: str, alias: str, version: int) -> None:
    """Point an alias at a version by hand, under the ticker's registry lock (as the gate);
    Gone (410) for a version retention pruned, which could serve nothing."""
    lock_ticker(session, ticker=ticker)
    require_unpruned(get_version(session, ticker=ticker, version=version), use="an alias to it")
    set_alias(session, ticker=ticker, alias=alias, version=version)


def resolve_alias(session: Session, *, ticker: str, alias: str) -> ModelVersion | None:
    """The version an alias points at, or None when the alias is not set."""
    return session.scalar(
        select(ModelVersion)
        .join(ModelAlias, ModelAlias.model_version_id == ModelVersion.id)
        .where(ModelAlias.ticker == ticker, ModelAlias.alias == alias)
    )


def champions(session: Session) -> list[ModelVersion]:
    """Every ticker's champion version (without blobs)."""
    return list(
        session.scalars(
            select(ModelVersion)
            .join(ModelAlias, ModelAlias.model_version_id == ModelVersion.id)
            .where(ModelAlias.alias == CHAMPION)
            .order_by(ModelVersion.ticker)
        )
    )


def champions_of(session: Session, *, tickers: Sequence[str]) -> list[ModelVersion]:
    """The champion version of each of these tickers that has one (without blobs), read in
    one query per 500 tickers (a bound on the statement's parameters)."""
    wanted = list(dict.fromkeys(tickers))
    out: list[ModelVersion] = []
    for start in range(0, len(wanted), 500):
        out += session.scalars(
            select(ModelVersion)
            .join(ModelAlias, ModelAlias.model_version_id == ModelVersion.id)
            .where(ModelAlias.alias == CHAMPION, ModelAlias.ticker.in_(wanted[start : start + 500]))
        )
    return out


def aliases_by_version(session: Session, *, ticker: str) -> dict[int, list[str]]:
    """Alias names per version number for a ticker."""
    rows = session.execute(
        select(ModelVersion.version, ModelAlias.alias)
        .join(ModelAlias, ModelAlias.model_version_id == ModelVersion.id)
        .where(ModelAlias.ticker == ticker)
        .order_by(ModelAlias.alias)
    )
    out: dict[int, list[str]] = {}
    for version, alias in rows:
        out.setdefault(version, []).append(alias)
    return out


def delete_alias(session: Session, *, ticker: str, alias: str) -> None:
    """Remove an alias under the ticker's registry lock (as the gate and move_alias take it),
    or ModelNotFound when it is not set."""
    lock_ticker(session, ticker=ticker)
    before = resolve_alias(session, ticker=ticker, alias=alias) if alias == CHAMPION else None
    result = session.execute(
        delete(ModelAlias).where(ModelAlias.ticker == ticker, ModelAlias.alias == alias)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise ModelNotFound(f"Ticker {ticker!r} has no alias {alias!r}.")
    serving_state.changed(session, ticker=ticker)
    if before is not None:
        outbox.champion_changed(session, ticker=ticker, version=None, previous=before.version)


def blob_sha256(blob: bytes | None) -> str | None:
    """The hex SHA-256 recorded for a blob at registration (None for no blob)."""
    return None if blob is None else hashlib.sha256(blob).hexdigest()


# The two blobs of a version: (column, its hash column, what a user reads).
ONNX = (ModelVersion.onnx_model, ModelVersion.onnx_sha256, "ONNX graph")
KERAS = (ModelVersion.keras_model, ModelVersion.keras_sha256, "Keras model")
BLOBS = (ONNX, KERAS)


def damage(blob: bytes, recorded: str | None, *, what: str) -> str | None:
    """What is wrong with a stored blob against its recorded hash, or None when it matches."""
    if recorded is None:
        return f"its {what} has no SHA-256 recorded, so it cannot be trusted"
    found = hashlib.sha256(blob).hexdigest()
    if found == recorded:
        return None
    return (
        f"its {what} ({len(blob)} bytes) does not match the SHA-256 recorded at registration "
        f"(recorded {recorded[:12]}, found {found[:12]})"
    )


def _checked_blob(session: Session, *, version_id: int, kind: tuple[Any, Any, str]) -> bytes:
    column, sha_column, what = kind
    row = session.execute(
        select(ModelVersion.ticker, ModelVersion.version, column, sha_column).where(
            ModelVersion.id == version_id
        )
    ).one_or_none()
    if row is None or row[2] is None:
        raise ModelNotFound(f"Model version id {version_id} has no {what} (a baseline?).")
    ticker, version, blob, recorded = row
    problem = damage(blob, recorded, what=what)
    if problem is not None:
        raise ModelCorrupted(
            f"Model version {version} of {ticker!r} is corrupted: {problem}. It is not served; "
            f"point the alias at another version or retrain, and run `tickercast registry "
            f"verify` to list every damaged version."
        )
    return bytes(blob)


def onnx_bytes(session: Session, *, version_id: int) -> bytes:
    """The ONNX graph of a version, checked against its SHA-256 (loaded only when a session is
    built); a baseline has none (ModelNotFound), a damaged one is ModelCorrupted."""
    return _checked_blob(session, version_id=version_id, kind=ONNX)


def keras_bytes(session: Session, *, version_id: int) -> bytes:
    """The `.keras` file of a version (the weights a warm start begins from), checked as
    onnx_bytes is."""
    return _checked_blob(session, version_id=version_id, kind=KERAS)


@dataclass(frozen=True)
class DamagedBlob:
    """One blob of one version that failed its check."""

    ticker: str
    version: int
    problem: str


@dataclass(frozen=True)
class Verification:
    """What `tickercast registry verify` found: blobs checked and those damaged."""

    checked: int
    damaged: list[DamagedBlob]


def verify_blobs(session: Session) -> Verification:
    """Check every stored blob against its hash, one blob in memory at a time."""
    checked = 0
    damaged: list[DamagedBlob] = []
    ids = session.scalars(
        select(ModelVersion.id).order_by(ModelVersion.ticker, ModelVersion.version)
    ).all()
    for version_id in ids:
        for column, sha_column, what in BLOBS:
            ticker, version, blob, recorded = session.execute(
                select(ModelVersion.ticker, ModelVersion.version, column, sha_column).where(
                    ModelVersion.id == version_id
                )
            ).one()
            if blob is None:
                continue
            checked += 1
            problem = damage(blob, recorded, what=what)
            if problem is not None:
                damaged.append(DamagedBlob(ticker, version, problem))
    return Verification(checked, damaged)


# A lineage longer than this is cut short in listings (each link is one query).
MAX_LINEAGE = 50


@dataclass(frozen=True)
class Ancestor:
    """One link of a version's lineage."""

    ticker: str
    version: int


def lineage(session: Session, *, row: ModelVersion) -> list[Ancestor]:
    """The chain of parents of a version, nearest first (empty for one trained from scratch);
    a parent no longer in the registry ends the chain with its name."""
    chain: list[Ancestor] = []
    ticker, version = row.parent_ticker, row.parent_version
    while ticker is not None and version is not None and len(chain) < MAX_LINEAGE:
        chain.append(Ancestor(ticker, version))
        parent = session.execute(
            select(ModelVersion.parent_ticker, ModelVersion.parent_version).where(
                ModelVersion.ticker == ticker, ModelVersion.version == version
            )
        ).first()
        if parent is None:
            break
        ticker, version = parent.parent_ticker, parent.parent_version
    return chain


def version_with_lineage(
    session: Session, *, ticker: str, version: int
) -> tuple[ModelVersion, list[Ancestor]]:
    """GET /models/{ticker}/versions/{version}: the version and its lineage, nearest first."""
    row = get_version(session, ticker=ticker, version=version)
    return row, lineage(session, row=row)
