"""`/api/v1/creditor`: the calling key's creditor and its settings."""

from __future__ import annotations

from fastapi import APIRouter

from app.access.deps import CanConfigure, CanView
from app.creditors.schemas import CreditorOut, CreditorPatch
from app.creditors.service import update_creditor
from app.deps import ClockDep, SessionDep

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
