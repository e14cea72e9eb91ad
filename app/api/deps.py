"""Request dependencies: settings, a session that commits once per request, shared services."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.db.engine import session_scope
from app.jobs.backends import JobBackend


# The plain getters are `async def`: a `def` dependency costs a worker-thread hop per request.
async def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    return request.app.state.settings  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def get_session(settings: SettingsDep) -> Iterator[Session]:
    """One session per request: commit on success, roll back on any error."""
    with session_scope(settings.resolved_database_url()) as session:
        yield session


# scope="function": commit when the handler returns, before the response is sent and before
# background tasks run. The default (request) scope commits only after both, so a client could
# read 404 for the job it was just given, and a worker be handed a job id not yet committed.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def get_backend(request: Request) -> JobBackend:
    """The job backend started with the app."""
    return request.app.state.backend  # type: ignore[no-any-return]


BackendDep = Annotated[JobBackend, Depends(get_backend)]
