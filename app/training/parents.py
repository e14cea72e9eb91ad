"""Warm starts: the parent version a new one begins from, checked before anything trains."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.core.errors import InvalidInput, ModelNotFound
from app.db.tables import ModelVersion
from app.registry import versions
from app.training.spec import TrainingSpec
from models.config import TrainingConfig, architecture_differences


def check_parent(session: Session, *, spec: TrainingSpec) -> ModelVersion | None:
    """The version spec.parent_version names, or None without one.

    Raises ModelNotFound (404) when it is not registered and InvalidInput (422) naming every
    architecture or input field on which it differs from the request.
    """
    ref = spec.parent_version
    if ref is None:
        return None
    try:
        row = versions.get_version(session, ticker=ref.ticker, version=ref.version)
    except ModelNotFound as exc:
        raise ModelNotFound(f"parent_version: {exc.message}") from exc
    differs = architecture_differences(TrainingConfig.from_stored(row.config), spec.config)
    if differs:
        raise InvalidInput(
            f"parent_version {ref.ticker} version {ref.version} has another architecture or "
            f"inputs than this request: {'; '.join(differs)}. A warm start needs the same "
            "values: ask for the parent's, or choose another parent."
        )
    return row
