"""The references `make bench-serve` measures tickercast against, served by the same uvicorn
settings: a bare FastAPI app with one JSON route, and one route that runs an ONNX Runtime
session per request with nothing else (`BENCH_ONNX_FILE` names the graph)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from fastapi import FastAPI

from models.predictor import OnnxPredictor


def create_bare_app() -> FastAPI:
    """`GET /json` and `GET /async-json` answer as /healthz does (a plain `def` route, and an
    `async def` one), `GET /onnx` runs one session on a fixed window."""
    app = FastAPI()
    graph = os.environ.get("BENCH_ONNX_FILE")
    predictor = OnnxPredictor(Path(graph).read_bytes()) if graph else None
    window = np.zeros((1, predictor.lookback or 60, 1), np.float32) if predictor else None

    @app.get("/json")
    def plain() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/async-json")
    async def plain_async() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/onnx")
    def onnx() -> dict[str, list[float]]:
        assert predictor is not None and window is not None
        return {"forecast": predictor.predict(window)[0].tolist()}

    return app
