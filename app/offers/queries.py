"""Read-only look-ups of plans that other domains and the actions layer may use."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.offers.models import Installment, Plan


def active_plan(session: Session, debt_id: str) -> Plan | None:
    """The debt's running plan, if any. A broken plan is over: the debtor renegotiates."""
    return session.scalars(
        select(Plan)
        .where(Plan.debt_id == debt_id, Plan.status == "active")
        .order_by(Plan.created_at.desc())
    ).first()


def latest_plan(session: Session, debt_id: str) -> Plan | None:
    """The debt's most recent plan that was not replaced (active, broken or completed)."""
    return session.scalars(
        select(Plan)
        .where(Plan.debt_id == debt_id, Plan.status != "canceled")
        .order_by(Plan.created_at.desc())
    ).first()


def plan_installments(session: Session, plan_id: str) -> list[Installment]:
    """A plan's installments in order."""
    return list(
        session.scalars(
            select(Installment).where(Installment.plan_id == plan_id).order_by(Installment.number)
        )
    )


def next_installment(session: Session, debt_id: str) -> Installment | None:
    """The running plan's next installment still owed, if any."""
    plan = active_plan(session, debt_id)
    if plan is None:
        return None
    for installment in plan_installments(session, plan.id):
        if installment.status in ("pending", "late") and installment.outstanding > 0:
            return installment
    return None
