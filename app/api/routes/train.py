"""POST /train."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Body, Depends, Header, Response, status

from app.api import examples
from app.api.auth import Caller
from app.api.deps import BackendDep, SessionDep, SettingsDep
from app.api.docs import WRITE, errors
from app.api.examples import ok
from app.api.ratelimit import limited
from app.jobs import service as jobs
from app.schemas.jobs import JobOut, TrainRequest

router = APIRouter(tags=["training"])


@router.post(
    "/train",
    operation_id="train_start",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    responses={
        **ok({**examples.JOB, "status": "queued", "progress": {}}, 202),
        200: {
            "model": JobOut,
            "description": "The same request is already queued or running, or this "
            "Idempotency-Key made this job before: that job",
        },
        **errors(*WRITE, 404, 429),
    },
)
def start_training(
    body: Annotated[
        TrainRequest,
        Body(
            openapi_examples={
                "ensemble": {"summary": "An LSTM ensemble", "value": examples.TRAIN_REQUEST},
                "quick": {
                    "summary": "A quick single GRU",
                    "value": {"ticker": "^GSPC", "model_type": "gru", "epochs": 3, "ensemble": 1},
                },
                "search": {
                    "summary": "A bounded hyperparameter search, then the best trained",
                    "value": {
                        "ticker": "^GSPC",
                        "ensemble": 1,
                        "search": {"trials": 20, "timeout_s": 900, "trial_epochs": 3},
                    },
                },
                "features": {
                    "summary": "Bar features as extra inputs",
                    "value": {"ticker": "^GSPC", "features": ["range", "volume", "day_of_week"]},
                },
                "transfer": {
                    "summary": "Warm start from another ticker's version",
                    "value": {
                        "ticker": "NVDA",
                        "epochs": 10,
                        "parent_version": {"ticker": "^GSPC", "version": 1},
                    },
                },
            }
        ),
    ],
    session: SessionDep,
    settings: SettingsDep,
    backend: BackendDep,
    response: Response,
    background: BackgroundTasks,
    caller: Annotated[Caller, Depends(limited("train"))],
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=255,
            description="Repeat a request safely: the same key returns the job it made",
        ),
    ] = None,
) -> JobOut:
    """Queue a training job for a ticker (202), or return the identical one (200).

    The job trains in a separate process; poll `GET /jobs/{id}` (the `Location` header) or
    stream `GET /jobs/{id}/events`. A network or a job larger than the service allows
    (TICKERCAST_MAX_TRAINING_PARAMETERS, TICKERCAST_MAX_EPOCH_WINDOWS) is refused with 422.
    """
    # A job over the limits, a missing parent (404), one of another architecture or a search
    # budget the job timeout cannot hold (422) are refused now rather than as a failed job.
    job, created = jobs.queue_training(
        session,
        ticker=body.ticker,
        spec=body,
        settings=settings,
        backend=backend.name,
        idempotency=jobs.Idempotency(caller.id, idempotency_key) if idempotency_key else None,
    )
    response.headers["Location"] = f"/jobs/{job.id}"
    if created:
        # After the response, so the session has committed the job before a worker looks.
        background.add_task(backend.submit, job.id)
    else:
        response.status_code = status.HTTP_200_OK
    return JobOut.model_validate(job)
