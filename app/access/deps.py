"""The one dependency that authenticates a request and checks its role.

Every `/api/v1` endpoint and every console page declares the permission it needs as
`principal: CanView` (etc.) or `Depends(Authorize(Permission.X, console=True))`;
`tests/test_roles.py` walks the app's routes and fails for one that does not.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.access.principal import Principal
from app.access.roles import Permission
from app.access_log import mask_client, request_client
from app.api_keys import authenticate_api_key, key_prefix
from app.clock import Clock
from app.creditors.models import Creditor
from app.deps import SessionDep
from app.errors import TooManyRequests, Unauthorized
from app.throttle import FailureThrottle
from app.users.models import User

logger = logging.getLogger("parley.security")

# The key under which the console's signed session cookie keeps the signed-in user.
SESSION_USER_KEY = "user_id"

_bearer = HTTPBearer(auto_error=False)


def api_key_principal(
    request: Request, session: Session, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    """The API key of `Authorization: Bearer <key>` (401 when missing, unknown, revoked
    or expired; 429 with Retry-After for an address that keeps presenting wrong keys)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    throttle: FailureThrottle = request.app.state.auth_throttle
    client = request_client(request)
    wait = throttle.retry_after(client)
    if wait is not None:
        logger.warning(
            "api key attempt throttled", extra={"client": mask_client(client), "retry_after": wait}
        )
        raise TooManyRequests("too many failed API key attempts; try again later", wait)
    clock: Clock = request.app.state.clock
    key = authenticate_api_key(session, credentials.credentials, clock.now())
    creditor = session.get(Creditor, key.creditor_id) if key is not None else None
    if key is None or creditor is None:
        throttle.record_failure(client)
        logger.warning(
            "api key refused",
            extra={
                "client": mask_client(client),
                # Three characters say which kind of key it was, never enough to find it.
                "key_hint": key_prefix(credentials.credentials)[:3],
            },
        )
        raise Unauthorized("invalid, expired or revoked API key")
    return Principal.for_api_key(creditor, key)


class LoginRequired(Unauthorized):
    """A console page was asked for without a signed-in user (the console answers with a
    redirect to its login page)."""

    code = "login_required"


def console_principal(request: Request, session: Session) -> Principal:
    """The signed-in console user of this request's session (401 when none, or when the
    user was disabled or removed since)."""
    user_id = request.session.get(SESSION_USER_KEY) if "session" in request.scope else None
    if not isinstance(user_id, str):
        raise LoginRequired("sign in to use the console")
    user = session.get(User, user_id)
    if user is None or user.disabled_at is not None:
        raise LoginRequired("sign in to use the console")
    creditor = session.get(Creditor, user.creditor_id)
    if creditor is None:
        raise LoginRequired("sign in to use the console")
    return Principal.for_user(creditor, user)


class Authorize:
    """Authenticate the caller (a bearer API key, or with `console=True` the console
    session's user) and refuse (403) unless its role holds `permission`."""

    def __init__(self, permission: Permission, *, console: bool = False) -> None:
        self.permission = permission
        self.console = console

    def __call__(
        self,
        request: Request,
        session: SessionDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if self.console:
            principal = console_principal(request, session)
        else:
            principal = api_key_principal(request, session, credentials)
        principal.require(self.permission)
        return principal

    def __repr__(self) -> str:
        return f"Authorize({self.permission.value!r}, console={self.console})"


CanView = Annotated[Principal, Depends(Authorize(Permission.VIEW))]
CanViewAmounts = Annotated[Principal, Depends(Authorize(Permission.VIEW_AMOUNTS))]
CanExport = Annotated[Principal, Depends(Authorize(Permission.EXPORT))]
CanWork = Annotated[Principal, Depends(Authorize(Permission.WORK))]
CanManageDebts = Annotated[Principal, Depends(Authorize(Permission.MANAGE_DEBTS))]
CanConfigure = Annotated[Principal, Depends(Authorize(Permission.CONFIGURE))]
