"""GET /metrics: Prometheus text format."""

from __future__ import annotations

from fastapi import APIRouter, Response

from app.api.deps import SettingsDep
from app.api.docs import errors
from app.observability import metrics

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    operation_id="metrics_get",
    response_class=Response,
    responses={
        200: {
            "content": {
                "text/plain": {
                    "schema": {"type": "string"},
                    "example": "# TYPE tickercast_training_queue_depth gauge\n"
                    'tickercast_training_queue_depth{backend="local"} 0.0\n',
                }
            }
        },
        **errors(503),
    },
)
def get_metrics(settings: SettingsDep) -> Response:
    """Prometheus metrics of every process of this service on this host, and of the job table.

    Request latency per route, forecast cache hits and misses and price-source errors are
    added up over the API workers and training processes of this host (prometheus_client's
    multiprocess mode under `tickercast serve`); training job counts, durations, outcomes and
    queue depth are read from the `training_job` table at scrape time, so they include jobs
    that RQ workers ran on other machines and every API worker answers the same.
    """
    body, content_type = metrics.render(settings.resolved_database_url(), backend=settings.queue)
    return Response(body, media_type=content_type)
