"""Delivery results from Twilio (the send's answer and status callbacks): the message
moves forward, and what an error code says about the number runs its cascade."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.actions.lifecycle import change_number, number_change_for_error
from app.debts.models import Debtor
from app.messaging.models import Message
from app.messaging.service import apply_provider_status


def record_delivery(
    session: Session,
    message: Message,
    status: str,
    *,
    now: datetime,
    error_code: int | None = None,
    error_message: str | None = None,
    actor: str = "twilio",
) -> bool:
    """Apply a provider status to `message` (never backwards); an error code that says
    the number unsubscribed (21610) or cannot receive texts blocks the number, with the
    same cascade as a STOP or a wrong number. Returns whether the message changed."""
    changed = apply_provider_status(
        session,
        message,
        status,
        now=now,
        error_code=error_code,
        error_message=error_message,
        actor=actor,
    )
    change = number_change_for_error(error_code) if changed else None
    if change is not None and message.debtor_id:
        debtor = session.get(Debtor, message.debtor_id)
        if debtor is not None:
            change_number(
                session,
                debtor,
                change,
                now=now,
                actor=actor,
                reason=f"provider error {error_code}",
            )
    return changed
