"""GET /jobs/{id}/events: a job's progress as server-sent events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from app.api.auth import ReadCaller
from app.api.deps import SettingsDep
from app.api.docs import READ, errors
from app.api.routes.jobs import JobId
from app.jobs import events

router = APIRouter(prefix="/jobs", tags=["jobs"])

# Milliseconds a browser's EventSource waits before reconnecting after a dropped stream.
RECONNECT_MS = 2000
# Seconds a stream may take to say goodbye when the server shuts down.
SHUTDOWN_GRACE = 2.0

EXAMPLE = (
    "event: status\nid: 1\nretry: 2000\n"
    'data: {"id": "6f1c...", "ticker": "^GSPC", "status": "running", "message": null, '
    '"error": null, "attempts": 1, "worker": "host:4242"}\n\n'
    'event: progress\nid: 2\ndata: {"stage": "training", "epoch": 1, "epochs": 3, '
    '"loss": 0.91, "val_loss": 0.88}\n\n'
    ": ping - 2026-01-02 10:00:15.000000+00:00\n\n"
    'event: version\nid: 5\ndata: {"ticker": "^GSPC", "version": 2, "promoted": false, '
    '"decision": "not promoted: backtest skill against naive -0.0030 is not positive", '
    '"skill_vs_naive": -0.003, "skill_vs_drift": 0.01, "coverage_80": 0.79}\n\n'
    'event: end\nid: 6\ndata: {"status": "succeeded", "model_version": 2, '
    '"message": "...", "error": null}\n\n'
)


def _fields(*names: str, nullable: tuple[str, ...] = ()) -> dict[str, object]:
    return {
        "type": "object",
        "properties": {n: {} for n in names},
        "required": [n for n in names if n not in nullable],
    }


# One event of the stream, as OpenAPI 3.2 describes a text/event-stream (the form FastAPI's
# own SSE routes take): the wire fields, and the JSON object that `data` carries for each
# kind of event (the names of app/jobs/events.py).
EVENT_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "description": "Counts the events of this stream: 1, 2, ..."},
        "event": {
            "type": "string",
            "enum": [events.STATUS, events.PROGRESS, events.VERSION, events.END],
        },
        "data": {
            "type": "string",
            "description": "One JSON object; its fields depend on `event`",
            "contentMediaType": "application/json",
            "contentSchema": {
                "oneOf": [
                    {
                        "title": events.STATUS,
                        **_fields(
                            "id", "ticker", "status", "message", "error", "attempts", "worker"
                        ),
                    },
                    {
                        "title": events.PROGRESS,
                        "type": "object",
                        "description": "stage, epoch, epochs, loss, val_loss (member, members, "
                        "trial, trials while they apply)",
                    },
                    {
                        "title": events.VERSION,
                        **_fields(
                            "ticker",
                            "version",
                            "promoted",
                            "decision",
                            "skill_vs_naive",
                            "skill_vs_drift",
                            "coverage_80",
                            nullable=(
                                "promoted",
                                "decision",
                                "skill_vs_naive",
                                "skill_vs_drift",
                                "coverage_80",
                            ),
                        ),
                    },
                    {
                        "title": events.END,
                        **_fields("status", "model_version", "message", "error"),
                    },
                ]
            },
        },
        "retry": {
            "type": "integer",
            "minimum": 0,
            "description": "Milliseconds before a browser reconnects (first event only)",
        },
    },
    "required": ["id", "event", "data"],
}

DESCRIPTION = f"""
Server-sent events (`text/event-stream`) for one training job, so that nobody has to poll
`GET /jobs/{{id}}`. The stream starts with the job's current state and then sends an event
only when something changed, until the job ends:

- `status`: `{{id, ticker, status, message, error, attempts, worker}}` (queued, running, a
  re-queue after a dead worker, the final status);
- `progress`: the job's progress as training processes record it: `stage`, `epoch`,
  `epochs`, `loss`, `val_loss` (and `member`, `members` for ensembles);
- `version`: the version registered and the champion gate's decision: `{{ticker, version,
  promoted, decision, skill_vs_naive, skill_vs_drift, coverage_80}}`;
- `end`: `{{status, model_version, message, error}}`; the last event, then the stream closes.

Every `data` is one JSON object; `id` counts the events of the stream. A comment line
(`: ping`) is sent every `TICKERCAST_EVENTS_KEEPALIVE_SECONDS` (15 s) so that proxies keep
the connection. Progress is read from the database every `TICKERCAST_EVENTS_POLL_SECONDS`
(0.5 s), so any API worker can serve any job, wherever it trains (local processes or RQ
workers on other machines). A stream that is cut (a restart) can simply be opened again: it
starts over from the job's current state; browsers' `EventSource` reconnects after
{RECONNECT_MS // 1000} s by itself. An unknown job is a 404 before the stream starts.

```
{EXAMPLE}```
"""


@router.get(
    "/{job_id}/events",
    response_class=EventSourceResponse,
    description=DESCRIPTION,
    responses={
        200: {
            "description": "The job's events until it ends",
            # `schema`: the body as a whole (text); `itemSchema`: each event in it.
            "content": {
                "text/event-stream": {
                    "schema": {"type": "string"},
                    "itemSchema": EVENT_SCHEMA,
                    "example": EXAMPLE,
                }
            },
        },
        **errors(*READ, 404),
    },
    operation_id="job_events",
)
async def job_events(
    job_id: JobId, request: Request, settings: SettingsDep, _caller: ReadCaller
) -> EventSourceResponse:
    """Stream a training job's progress as server-sent events until it ends."""
    # Set by sse-starlette when uvicorn starts shutting down: the stream ends at once.
    shutdown = anyio.Event()
    # Read once before answering, so that an unknown job is a plain 404, not an empty stream;
    # then the process's one poller reads it with every other followed job.
    changes = await events.watch(request.app.state.job_watch, job_id, stop=shutdown)

    async def stream() -> AsyncIterator[ServerSentEvent]:
        sequence = 0
        async for name, data in changes:
            sequence += 1
            yield ServerSentEvent(
                data=json.dumps(data),
                event=name,
                id=str(sequence),
                retry=RECONNECT_MS if sequence == 1 else None,
            )

    return EventSourceResponse(
        stream(),
        ping=settings.events_keepalive_seconds,
        shutdown_event=shutdown,
        shutdown_grace_period=SHUTDOWN_GRACE,
    )
