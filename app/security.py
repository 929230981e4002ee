"""API keys (generation, hashing, look-up), the request's session, clock and settings
dependencies, and the Twilio signature check. Who a request is and what it may do is
app.access."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from app.clock import Clock
from app.config import Settings
from app.creditors.models import ApiKey, Creditor
from app.db import Database, set_on_queued
from app.errors import Forbidden

KEY_PREFIX = "pk_"


def generate_api_key() -> str:
    """A new secret key: 256 bits, URL-safe, recognisable by its prefix."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """Keys are high-entropy, so one SHA-256 is enough to make a leaked table useless."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(
    session: Session,
    creditor: Creditor,
    clock: Clock,
    *,
    name: str = "default",
    role: str = "admin",
    key: str | None = None,
) -> tuple[ApiKey, str]:
    """Store a key for `creditor` and return it with its one-time plain text."""
    plain = key or generate_api_key()
    row = ApiKey(
        creditor_id=creditor.id,
        name=name,
        role=role,
        key_hash=hash_api_key(plain),
        key_prefix=plain[:10],
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    return row, plain


def find_api_key(session: Session, plain: str) -> ApiKey | None:
    """The stored key matching `plain`, compared by digest."""
    digest = hash_api_key(plain)
    row = session.scalars(select(ApiKey).where(ApiKey.key_hash == digest)).first()
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        return None
    return row


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
    if not signature or token is None:
        raise Forbidden("forbidden")
    url = settings.public_base + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    if not RequestValidator(token.get_secret_value()).validate(url, params, signature):
        raise Forbidden("forbidden")
    return params


TwilioFormDep = Annotated[dict[str, str], Depends(verified_twilio_form)]
