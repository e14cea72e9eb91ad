"""Receivers: register (the secret is made here and shown once), list, get, delete, and
list one receiver's deliveries."""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import NotFound
from app.db.tables import WebhookDelivery, WebhookEndpoint, utcnow
from app.webhooks import targets
from app.webhooks.events import DeliveryStatus, EventType

# Standard Webhooks secrets are 24 to 64 random bytes, base64 after `whsec_`.
SECRET_BYTES = 32


class WebhookNotFound(NotFound):
    def __init__(self, endpoint_id: str) -> None:
        super().__init__(f"No webhook {endpoint_id!r}. List them with `GET /webhooks`.")


def new_secret() -> str:
    """A signing secret in the Standard Webhooks form."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def register(
    session: Session,
    *,
    url: str,
    events: Sequence[EventType],
    description: str | None,
    settings: Settings,
) -> WebhookEndpoint:
    """Store a receiver whose URL passed the target checks; its `secret` is the one to show."""
    row = WebhookEndpoint(
        id=str(uuid.uuid4()),
        url=targets.check(url, settings),
        events=[event.value for event in dict.fromkeys(events)],
        description=description,
        secret=new_secret(),
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def get_endpoint(session: Session, *, endpoint_id: str) -> WebhookEndpoint:
    """One receiver, or WebhookNotFound."""
    row = session.get(WebhookEndpoint, endpoint_id)
    if row is None:
        raise WebhookNotFound(endpoint_id)
    return row


def list_endpoints(session: Session, *, limit: int, offset: int) -> list[WebhookEndpoint]:
    """Receivers, oldest first, a page at a time."""
    return list(
        session.scalars(
            select(WebhookEndpoint)
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
            .limit(limit)
            .offset(offset)
        )
    )


def delete_endpoint(session: Session, *, endpoint_id: str) -> None:
    """Remove a receiver; its deliveries, sent or not, go with it."""
    get_endpoint(session, endpoint_id=endpoint_id)
    session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))


def list_deliveries(
    session: Session,
    *,
    endpoint_id: str,
    status: DeliveryStatus | None,
    limit: int,
    offset: int,
) -> list[WebhookDelivery]:
    """A receiver's deliveries, newest first, each with its tries; WebhookNotFound if unknown."""
    get_endpoint(session, endpoint_id=endpoint_id)
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status.value)
    query = query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
    return list(session.scalars(query.limit(limit).offset(offset)))
