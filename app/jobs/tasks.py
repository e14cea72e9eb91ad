"""Tasks that queue workers run by dotted path, in a work-horse forked for each job."""

from __future__ import annotations

from app.core.config import get_settings
from app.jobs.runner import run_job


def run_training_job(job_id: str) -> str:
    """Run one training job by id if it is still queued; returns its final status."""
    return run_job(job_id, get_settings(), only_queued=True)
