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
)

api_router = APIRouter()
for module in (train, jobs, job_events, forecast, models, prices, tickers, health, metrics):
    api_router.include_router(module.router)
