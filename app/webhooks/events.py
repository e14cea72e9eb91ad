"""The events a receiver can ask for, and where a delivery stands: one enum each."""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    """What happened; the `type` of a delivery's body."""

    JOB_SUCCEEDED = "job.succeeded"
    JOB_FAILED = "job.failed"
    CHAMPION_CHANGED = "champion.changed"
    PRICES_REFRESHED = "prices.refreshed"


class DeliveryStatus(StrEnum):
    """Stored as its value in `webhook_delivery.status`."""

    # Written with its event; sent (and retried) by the delivery loop.
    PENDING = "pending"
    # A try was answered 2xx.
    SUCCEEDED = "succeeded"
    # Every try failed until TICKERCAST_WEBHOOK_RETRY_SECONDS after the event: given up.
    FAILED = "failed"
