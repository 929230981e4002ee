"""The FastAPI dependencies every router uses: the request's one transaction, the clock,
the settings, the authenticated principal (API keys throttled per client address), and
a signature-checked Twilio form."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from app.access_log import mask_client, request_client
from app.api_keys import authenticate_api_key, key_prefix
from app.clock import Clock
from app.config import Settings
from app.creditors.models import Creditor
from app.db import Database, set_on_queued
from app.edge import storable_twilio_form
from app.errors import Forbidden, TooManyRequests, Unauthorized
from app.security import Principal
from app.throttle import FailureThrottle

logger = logging.getLogger("parley.security")

_bearer = HTTPBearer(auto_error=False)


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request, committed when the endpoint returns, before the
    response is sent (scope="function"), and rolled back when it raises."""
    database: Database = request.app.state.db
    with database.transaction() as session:
        wakeup = getattr(request.app.state, "worker_wakeup", None)
        if wakeup is not None:
            # Texts queued by this request are sent at once, after the commit.
            set_on_queued(session, wakeup.set)
        yield session


def get_clock(request: Request) -> Clock:
    """The app's clock (a FixedClock in tests)."""
    clock: Clock = request.app.state.clock
    return clock


def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ClockDep = Annotated[Clock, Depends(get_clock)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def get_principal(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Authenticate `Authorization: Bearer <key>` (401 when missing, unknown, revoked or
    expired; 429 with Retry-After for an address that keeps presenting wrong keys)."""
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
    return Principal(creditor=creditor, api_key=key)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def verified_twilio_form(request: Request) -> dict[str, str]:
    """The form of a Twilio webhook whose X-Twilio-Signature checks out against
    PARLEY_PUBLIC_URL + path (so it works behind a TLS-terminating proxy).

    Refuses (403, no details) when the signature is missing or wrong, and when no auth
    token is configured, since then nothing can be verified.
    """
    settings: Settings = request.app.state.settings
    signature = request.headers.get("X-Twilio-Signature")
    token = settings.twilio_auth_token
    form = await request.form()
    params = {key: str(value) for key, value in form.multi_items()}
    url = settings.public_base + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    if (
        not signature
        or token is None
        or not RequestValidator(token.get_secret_value()).validate(url, params, signature)
    ):
        logger.warning(
            "twilio webhook refused: missing or wrong signature",
            extra={"client": mask_client(request_client(request)), "path": request.url.path},
        )
        raise Forbidden("forbidden")
    # Stored with NULs removed rather than refused: Twilio would retry a refusal.
    return storable_twilio_form(params)


TwilioFormDep = Annotated[dict[str, str], Depends(verified_twilio_form)]
