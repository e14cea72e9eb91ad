"""The transactional outbox: an event is written as one delivery row per receiver that asked
for it, in the caller's transaction, so it is sent if and only if the change it reports
commits; the delivery loop (app/webhooks/sender.py) sends it afterwards, outside any request.

Each function here is called by the one place that makes its change: `jobs.service.finish`
(job.succeeded, job.failed), `registry.versions.set_alias` and `delete_alias`
(champion.changed), `prices.service.refresh` (prices.refreshed).
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app.db.tables import ModelVersion, TrainingJob, WebhookDelivery, WebhookEndpoint, utcnow
from app.schemas.webhooks import (
    ChampionChangedData,
    Envelope,
    JobEventData,
    PricesRefreshedData,
)
from app.webhooks.events import DeliveryStatus, EventType


def new_message_id() -> str:
    """A delivery's `webhook-id`: unique, and the same on each of its tries."""
    return f"msg_{uuid.uuid4().hex}"


def emit(session: Session, *, event: EventType, data: BaseModel) -> int:
    """Queue the event for every receiver that asked for it; returns how many deliveries.

    With no receiver registered this costs one read of the (small) endpoint table.
    """
    receivers = [
        endpoint_id
        for endpoint_id, events in session.execute(
            select(WebhookEndpoint.id, WebhookEndpoint.events)
        )
        if event.value in events
    ]
    if not receivers:
        return 0
    now = utcnow()
    # Any: the data is serialized as what it is (a JobEventData, say), not as a bare BaseModel.
    body = Envelope[Any](type=event, timestamp=now, data=data).model_dump_json()
    session.execute(
        insert(WebhookDelivery),
        [
            {
                "id": new_message_id(),
                "endpoint_id": endpoint_id,
                "event": event.value,
                "payload": body,
                "status": DeliveryStatus.PENDING.value,
                "attempt_count": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for endpoint_id in receivers
        ],
    )
    return len(receivers)


def job_ended(session: Session, *, job_id: str) -> None:
    """job.succeeded or job.failed for a job whose final status was just written."""
    row = session.execute(
        select(
            TrainingJob.id,
            TrainingJob.ticker,
            TrainingJob.status,
            TrainingJob.message,
            TrainingJob.error,
            TrainingJob.finished_at,
            ModelVersion.version,
        )
        .outerjoin(ModelVersion, ModelVersion.id == TrainingJob.model_version_id)
        .where(TrainingJob.id == job_id)
    ).one()
    if row.status not in ("succeeded", "failed"):
        return  # a cancel is the caller's own doing: nobody is told
    event = EventType.JOB_SUCCEEDED if row.status == "succeeded" else EventType.JOB_FAILED
    emit(
        session,
        event=event,
        data=JobEventData(
            job_id=row.id,
            ticker=row.ticker,
            status=row.status,
            model_version=row.version,
            message=row.message,
            error=row.error,
            finished_at=row.finished_at or utcnow(),
        ),
    )


def champion_changed(
    session: Session, *, ticker: str, version: int | None, previous: int | None
) -> None:
    """champion.changed, only when the champion really is another version (or none) now."""
    if version == previous:
        return
    emit(
        session,
        event=EventType.CHAMPION_CHANGED,
        data=ChampionChangedData(ticker=ticker, version=version, previous_version=previous),
    )


def prices_refreshed(session: Session, *, summary: dict[str, Any]) -> None:
    """prices.refreshed after bars from the price source were stored: the refresh's summary
    (the payload schema is built here, so the prices domain never imports the API's schemas)."""
    emit(session, event=EventType.PRICES_REFRESHED, data=PricesRefreshedData(**summary))
