"""POST /train."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Response, status

from app.api.deps import BackendDep, SessionDep
from app.jobs import service as jobs
from app.schemas.jobs import JobOut, TrainRequest

router = APIRouter(tags=["training"])


@router.post(
    "/train",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    responses={200: {"description": "The same request is already queued or running"}},
)
def start_training(
    body: TrainRequest,
    session: SessionDep,
    backend: BackendDep,
    response: Response,
    background: BackgroundTasks,
) -> JobOut:
    """Queue a training job for a ticker (202), or return the identical active one (200)."""
    job, created = jobs.create_job(
        session, ticker=body.ticker, config=body.job_config(), backend=backend.name
    )
    response.headers["Location"] = f"/jobs/{job.id}"
    if created:
        # After the response, so the session has committed the job before a worker looks.
        background.add_task(backend.submit, job.id)
    else:
        response.status_code = status.HTTP_200_OK
    return JobOut.model_validate(job)
