"""Promise status changes, each with its event (shared by the engine, plans, payments,
re-imports and the follow-up job)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.conversations.models import Promise, PromiseStatus
from app.debts.models import Debt
from app.events import record_event


def set_promise_status(
    session: Session,
    promise: Promise,
    status: PromiseStatus,
    *,
    now: datetime,
    actor: str,
    reason: str | None = None,
) -> None:
    """Move a promise to `status` and log it."""
    if promise.status == status:
        return
    record_event(
        session,
        creditor_id=promise.creditor_id,
        actor=actor,
        kind="promise.status",
        now=now,
        debt_id=promise.debt_id,
        debtor_id=promise.debtor_id,
        from_value=promise.status,
        to_value=status,
        data={"promise_id": promise.id, "reason": reason} if reason else {"promise_id": promise.id},
    )
    promise.status = status
    promise.updated_at = now


def cancel_open_promises(
    session: Session, debt_id: str, *, now: datetime, actor: str, reason: str
) -> int:
    """End the debt's open promises (a plan, a settlement or a new promise replaces them)."""
    promises = list(
        session.scalars(select(Promise).where(Promise.debt_id == debt_id, Promise.status == "open"))
    )
    for promise in promises:
        set_promise_status(session, promise, "canceled", now=now, actor=actor, reason=reason)
    return len(promises)


def keep_paid_promises(session: Session, debt: Debt, *, now: datetime, actor: str) -> int:
    """Mark kept the debt's open promises whose balance fell below what it was when
    promised (a payment landed). Returns how many."""
    promises = list(
        session.scalars(
            select(Promise).where(
                Promise.debt_id == debt.id,
                Promise.status == "open",
                Promise.balance_at_promise > debt.balance,
            )
        )
    )
    for promise in promises:
        set_promise_status(session, promise, "kept", now=now, actor=actor, reason="payment")
    return len(promises)


def close_open_promises(
    session: Session,
    debt: Debt,
    *,
    kept_when_paid: bool,
    now: datetime,
    actor: str,
    reason: str,
) -> int:
    """End the debt's open promises: kept when `kept_when_paid` and the balance fell
    below what it was when promised, else canceled. Returns how many ended."""
    promises = list(
        session.scalars(select(Promise).where(Promise.debt_id == debt.id, Promise.status == "open"))
    )
    for promise in promises:
        kept = kept_when_paid and debt.balance < promise.balance_at_promise
        set_promise_status(
            session, promise, "kept" if kept else "canceled", now=now, actor=actor, reason=reason
        )
    return len(promises)
