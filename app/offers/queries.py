"""Read-only look-ups of plans that other domains and the actions layer may use."""

from __future__ import annotations

from collections.abc import Collection, Hashable
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.offers.models import Installment, Plan
from app.read_ahead import MISSING, recall, remember


def read_ahead_plans(session: Session, debt_ids: Collection[str]) -> None:
    """active_plan for many debts in one query, answered from memory for the rest of
    the transaction (app.read_ahead)."""
    answers: dict[Hashable, Any] = dict.fromkeys(debt_ids)
    if debt_ids:
        rows = session.scalars(
            select(Plan)
            .where(Plan.debt_id.in_(sorted(debt_ids)), Plan.status == "active")
            .order_by(Plan.created_at)
        )
        for plan in rows:  # the newest last, so it is the one kept
            answers[plan.debt_id] = plan
    remember(session, "plans", "debt_id", answers)


def active_plan(session: Session, debt_id: str) -> Plan | None:
    """The debt's running plan, if any. A broken plan is over: the debtor renegotiates."""
    known = recall(session, "plans", debt_id)
    if known is not MISSING:
        return cast(Plan | None, known)
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
