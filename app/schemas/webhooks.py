"""Webhook schemas: registering a receiver, listing it and its deliveries, and the payloads
every delivery carries (documented in the OpenAPI schema's `webhooks`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from app.webhooks.events import DeliveryStatus, EventType


class WebhookRequest(BaseModel):
    """A receiver to register."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://dash.example/hooks/tickercast",
                    "events": ["champion.changed", "job.failed"],
                    "description": "nightly dashboard",
                }
            ]
        },
    )

    url: Annotated[
        str,
        Field(
            min_length=1,
            max_length=2048,
            description="Where deliveries are POSTed: https, on a public address (unless the "
            "operator allows http or private addresses)",
        ),
    ]
    events: Annotated[
        list[EventType],
        Field(min_length=1, max_length=len(EventType), description="The events to receive"),
    ]
    description: Annotated[str | None, Field(max_length=500)] = None


class WebhookOut(BaseModel):
    """A registered receiver (its secret is shown only once, when it is registered)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    url: str
    events: list[EventType]
    description: str | None
    created_at: dt.datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="The signing secret (`whsec_` + base64), shown only in this answer: keep "
        "it to verify each delivery's `webhook-signature` (Standard Webhooks)"
    )


class AttemptOut(BaseModel):
    """One try of a delivery."""

    model_config = ConfigDict(from_attributes=True)

    attempted_at: dt.datetime
    status_code: int | None = Field(description="The receiver's HTTP status; null when none came")
    error: str | None = Field(description="Why the try failed, when it did")
    duration_ms: float


class DeliveryOut(BaseModel):
    """One event sent (or to be sent) to one receiver, with every try."""

    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="The `webhook-id` header, the same on every try")
    event: EventType
    status: DeliveryStatus
    created_at: dt.datetime
    next_attempt_at: dt.datetime | None = Field(
        description="When the next try is due (pending deliveries)"
    )
    finished_at: dt.datetime | None
    last_status_code: int | None
    last_error: str | None
    attempts: list[AttemptOut]

    @classmethod
    def of(cls, row: object) -> DeliveryOut:
        out = cls.model_validate(row)
        if out.status is not DeliveryStatus.PENDING:
            out.next_attempt_at = None
        return out


# ---------- what a receiver is sent ----------


class JobEventData(BaseModel):
    """`job.succeeded` and `job.failed`: a training job ended."""

    job_id: str
    ticker: str
    status: Literal["succeeded", "failed"]
    model_version: int | None = Field(description="The version it registered (succeeded)")
    message: str | None
    error: str | None = Field(description="Why it failed (failed)")
    finished_at: dt.datetime


class ChampionChangedData(BaseModel):
    """`champion.changed`: the version forecasts serve by default is another one now."""

    ticker: str
    version: int | None = Field(description="The new champion; null when the alias was removed")
    previous_version: int | None = Field(description="The champion before; null when none sat")


class PricesRefreshedData(BaseModel):
    """`prices.refreshed`: bars were fetched from the price source and stored."""

    ticker: str
    source: str
    fetched: int = Field(description="Bars the source returned (the overlap included)")
    added: int = Field(description="Days that were not stored before")
    last: dt.date | None = Field(description="The newest stored bar after the refresh")
    stored_rows: int


DataT = TypeVar("DataT", bound=BaseModel)


class Envelope(BaseModel, Generic[DataT]):
    """The JSON body of every delivery (Standard Webhooks' `type`, `timestamp`, `data`)."""

    type: EventType
    timestamp: dt.datetime = Field(description="When the event happened (the same on retries)")
    data: DataT
