"""The event log: every change of a debt's or debtor's state, with its cause."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.debts.models import Debt, DebtStatus, Event


def record_event(
    session: Session,
    *,
    creditor_id: str,
    actor: str,
    kind: str,
    now: datetime,
    debt_id: str | None = None,
    debtor_id: str | None = None,
    from_value: object = None,
    to_value: object = None,
    data: dict[str, Any] | None = None,
) -> Event:
    """Append one event; events are never updated or deleted."""
    event = Event(
        creditor_id=creditor_id,
        actor=actor,
        kind=kind,
        debt_id=debt_id,
        debtor_id=debtor_id,
        from_value=None if from_value is None else str(from_value),
        to_value=None if to_value is None else str(to_value),
        data=data,
        created_at=now,
    )
    session.add(event)
    return event


def set_debt_status(
    session: Session,
    debt: Debt,
    status: DebtStatus,
    *,
    now: datetime,
    actor: str,
    data: dict[str, Any] | None = None,
) -> bool:
    """Move a debt to `status`, with its event; returns whether anything changed."""
    if debt.status == status:
        return False
    record_event(
        session,
        creditor_id=debt.creditor_id,
        actor=actor,
        kind="debt.status",
        now=now,
        debt_id=debt.id,
        debtor_id=debt.debtor_id,
        from_value=debt.status,
        to_value=status,
        data=data,
    )
    debt.status = status
    debt.updated_at = now
    return True
