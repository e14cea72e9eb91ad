"""The delivery loop's queries: take due deliveries under a lease, record each try.

A lease (`leased_until`, `lease_holder`) lets any number of delivery loops, in any processes,
work on one outbox: a delivery is taken by one compare-and-set update, and one whose sender
died mid-try is taken again once its lease ran out. A try is recorded only by the holder of
the lease, so a sender that outlived its lease cannot overwrite what another recorded.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.db.tables import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from app.webhooks.events import DeliveryStatus

PENDING = DeliveryStatus.PENDING.value
# What a receiver's answer or a connection error is cut to when stored.
MAX_ERROR_CHARS = 300


@dataclass(frozen=True)
class Claimed:
    """A delivery taken for one try: what to send, where, signed with what."""

    id: str
    url: str
    secret: str
    payload: str
    attempt_count: int  # tries before this one
    created_at: dt.datetime


@dataclass(frozen=True)
class Outcome:
    """What one try got: a status code, or the reason none came."""

    status_code: int | None
    error: str | None
    duration_ms: float

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _due(now: dt.datetime) -> object:
    return and_(
        WebhookDelivery.status == PENDING,
        WebhookDelivery.next_attempt_at <= now,
        or_(WebhookDelivery.leased_until.is_(None), WebhookDelivery.leased_until < now),
    )


def claim_due(
    session: Session, *, holder: str, now: dt.datetime, lease_seconds: float, limit: int
) -> list[Claimed]:
    """Take up to `limit` due deliveries, oldest first, for `lease_seconds`."""
    candidates = list(
        session.scalars(
            select(WebhookDelivery.id)
            .where(_due(now))  # type: ignore[arg-type]
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        )
    )
    until = now + dt.timedelta(seconds=lease_seconds)
    taken: list[str] = []
    for delivery_id in candidates:
        won = session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, _due(now))  # type: ignore[arg-type]
            .values(leased_until=until, lease_holder=holder)
        ).rowcount  # type: ignore[attr-defined]
        if won:
            taken.append(delivery_id)
    if not taken:
        return []
    rows = session.execute(
        select(
            WebhookDelivery.id,
            WebhookEndpoint.url,
            WebhookEndpoint.secret,
            WebhookDelivery.payload,
            WebhookDelivery.attempt_count,
            WebhookDelivery.created_at,
        )
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.id.in_(taken))
        .order_by(WebhookDelivery.next_attempt_at)
    )
    return [Claimed(*row) for row in rows]


def next_delay(tries: int, settings: Settings) -> float:
    """Seconds before try `tries + 1`: the backoff, doubled after each failure, capped."""
    return float(
        min(
            settings.webhook_backoff_seconds * 2 ** max(tries - 1, 0),
            settings.webhook_backoff_max_seconds,
        )
    )


def record(
    session: Session,
    *,
    claimed: Claimed,
    holder: str,
    outcome: Outcome,
    now: dt.datetime,
    settings: Settings,
) -> DeliveryStatus | None:
    """Store a try and what follows: done, another try after the backoff, or given up once
    the next try would fall past TICKERCAST_WEBHOOK_RETRY_SECONDS after the event.

    None when the lease was lost meanwhile (or the receiver deleted): nothing is written.
    """
    tries = claimed.attempt_count + 1
    values: dict[str, object] = {
        "attempt_count": tries,
        "last_status_code": outcome.status_code,
        "last_error": outcome.error,
        "leased_until": None,
        "lease_holder": None,
    }
    if outcome.succeeded:
        status = DeliveryStatus.SUCCEEDED
    else:
        retry_at = now + dt.timedelta(seconds=next_delay(tries, settings))
        give_up_at = claimed.created_at + dt.timedelta(seconds=settings.webhook_retry_seconds)
        if retry_at > give_up_at:
            status = DeliveryStatus.FAILED
            values["last_error"] = (
                f"{outcome.error or f'answered {outcome.status_code}'}; gave up after {tries} "
                f"tries in {(now - claimed.created_at).total_seconds():.0f} s "
                "(TICKERCAST_WEBHOOK_RETRY_SECONDS)"
            )
        else:
            status = DeliveryStatus.PENDING
            values["next_attempt_at"] = retry_at
    values["status"] = status.value
    if status is not DeliveryStatus.PENDING:
        values["finished_at"] = now
    kept = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == claimed.id, WebhookDelivery.lease_holder == holder)
        .values(**values)
    ).rowcount  # type: ignore[attr-defined]
    if not kept:
        return None
    session.add(
        WebhookAttempt(
            delivery_id=claimed.id,
            attempted_at=now - dt.timedelta(milliseconds=outcome.duration_ms),
            status_code=outcome.status_code,
            error=outcome.error,
            duration_ms=outcome.duration_ms,
        )
    )
    return status
