"""The page the service shows at `/`: one HTML file, its script and style, and vendored uPlot.

Everything the page loads is served from `app/web/static/` by the service itself, so it works
with no internet; `static/vendor/uplot/SOURCE.md` says where the vendored files came from.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent / "static"

router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> FileResponse:
    """The dashboard page."""
    # no-cache: the page is small, and a stale one would call routes that moved.
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


def install(app: FastAPI) -> None:
    """Serve the page at / and its files under /static."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
