"""The FastAPI application: create_app() wires settings, routes, the job backend and errors."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from app import web
from app.api.body_limit import BodyLimit
from app.api.cached_forecasts import CachedForecasts
from app.api.concurrency import Turns
from app.api.errors import install_error_handlers
from app.api.ratelimit import RateLimiter
from app.api.router import ROUTERS
from app.api.routes import webhooks as webhook_routes
from app.core.config import Settings, get_settings
from app.forecasting.cache import ForecastCache
from app.forecasting.predictors import PredictorCache
from app.jobs.backends import make_backend
from app.jobs.events import JobWatch
from app.observability import setup as observability
from app.prices.calendars import get_calendar
from app.webhooks.sender import WebhookSender

log = logging.getLogger("tickercast")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service; tests pass their own settings."""
    settings = settings or get_settings()
    backend = make_backend(settings)
    # Webhook deliveries go out beside the job supervisor: one loop per host (a lock file,
    # as for the dispatcher), in its own threads, never in a request.
    webhook_sender = WebhookSender(settings, host_lock=settings.data_dir / "webhook-sender.lock")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Build the default exchange calendar before taking requests: its first construction
        # holds the GIL for up to a second, which would stall every request of the first import
        # or forecast.
        await run_in_threadpool(get_calendar, settings.default_calendar)
        if settings.job_supervisor:
            backend.start()
            webhook_sender.start()
        try:
            yield
        finally:
            webhook_sender.stop()
            backend.stop()

    app = FastAPI(
        title="tickercast",
        version="0.1.0",
        summary="Train recurrent forecasters per ticker in the background and serve "
        "multi-step forecasts on trading days, each scored against the naive and drift "
        "baselines.",
        description="Every error answer has one shape (`ErrorOut`). Writes need an API key "
        "(`Authorization: Bearer KEY` or `X-API-Key: KEY`) when the service has keys; reads "
        "too when it protects them.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database_url = settings.resolved_database_url()
    app.state.backend = backend
    app.state.webhook_sender = webhook_sender
    app.state.predictors = PredictorCache(settings.onnx_cache_size, settings.onnx_threads)
    app.state.forecasts = ForecastCache(settings.forecast_cache_size)
    app.state.rate_limiter = RateLimiter(settings)
    # One poller of the followed jobs per process, for every event stream (app/jobs/events.py).
    app.state.job_watch = JobWatch(
        settings.resolved_database_url(), poll_seconds=settings.events_poll_seconds
    )
    app.state.import_turns = Turns(
        "CSV imports",
        size=settings.max_concurrent_imports,
        wait=settings.import_queue_seconds,
        setting="TICKERCAST_MAX_CONCURRENT_IMPORTS",
    )
    # Added first, so innermost: timed, logged and given its request id like any route.
    app.add_middleware(CachedForecasts, state=app.state)
    app.add_middleware(
        BodyLimit,
        limit=settings.max_body_bytes,
        upload_limit=settings.max_upload_bytes,
        read_timeout=settings.body_read_timeout_seconds,
    )
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    # What receivers are sent, under the schema's `webhooks` (typed in generated clients).
    app.webhooks.include_router(webhook_routes.events)
    observability.install(app, settings)
    web.install(app)
    return app
