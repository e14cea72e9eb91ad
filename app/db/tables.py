"""Tables (SQLAlchemy 2 typed mappings). The schema itself comes only from Alembic migrations."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from app.jobs.status import ACTIVE

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """Timezone-aware now in UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores UTC and always reads back timezone-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        dict[str, Any]: JSON,
        dt.datetime: UTCDateTime(),
    }


class TickerInfo(Base):
    """What we know of a ticker besides its bars: its exchange calendar and last refresh."""

    __tablename__ = "ticker"

    symbol: Mapped[str] = mapped_column(String(15), primary_key=True)
    calendar: Mapped[str] = mapped_column(String(16))
    timezone: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    refreshed_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Scheduled refreshes that failed in a row, and when the next may try (backoff).
    refresh_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_refresh_at: Mapped[dt.datetime | None]
    refresh_error: Mapped[str | None] = mapped_column(Text)


class PriceBar(Base):
    """One daily bar per ticker and exchange day."""

    __tablename__ = "price_bar"

    ticker: Mapped[str] = mapped_column(
        String(15), ForeignKey("ticker.symbol", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    open: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)
    low: Mapped[float] = mapped_column(Float)
    close: Mapped[float] = mapped_column(Float)
    adj_close: Mapped[float | None] = mapped_column(Float)
    volume: Mapped[float | None] = mapped_column(Float)
    # Kept on request (strict=false) although its prices are implausible
    # (app/prices/checks.py:implausible_prices): no forecast, training or live score reads it.
    quarantined: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


# A job is active while queued or running; one request has at most one active job.
_ACTIVE_JOB = text(f"status IN ({', '.join(repr(str(s)) for s in sorted(ACTIVE))})")


class TrainingJob(Base):
    """A training request; this table is the source of truth for job state."""

    __tablename__ = "training_job"
    __table_args__ = (
        Index("ix_training_job_ticker_status", "ticker", "status"),
        Index(
            "uq_training_job_active",
            "ticker",
            "config_hash",
            unique=True,
            postgresql_where=_ACTIVE_JOB,
            sqlite_where=_ACTIVE_JOB,
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ticker: Mapped[str] = mapped_column(String(15))
    config: Mapped[dict[str, Any]]
    # SHA-256 of the canonical request, to find a duplicate queued or running job.
    config_hash: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)
    message: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    backend: Mapped[str] = mapped_column(String(16), default="local")
    worker: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    model_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_version.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    model_version: Mapped[ModelVersion | None] = relationship(lazy="joined")
    started_at: Mapped[dt.datetime | None]
    heartbeat_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]


class ModelVersion(Base):
    """A registered, trained model: weights, ONNX graph, scalers and what it was trained on."""

    __tablename__ = "model_version"
    __table_args__ = (
        UniqueConstraint("ticker", "version", name="uq_model_version_ticker_version"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    ticker: Mapped[str] = mapped_column(String(15), index=True)
    version: Mapped[int] = mapped_column(Integer)
    model_type: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    config: Mapped[dict[str, Any]]
    scalers: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any]]
    calendar: Mapped[str] = mapped_column(String(16))
    data_start: Mapped[dt.date] = mapped_column(Date)
    data_end: Mapped[dt.date] = mapped_column(Date)
    data_rows: Mapped[int] = mapped_column(Integer)
    data_sha256: Mapped[str] = mapped_column(String(64))
    library_versions: Mapped[dict[str, Any]]
    # Deferred: listings and forecasts never need the weights in memory. None for a baseline
    # (naive, drift), whose forecast is a formula.
    keras_model: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    onnx_model: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    # The SHA-256 (hex) of each blob at registration, checked whenever the blob is loaded
    # (app/registry/versions.py): a damaged blob is an error, never a forecast. None with it.
    keras_sha256: Mapped[str | None] = mapped_column(String(64))
    onnx_sha256: Mapped[str | None] = mapped_column(String(64))
    job_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Conformal interval half-widths per level and step (None for versions before backtests).
    calibration: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Every walk-forward window of the version's backtest, column-wise; large, so deferred.
    backtest: Mapped[dict[str, Any] | None] = mapped_column(JSON, deferred=True)
    # The version a warm start began from (None: trained from scratch); it may be another
    # ticker's (transfer learning).
    parent_ticker: Mapped[str | None] = mapped_column(String(15))
    parent_version: Mapped[int | None] = mapped_column(Integer)
    # The aliases that name this version, loaded with it in one more query per listing.
    aliases: Mapped[list[ModelAlias]] = relationship(
        lazy="selectin", viewonly=True, order_by="ModelAlias.alias"
    )


class ModelAlias(Base):
    """A named pointer (for example `champion`) to one version of a ticker's model."""

    __tablename__ = "model_alias"

    ticker: Mapped[str] = mapped_column(String(15), primary_key=True)
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_version.id", ondelete="CASCADE")
    )
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RegistryLock(Base):
    """One row per ticker, locked (upserted) while its champion is decided or moved by hand.

    Deciding reads the sitting champion and then writes the alias; without a lock taken before
    the read, two registrations of one ticker could both judge against the same champion.
    """

    __tablename__ = "registry_lock"

    ticker: Mapped[str] = mapped_column(String(15), primary_key=True)
    locked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ServingState(Base):
    """One row per ticker whose token changes in the same transaction as any write that can
    change what a forecast of the ticker says: bars written or deleted, a version registered,
    an alias set, moved or removed. Cached forecasts are tagged with the token they were
    computed under; one primary-key read proves them current (app/forecasting/cache.py)."""

    __tablename__ = "serving_state"

    ticker: Mapped[str] = mapped_column(String(15), primary_key=True)
    # Random on every change (not a counter): a database restored from a backup or a ticker
    # written again from scratch never hands back a token a process has cached.
    token: Mapped[int] = mapped_column(BigInteger)
    changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class IdempotencyKey(Base):
    """An `Idempotency-Key` a caller sent with POST /train, and the job it created."""

    __tablename__ = "idempotency_key"

    caller: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # The request's config hash: the same key with another request is refused.
    request_sha256: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[str] = mapped_column(ForeignKey("training_job.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ForecastRecord(Base):
    """A forecast as served, once per version and origin day, scored when its actuals arrive."""

    __tablename__ = "forecast_record"
    __table_args__ = (Index("ix_forecast_record_ticker_origin", "ticker", "origin"),)

    model_version_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("model_version.id", ondelete="CASCADE"),
        primary_key=True,
    )
    # The last bar the forecast saw (its data_as_of).
    origin: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    ticker: Mapped[str] = mapped_column(String(15))
    dates: Mapped[list[str]] = mapped_column(JSON)
    values: Mapped[list[float]] = mapped_column(JSON)
    last_close: Mapped[float] = mapped_column(Float)
    # {level: {"lower": [...], "upper": [...]}} for the levels the version reports.
    intervals: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SchedulerLease(Base):
    """Who runs the scheduler now: one holder per deployment, until the lease expires."""

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[dt.datetime]


class WebhookEndpoint(Base):
    """A receiver registered with POST /webhooks: its URL, the events it wants, its secret."""

    __tablename__ = "webhook_endpoint"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    # Event type names (app/webhooks/events.py:EventType), in the order asked.
    events: Mapped[list[str]] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(String(500))
    # The Standard Webhooks signing secret (`whsec_` + base64), shown once at registration:
    # kept as it is because every delivery is signed with it.
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """The outbox: one message for one endpoint, written in the transaction of its event and
    sent afterwards by the delivery loop (app/webhooks/sender.py), retried until it succeeds
    or its time is up."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        Index("ix_webhook_delivery_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_webhook_delivery_endpoint_id_created_at", "endpoint_id", "created_at"),
    )

    # The `webhook-id` header: the same on every attempt, so receivers can drop repeats.
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoint.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(40))
    # The exact JSON body every attempt sends (and signs).
    payload: Mapped[str] = mapped_column(Text)
    # pending, succeeded or failed (app/webhooks/events.py:DeliveryStatus).
    status: Mapped[str] = mapped_column(String(16))
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime]
    # A sender that took the delivery holds it until then; after that another may take it.
    leased_until: Mapped[dt.datetime | None]
    lease_holder: Mapped[str | None] = mapped_column(String(255))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]
    # Every try, oldest first, loaded with a page of deliveries in one more query.
    attempts: Mapped[list[WebhookAttempt]] = relationship(
        lazy="selectin", viewonly=True, order_by="WebhookAttempt.id"
    )


class WebhookAttempt(Base):
    """One try of a delivery: when, what the receiver answered, or why it could not."""

    __tablename__ = "webhook_attempt"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_delivery.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float] = mapped_column(Float)
