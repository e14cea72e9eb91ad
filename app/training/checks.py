"""What POST /train checks beyond the request's own validation, before a job is queued: its
cost against the service's limits, the parent a warm start begins from, and a search budget
the job's timeout leaves room for."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import InvalidInput, ModelNotFound
from app.db.tables import ModelVersion
from app.registry import versions
from app.training import cost
from app.training.spec import TrainingSpec
from models.config import TrainingConfig, architecture_differences


def check_parent(session: Session, *, spec: TrainingSpec) -> ModelVersion | None:
    """The version spec.parent_version names, or None without one.

    Raises ModelNotFound (404) when it is not registered, Gone (410) when retention pruned
    its weights, and InvalidInput (422) naming every
    architecture or input field on which it differs from the request.
    """
    ref = spec.parent_version
    if ref is None:
        return None
    try:
        row = versions.get_version(session, ticker=ref.ticker, version=ref.version)
    except ModelNotFound as exc:
        raise ModelNotFound(f"parent_version: {exc.message}") from exc
    versions.require_unpruned(row, use="a warm start from it")
    differs = architecture_differences(TrainingConfig.from_stored(row.config), spec.config)
    if differs:
        raise InvalidInput(
            f"parent_version {ref.ticker} version {ref.version} has another architecture or "
            f"inputs than this request: {'; '.join(differs)}. A warm start needs the same "
            "values: ask for the parent's, or choose another parent."
        )
    return row


def check_search_budget(*, spec: TrainingSpec, settings: Settings) -> None:
    """Refuse a search whose budget alone reaches the job timeout (the job would be killed
    before the chosen configuration is trained)."""
    if spec.search is None:
        return
    limit = settings.job_timeout_seconds
    if spec.search.timeout_s >= limit:
        raise InvalidInput(
            f"search.timeout_s ({spec.search.timeout_s:g}) must be below the job timeout "
            f"({limit} s, TICKERCAST_JOB_TIMEOUT_SECONDS), which must also cover training the "
            "chosen configuration; lower timeout_s."
        )


def check_request(session: Session, *, ticker: str, spec: TrainingSpec, settings: Settings) -> None:
    """Every check of a training request that needs the registry, the stored bars or the
    settings: its cost, its search budget and its parent."""
    cost.check_request(
        session,
        ticker=ticker,
        config=spec.config,
        start=spec.start,
        end=spec.end,
        settings=settings,
    )
    check_search_budget(spec=spec, settings=settings)
    check_parent(session, spec=spec)
