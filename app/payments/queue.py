"""The payments list and its review queue: payments a person must look at (a currency
other than the code's, more than the balance, ...) until someone marks them reviewed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.debts.models import Debt, Debtor
from app.errors import Conflict, NotFound
from app.events import record_event
from app.payments.models import PAYMENT_STATUSES, Payment

# `needs_review` is the queue; the others are the stored statuses.
PAYMENT_FILTERS = ("needs_review", *PAYMENT_STATUSES)


def list_payments(
    session: Session,
    creditor_id: str,
    *,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[tuple[Payment, Debt | None, Debtor | None]], int]:
    """One page of this creditor's payments, newest first (the review queue: oldest
    first, since the oldest has waited longest), and the number of all matches."""
    query = (
        select(Payment, Debt, Debtor)
        .outerjoin(Debt, Debt.id == Payment.debt_id)
        .outerjoin(Debtor, Debtor.id == Debt.debtor_id)
        .where(Payment.creditor_id == creditor_id)
    )
    if status == "needs_review":
        query = query.where(Payment.needs_review.is_(True)).order_by(Payment.created_at, Payment.id)
    else:
        if status is not None:
            query = query.where(Payment.status == status)
        query = query.order_by(Payment.created_at.desc(), Payment.id)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = session.execute(query.limit(limit).offset(offset)).all()
    return rows, int(total or 0)


def mark_reviewed(
    session: Session,
    creditor_id: str,
    payment_id: str,
    *,
    note: str | None,
    now: datetime,
    actor: str,
) -> Payment:
    """Take a payment out of the review queue, with an event naming who did it (404 for
    another creditor's payment, 409 when it is not waiting for review)."""
    payment = session.get(Payment, payment_id, with_for_update=True)
    if payment is None or payment.creditor_id != creditor_id:
        raise NotFound("payment not found", field="id")
    if not payment.needs_review:
        raise Conflict("this payment is not waiting for review", field="id")
    payment.needs_review = False
    record_event(
        session,
        creditor_id=creditor_id,
        actor=actor,
        kind="payment.reviewed",
        now=now,
        debt_id=payment.debt_id,
        data={"payment_id": payment.payment_id, "note": note}
        if note
        else {"payment_id": payment.payment_id},
    )
    session.flush()
    return payment
