"""A suppression set on a debtor, and what it stops: every text waiting for them
(answers too, unless the reason allows answers)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.consent.models import REPLIES_ALLOWED, Suppression
from app.consent.service import new_suppression
from app.creditors.models import Creditor
from app.debts.models import Debtor
from app.messaging.service import cancel_pending_messages


def suppress_debtor(
    session: Session,
    creditor: Creditor,
    debtor: Debtor,
    *,
    reason: str,
    evidence_note: str,
    ends_at: datetime | None,
    now: datetime,
    actor: str,
) -> Suppression:
    """Suppress a debtor: nothing more is initiated, pending texts are cancelled, and
    replies go out only where the reason allows them (the governor holds the rest)."""
    suppression = new_suppression(
        session,
        creditor,
        debtor,
        reason=reason,
        evidence_note=evidence_note,
        ends_at=ends_at,
        now=now,
        actor=actor,
    )
    cancel_pending_messages(
        session,
        now=now,
        actor=actor,
        reason=f"debtor suppressed: {reason}",
        debtor_id=debtor.id,
        initiated_only=reason in REPLIES_ALLOWED,
        except_kinds=("opt_out_confirmation", "wrong_number_ack"),
        held_reason="suppression",
    )
    return suppression
