"""Log records carry the request id; TICKERCAST_LOG_FORMAT=json writes one JSON object a line.

Records go to stdout, where a container's log collector expects them; notices that are no
records (the CLI's) and native libraries' output (TensorFlow's) go to stderr."""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import logging.config
from typing import Any

from app.core.config import Settings

# The id of the request being served in this context ("-" outside requests).
REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
# Attributes a record may carry through `extra=` that the JSON lines keep.
EXTRA_FIELDS = ("method", "path", "route", "status", "duration_ms", "client", "job_id")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class RequestIdFilter(logging.Filter):
    """Stamps every record with the current request id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request id and extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", REQUEST_ID.get()),
        }
        for name in EXTRA_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def log_config(settings: Settings) -> dict[str, Any]:
    """A logging.config.dictConfig for uvicorn and our loggers (uvicorn.run(log_config=...))."""
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"}
        if settings.log_format == "json"
        else {"format": TEXT_FORMAT}
    )
    level = settings.log_level.upper()
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "default",
        "filters": ["request_id"],
        "stream": "ext://sys.stdout",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": f"{__name__}.RequestIdFilter"}},
        "formatters": {"default": formatter},
        "handlers": {"default": handler},
        "loggers": {
            "tickercast": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            # One line per request comes from RequestMiddleware, with its id: no access log.
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def configure(settings: Settings) -> None:
    """Logging for a process uvicorn does not run (the worker, the scheduler): every logger,
    RQ's among them (it adds no handler of its own where the root has one), through one
    handler in TICKERCAST_LOG_FORMAT."""
    config = log_config(settings)
    config["root"] = {"handlers": ["default"], "level": settings.log_level.upper()}
    logging.config.dictConfig(config)
