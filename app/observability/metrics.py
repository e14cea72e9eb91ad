"""Prometheus metrics: per-process ones recorded where things happen, job ones read from SQL.

Two kinds, because the service runs as several processes on several machines:

- Request latency, forecast cache lookups and price-source errors are recorded by the
  process they happen in. Under `tickercast serve` every process on the host (each API
  worker, each training process the local dispatcher spawns) writes them to files in the
  multiprocess directory, and a scrape of any worker adds all the files up.
- Training-job durations, outcomes and queue depth are read from the `training_job` table at
  scrape time (`JobTableCollector`): it is the source of truth, it sees jobs that RQ workers
  ran on other machines, and every API worker answers the same figures.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from app.db.engine import session_scope
from app.jobs import stats
from app.jobs.status import ACTIVE, FINISHED, JobStatus
from app.observability.multiprocess import active_dir, preallocate_files

log = logging.getLogger("tickercast.metrics")
# Before the first metric is made: a full disk must never kill this process (SIGBUS).
preallocate_files()

REQUEST_LATENCY = Histogram(
    "tickercast_http_request_duration_seconds",
    "HTTP request latency, from the first byte received to the last byte sent, by route "
    "template (for example /forecast/{ticker}); unknown paths are counted as 'unmatched'.",
    ["method", "route", "status"],
)
FORECAST_CACHE = Counter(
    "tickercast_forecast_cache_requests_total",
    "Lookups of the forecast answer cache (app/forecasting/cache.py), one per ticker asked: "
    "hit (served the cached bytes, still current) or miss (computed).",
    ["result"],
)
PRICE_SOURCE_ERRORS = Counter(
    "tickercast_price_source_errors_total",
    "Failures of the remote price source when a job refreshes its bars, by source and kind "
    "(the error class: PriceSourceUnavailable, RateLimited, NoPriceData, PriceSourceError).",
    ["source", "kind"],
)

# Training jobs take seconds (a tiny model) to an hour (TICKERCAST_JOB_TIMEOUT_SECONDS).
JOB_DURATION_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)


class JobTableCollector(Collector):
    """Job metrics computed by the database at scrape time, the same from every process."""

    def __init__(self, database_url: str, *, backend: str) -> None:
        self.url = database_url
        # This service's queue backend: its depth is reported even at 0.
        self.backend = backend

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "tickercast_job_table_up",
            "1 when the training_job table could be read for this scrape, else 0.",
        )
        try:
            with session_scope(self.url) as session:
                active = stats.count_by_state(session, statuses=ACTIVE)
                finished = stats.count_by_state(session, statuses=FINISHED)
                durations = stats.duration_histogram(
                    session, statuses=FINISHED, buckets=JOB_DURATION_BUCKETS
                )
        except Exception:  # a scrape must still answer, saying the table was unreadable
            log.exception("could not read the training_job table for /metrics")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up

        depth = GaugeMetricFamily(
            "tickercast_training_queue_depth",
            "Training jobs waiting to start, by queue backend (local or rq).",
            labels=["backend"],
        )
        by_backend: dict[str, int] = {self.backend: 0}
        for row in active:
            if row.status == JobStatus.QUEUED:
                by_backend[row.backend] = by_backend.get(row.backend, 0) + row.count
        for backend, count in sorted(by_backend.items()):
            depth.add_metric([backend], count)
        yield depth

        current = GaugeMetricFamily(
            "tickercast_training_jobs",
            "Queued and running training jobs, by status, model type and backend.",
            labels=["status", "model_type", "backend"],
        )
        for row in active:
            current.add_metric([row.status, row.model_type, row.backend], row.count)
        yield current

        outcomes = CounterMetricFamily(
            "tickercast_training_jobs_finished",
            "Finished training jobs, by outcome (succeeded, failed, cancelled) and model type.",
            labels=["status", "model_type"],
        )
        totals: dict[tuple[str, str], int] = {}
        for row in finished:
            key = (row.status, row.model_type)
            totals[key] = totals.get(key, 0) + row.count
        for (status, model_type), count in sorted(totals.items()):
            outcomes.add_metric([status, model_type], count)
        yield outcomes

        hist = HistogramMetricFamily(
            "tickercast_training_job_duration_seconds",
            "Wall time of finished training jobs from start to end, by outcome and model type "
            "(jobs cancelled before they started are not in it).",
            labels=["status", "model_type"],
        )
        for h in durations:
            cumulative = [(_le(b), float(c)) for b, c in zip(h.buckets, h.counts, strict=True)]
            hist.add_metric(
                [h.status, h.model_type], [*cumulative, ("+Inf", float(h.count))], h.total
            )
        yield hist


def _le(bound: float) -> str:
    return f"{bound:g}"


class _Forward(Collector):
    """Everything a registry holds, re-collected into the scrape's own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        return self.registry.collect()


def render(database_url: str, *, backend: str) -> tuple[bytes, str]:
    """The Prometheus text of this host's processes and of the job table."""
    registry = CollectorRegistry()
    directory = active_dir()
    if directory is not None:
        multiprocess.MultiProcessCollector(registry, path=directory)
    else:
        # One process (tests, `uvicorn app.main:create_app` by hand): its own values.
        registry.register(_Forward(REGISTRY))
    registry.register(JobTableCollector(database_url, backend=backend))
    return generate_latest(registry), CONTENT_TYPE_LATEST
