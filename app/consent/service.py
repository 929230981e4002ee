"""Setting and lifting suppressions."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.consent.models import Suppression
from app.creditors.models import Creditor
from app.debts.models import Debtor
from app.errors import Conflict, NotFound, ValidationFailed
from app.events import record_event

# A UK Breathing Space lasts 60 days unless it ends earlier.
BREATHING_SPACE = timedelta(days=60)


def new_suppression(
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
    """Store a suppression of a debtor (a breathing space without an end lasts 60
    days), with its event. What it stops is the caller's cascade."""
    if ends_at is not None and ends_at <= now:
        raise ValidationFailed("ends_at must be in the future", field="ends_at")
    if ends_at is None and reason == "breathing_space":
        ends_at = now + BREATHING_SPACE
    suppression = Suppression(
        creditor_id=creditor.id,
        debtor_id=debtor.id,
        reason=reason,
        evidence_note=evidence_note,
        starts_at=now,
        ends_at=ends_at,
        lifted_at=None,
        created_by=actor,
        created_at=now,
    )
    session.add(suppression)
    session.flush()
    record_event(
        session,
        creditor_id=creditor.id,
        actor=actor,
        kind="debtor.suppressed",
        now=now,
        debtor_id=debtor.id,
        to_value=reason,
        data={
            "suppression_id": suppression.id,
            "ends_at": ends_at.isoformat() if ends_at else None,
        },
    )
    return suppression


def list_suppressions(session: Session, creditor: Creditor, debtor_id: str) -> list[Suppression]:
    """A debtor's suppressions, newest first."""
    return list(
        session.scalars(
            select(Suppression)
            .where(Suppression.creditor_id == creditor.id, Suppression.debtor_id == debtor_id)
            .order_by(Suppression.created_at.desc(), Suppression.id)
        )
    )


def lift_suppression(
    session: Session, creditor: Creditor, suppression_id: str, *, now: datetime, actor: str
) -> Suppression:
    """End a suppression now (a person decided contact may resume)."""
    suppression = session.get(Suppression, suppression_id)
    if suppression is None or suppression.creditor_id != creditor.id:
        raise NotFound("suppression not found", field="id")
    if suppression.lifted_at is not None:
        raise Conflict("this suppression was already lifted", field="id")
    suppression.lifted_at = now
    record_event(
        session,
        creditor_id=creditor.id,
        actor=actor,
        kind="debtor.suppression_lifted",
        now=now,
        debtor_id=suppression.debtor_id,
        from_value=suppression.reason,
        data={"suppression_id": suppression.id},
    )
    return suppression
