"""The FastAPI dependencies every router uses: the request's one transaction, the clock,
the settings, and a signature-checked Twilio form. The authenticated principal and its
role are checked by app.access.deps.Authorize."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Request
from pydantic import SecretStr
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from app.access_log import mask_client, request_client
from app.clock import Clock
from app.config import Settings
from app.db import Database, set_on_queued
from app.edge import storable_twilio_form
from app.errors import Forbidden

logger = logging.getLogger("parley.security")


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


class _SignedForm(dict[str, str]):
    """A form as the twilio library reads one. Given a plain dict it asks for
    `getall`, then `getlist`, each time raising and catching AttributeError, for every
    parameter: about a tenth of the webhook's CPU (bench/webhook_bench.py)."""

    def getall(self, name: str) -> list[str]:
        return [self[name]]


@lru_cache(maxsize=4)
def _validator(token: str) -> RequestValidator:
    return RequestValidator(token)


def twilio_signature_ok(token: SecretStr, url: str, params: dict[str, str], signature: str) -> bool:
    """Whether `signature` is Twilio's over `url` and `params`. One HMAC over the URL as
    configured settles every request Twilio signed for it; only a mismatch is tried
    again the library's way, with and without the default port (two more)."""
    validator = _validator(token.get_secret_value())
    params = _SignedForm(params)
    expected = validator.compute_signature(url, params)
    if hmac.compare_digest(expected.encode(), signature.encode()):
        return True
    return bool(validator.validate(url, params, signature))


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
    if not signature or token is None or not twilio_signature_ok(token, url, params, signature):
        logger.warning(
            "twilio webhook refused: missing or wrong signature",
            extra={"client": mask_client(request_client(request)), "path": request.url.path},
        )
        raise Forbidden("forbidden")
    # Stored with NULs removed rather than refused: Twilio would retry a refusal.
    return storable_twilio_form(params)


TwilioFormDep = Annotated[dict[str, str], Depends(verified_twilio_form)]
