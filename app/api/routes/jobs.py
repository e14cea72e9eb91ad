"""GET/DELETE /jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Path, Query

from app.api.auth import ReadCaller, WriteCaller
from app.api.deps import BackendDep, SessionDep
from app.api.docs import READ, errors
from app.api.examples import JOB, ok
from app.core.types import Ticker
from app.jobs import service as jobs
from app.jobs.status import JobStatus
from app.schemas.common import MAX_OFFSET
from app.schemas.jobs import JobOut

router = APIRouter(prefix="/jobs", tags=["jobs"])

JobId = Annotated[str, Path(min_length=1, max_length=64, description="The job's id")]


@router.get(
    "",
    operation_id="jobs_list",
    response_model=list[JobOut],
    responses={**ok([JOB]), **errors(*READ)},
)
def list_jobs(
    session: SessionDep,
    _caller: ReadCaller,
    ticker: Ticker | None = None,
    status: JobStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[JobOut]:
    """List training jobs, newest first, a page at a time."""
    rows = jobs.list_jobs(session, ticker=ticker, status=status, limit=limit, offset=offset)
    return [JobOut.model_validate(job) for job in rows]


@router.get(
    "/{job_id}",
    operation_id="job_get",
    response_model=JobOut,
    responses={**ok(JOB), **errors(*READ, 404)},
)
def get_job(job_id: JobId, session: SessionDep, _caller: ReadCaller) -> JobOut:
    """A training job's status, progress, error and resulting version."""
    return JobOut.model_validate(jobs.get_job(session, job_id=job_id))


@router.delete(
    "/{job_id}",
    operation_id="job_cancel",
    response_model=JobOut,
    responses={**ok({**JOB, "cancel_requested": True}), **errors(*READ, 404, 409)},
)
def cancel_job(
    job_id: JobId,
    session: SessionDep,
    backend: BackendDep,
    background: BackgroundTasks,
    _caller: WriteCaller,
) -> JobOut:
    """Cancel a job: a queued one at once, a running one within seconds."""
    job = jobs.request_cancel(session, job_id=job_id)
    # A background task runs after the commit: the queue hears only of a recorded cancel.
    background.add_task(backend.cancel, job.id)
    return JobOut.model_validate(job)
