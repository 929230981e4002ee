"""`/api/v1/creditor`: the calling key's creditor and its settings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path

from app.access.deps import CanConfigure, CanView
from app.api_keys import get_api_key, is_usable, list_api_keys, revoke_api_key
from app.creditors.models import ApiKey
from app.creditors.schemas import ApiKeyList, ApiKeyOut, CreditorOut, CreditorPatch
from app.creditors.service import update_creditor
from app.deps import ClockDep, SessionDep
from app.events import record_event

router = APIRouter(prefix="/api/v1/creditor", tags=["creditor"])


@router.get("")
def read_creditor(principal: CanView) -> CreditorOut:
    """The creditor this API key belongs to, with its settings."""
    return CreditorOut.model_validate(principal.creditor)


@router.patch("")
def patch_creditor(
    body: CreditorPatch, principal: CanConfigure, session: SessionDep, clock: ClockDep
) -> CreditorOut:
    """Change settings (admin keys only); every change lands in the event log."""
    creditor = update_creditor(session, principal.creditor, body, clock, principal.actor)
    return CreditorOut.model_validate(creditor)


def api_key_out(key: ApiKey, now: datetime) -> ApiKeyOut:
    """The API view of a key (its prefix, never its text or digest)."""
    return ApiKeyOut(
        id=key.id,
        name=key.name,
        role=key.role,
        prefix=key.key_prefix,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
        active=is_usable(key, now),
    )


@router.get("/api-keys")
def read_api_keys(principal: CanConfigure, session: SessionDep, clock: ClockDep) -> ApiKeyList:
    """This creditor's API keys, oldest first, with their last use (admin keys only)."""
    now = clock.now()
    keys = list_api_keys(session, principal.creditor.id)
    return ApiKeyList(items=[api_key_out(key, now) for key in keys])


@router.delete("/api-keys/{key_id}")
def delete_api_key(
    key_id: Annotated[str, Path(max_length=36)],
    principal: CanConfigure,
    session: SessionDep,
    clock: ClockDep,
) -> ApiKeyOut:
    """Revoke one of this creditor's keys (admin keys only): it stops working at once.
    Revoking a revoked key changes nothing."""
    key = get_api_key(session, principal.creditor.id, key_id)
    now = clock.now()
    if revoke_api_key(key, now):
        record_event(
            session,
            creditor_id=principal.creditor.id,
            actor=principal.actor,
            kind="api_key.revoked",
            now=now,
            to_value=key.key_prefix,
        )
    session.flush()
    return api_key_out(key, now)
