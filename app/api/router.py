"""All routes under one router."""

from fastapi import APIRouter

from app.api.routes import (
    forecast,
    health,
    job_events,
    jobs,
    metrics,
    models,
    prices,
    tickers,
    train,
    webhooks,
)

api_router = APIRouter()
# Matched in this order, one route after another: the most requested first (their paths
# overlap no other router's, so the order changes nothing else).
for module in (
    health,
    forecast,
    train,
    jobs,
    job_events,
    models,
    prices,
    tickers,
    metrics,
    webhooks,
):
    api_router.include_router(module.router)
