"""GET/DELETE /jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query

from app.api.deps import BackendDep, SessionDep
from app.jobs import service as jobs
from app.jobs.status import JobStatus
from app.schemas.common import Ticker
from app.schemas.jobs import JobOut

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get("", response_model=list[JobOut])
def list_jobs(
    session: SessionDep,
    ticker: Ticker | None = None,
    status: JobStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[JobOut]:
    """List training jobs, newest first."""
    rows = jobs.list_jobs(session, ticker=ticker, status=status, limit=limit, offset=offset)
    return [JobOut.model_validate(job) for job in rows]


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: str, session: SessionDep) -> JobOut:
    """A training job's status, progress, error and resulting version."""
    return JobOut.model_validate(jobs.get_job(session, job_id=job_id))


@router.delete("/{job_id}", response_model=JobOut)
def cancel_job(
    job_id: str, session: SessionDep, backend: BackendDep, background: BackgroundTasks
) -> JobOut:
    """Cancel a job: a queued one at once, a running one within one epoch."""
    job = jobs.request_cancel(session, job_id=job_id)
    # A background task runs after the commit: the queue hears only of a recorded cancel.
    background.add_task(backend.cancel, job.id)
    return JobOut.model_validate(job)
