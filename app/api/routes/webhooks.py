"""POST/GET/DELETE /webhooks and GET /webhooks/{id}/deliveries (admin key), and the payloads
receivers get, documented under the OpenAPI schema's `webhooks`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from app.api.auth import AdminCaller
from app.api.deps import SessionDep, SettingsDep
from app.api.docs import READ, WRITE, errors
from app.api.examples import DELIVERY, WEBHOOK, ok
from app.schemas.common import MAX_OFFSET
from app.schemas.webhooks import (
    ChampionChangedData,
    DeliveryOut,
    Envelope,
    JobEventData,
    PricesRefreshedData,
    WebhookCreated,
    WebhookOut,
    WebhookRequest,
)
from app.webhooks import endpoints
from app.webhooks.events import DeliveryStatus, EventType

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

WebhookId = Annotated[str, Path(min_length=1, max_length=64, description="The webhook's id")]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]


@router.post(
    "",
    operation_id="webhook_create",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
    responses={
        **ok({**WEBHOOK, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, status=201),
        **errors(*WRITE),
    },
)
def create_webhook(
    body: WebhookRequest,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    _caller: AdminCaller,
) -> WebhookCreated:
    """Register a receiver for some events (admin key); the answer shows its secret, once.

    The URL must be https on a public address (the operator may allow http and private
    addresses); each delivery is a signed POST (Standard Webhooks), retried with backoff.
    """
    row = endpoints.register(
        session,
        url=body.url,
        events=body.events,
        description=body.description,
        settings=settings,
    )
    response.headers["Location"] = f"/webhooks/{row.id}"
    return WebhookCreated.model_validate(row)


@router.get(
    "",
    operation_id="webhooks_list",
    response_model=list[WebhookOut],
    responses={**ok([WEBHOOK]), **errors(*READ)},
)
def list_webhooks(
    session: SessionDep, _caller: AdminCaller, limit: Limit = 100, offset: Offset = 0
) -> list[WebhookOut]:
    """The registered receivers, oldest first, a page at a time (admin key)."""
    rows = endpoints.list_endpoints(session, limit=limit, offset=offset)
    return [WebhookOut.model_validate(row) for row in rows]


@router.get(
    "/{webhook_id}",
    operation_id="webhook_get",
    response_model=WebhookOut,
    responses={**ok(WEBHOOK), **errors(*READ, 404)},
)
def get_webhook(webhook_id: WebhookId, session: SessionDep, _caller: AdminCaller) -> WebhookOut:
    """One receiver: its URL and events (admin key)."""
    return WebhookOut.model_validate(endpoints.get_endpoint(session, endpoint_id=webhook_id))


@router.delete(
    "/{webhook_id}",
    operation_id="webhook_delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(*READ, 404),
)
def delete_webhook(webhook_id: WebhookId, session: SessionDep, _caller: AdminCaller) -> Response:
    """Remove a receiver and its deliveries; nothing more is sent to it (admin key)."""
    endpoints.delete_endpoint(session, endpoint_id=webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{webhook_id}/deliveries",
    operation_id="webhook_deliveries",
    response_model=list[DeliveryOut],
    responses={**ok([DELIVERY]), **errors(*READ, 404)},
)
def list_deliveries(
    webhook_id: WebhookId,
    session: SessionDep,
    _caller: AdminCaller,
    status: DeliveryStatus | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[DeliveryOut]:
    """A receiver's deliveries, newest first, each with every try's status code (admin key)."""
    rows = endpoints.list_deliveries(
        session, endpoint_id=webhook_id, status=status, limit=limit, offset=offset
    )
    return [DeliveryOut.of(row) for row in rows]


# What receivers are sent: documented in the OpenAPI schema's `webhooks`, one per event.
events = APIRouter(tags=["webhooks"])


@events.post(EventType.JOB_SUCCEEDED.value, operation_id="event_job_succeeded")
def job_succeeded(body: Envelope[JobEventData]) -> None:
    """A training job succeeded: its version is registered (and maybe champion)."""


@events.post(EventType.JOB_FAILED.value, operation_id="event_job_failed")
def job_failed(body: Envelope[JobEventData]) -> None:
    """A training job failed; `error` says why."""


@events.post(EventType.CHAMPION_CHANGED.value, operation_id="event_champion_changed")
def champion_changed(body: Envelope[ChampionChangedData]) -> None:
    """A ticker's champion is another version now (the gate or an admin moved it)."""


@events.post(EventType.PRICES_REFRESHED.value, operation_id="event_prices_refreshed")
def prices_refreshed(body: Envelope[PricesRefreshedData]) -> None:
    """Bars were fetched from the price source and stored."""
