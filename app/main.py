"""The FastAPI application: create_app() wires settings, routes, the job backend and errors."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from app import web
from app.api.router import api_router
from app.core.config import Settings, get_settings
from app.core.errors import TickercastError
from app.forecasting.sessions import PredictorCache
from app.jobs.backends import make_backend
from app.observability import setup as observability

log = logging.getLogger("tickercast")


async def _render_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TickercastError)
    return JSONResponse(status_code=exc.status, content={"detail": exc.message})


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service; tests pass their own settings."""
    settings = settings or get_settings()
    backend = make_backend(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.embedded_dispatcher:
            backend.start()
        try:
            yield
        finally:
            backend.stop()

    app = FastAPI(
        title="tickercast",
        version="0.1.0",
        summary="Train recurrent forecasters per ticker in the background and serve "
        "multi-step forecasts on trading days, each scored against the naive forecast.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.backend = backend
    app.state.predictors = PredictorCache(settings.onnx_cache_size, settings.onnx_threads)
    app.add_exception_handler(TickercastError, _render_error)
    app.include_router(api_router)
    observability.install(app, settings)
    web.install(app)
    return app
