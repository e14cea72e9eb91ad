"""Health schemas."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: str
    revision: str | None
    head: str | None
    queue: str | None = Field(
        None, description="Redis with TICKERCAST_QUEUE=rq: ok, or why not; null for local jobs"
    )
    disk: str = Field(
        "ok", description="ok, or why writes fail: the data directory's disk is (nearly) full"
    )
