"""Every API router, in the order they are matched."""

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

# Matched in this order, one route after another: the most requested first (their paths
# overlap no other router's, so the order changes nothing else). The app includes each of them
# itself rather than one router holding them all: FastAPI walks every level of included
# routers on each request, and the extra level cost /healthz about a seventh of its time in
# the process (BENCHMARKS.md, Serving).
ROUTERS: tuple[APIRouter, ...] = tuple(
    module.router
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
    )
)
