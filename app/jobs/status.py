"""The states of a training job: one enum that the table, the API and every backend share."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """Where a training job stands; stored as its value in `training_job.status`."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """Whether the job has ended (it will never run again)."""
        return self in FINISHED


ACTIVE = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})
FINISHED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
