"""API keys: who may call what. `Authorization: Bearer KEY` or `X-API-Key: KEY`.

Writes need a write key, alias moves and deletes an admin key, reads a read key only when
TICKERCAST_PROTECT_READS is on. With no key configured the service takes none, and it then
listens on 127.0.0.1 alone (app/cli.py).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.core.config import Scope, Settings
from app.core.errors import Forbidden, Unauthorized

_bearer = HTTPBearer(auto_error=False, description="An API key as a bearer token")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key")
CHALLENGE = 'Bearer realm="tickercast"'


@dataclass(frozen=True)
class Caller:
    """Who is calling: a key's fingerprint (never the key) and its scope, or the client's
    address when the service takes no keys."""

    id: str
    scope: Scope


def fingerprint(secret: str) -> str:
    """A short, stable, non-reversible name for a key, for rate limits and logs."""
    return "key:" + hashlib.sha256(secret.encode()).hexdigest()[:12]


def identify(settings: Settings, presented: str | None, client: str) -> Caller | None:
    """The caller a key belongs to; None for a key that matches none.

    Every configured key is compared, in constant time, whatever matched before.
    """
    if not settings.api_keys:
        return Caller(id=f"ip:{client}", scope=Scope.ADMIN)
    if presented is None:
        return None
    found: Caller | None = None
    for key in settings.api_keys:
        secret = key.secret.get_secret_value()
        if hmac.compare_digest(secret.encode(), presented.encode()):
            found = Caller(id=fingerprint(secret), scope=key.scope)
    return found


def require(scope: Scope) -> Callable[..., Awaitable[Caller]]:
    """A dependency that lets a request through only with a key of at least `scope`."""

    # `async def`: it only compares strings, and a `def` dependency costs every request a
    # hop to a worker thread and back.
    async def check(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        header: Annotated[str | None, Depends(_header)],
    ) -> Caller:
        settings: Settings = request.app.state.settings
        client = request.client.host if request.client else "unknown"
        presented = bearer.credentials if bearer is not None else header
        if not settings.api_keys or (scope is Scope.READ and not settings.protect_reads):
            return identify(settings, presented, client) or Caller(f"ip:{client}", Scope.READ)
        if presented is None:
            raise Unauthorized(
                f"This needs an API key with the {scope.name.lower()} scope: send "
                "`Authorization: Bearer KEY` or `X-API-Key: KEY`.",
                headers={"WWW-Authenticate": CHALLENGE},
            )
        caller = identify(settings, presented, client)
        if caller is None:
            raise Forbidden(
                "The API key is not valid.",
                headers={"WWW-Authenticate": f'{CHALLENGE}, error="invalid_token"'},
            )
        if caller.scope < scope:
            raise Forbidden(
                f"The API key's scope is {caller.scope.name.lower()}; this needs "
                f"{scope.name.lower()}.",
                headers={"WWW-Authenticate": f'{CHALLENGE}, error="insufficient_scope"'},
            )
        return caller

    check.__name__ = f"require_{scope.name.lower()}"
    return check


ReadCaller = Annotated[Caller, Depends(require(Scope.READ))]
WriteCaller = Annotated[Caller, Depends(require(Scope.WRITE))]
AdminCaller = Annotated[Caller, Depends(require(Scope.ADMIN))]
