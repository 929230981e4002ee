"""Read-only look-ups the console pages need beyond what the domain services return:
everything about one debt, the inbox's debtors and last texts, the dashboard's counts.
Nothing here changes state."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.callbacks.models import Callback
from app.conversations.models import Conversation, Promise
from app.debts.models import Debt, Debtor, Event
from app.messaging.models import CHRONOLOGICAL, Message
from app.payments.models import Payment, PaymentCode


@dataclass
class DebtFile:
    """Everything about one debt, for its page."""

    debt: Debt
    debtor: Debtor
    conversation: Conversation | None
    messages: list[Message]
    events: list[Event]
    payments: list[Payment]
    codes: list[PaymentCode]
    promises: list[Promise]
    callbacks: list[Callback]


def debt_file(session: Session, debt: Debt) -> DebtFile:
    """The debt's debtor, conversation, messages (oldest first), history, payments,
    payment codes, promises and callbacks."""
    debtor = session.get(Debtor, debt.debtor_id)
    assert debtor is not None
    conversation = session.scalars(
        select(Conversation).where(Conversation.debtor_id == debtor.id)
    ).first()
    messages = list(
        session.scalars(
            select(Message)
            .where(
                Message.creditor_id == debt.creditor_id,
                (Message.debt_id == debt.id)
                | ((Message.debtor_id == debt.debtor_id) & Message.debt_id.is_(None)),
            )
            .order_by(*CHRONOLOGICAL)
        )
    )
    events = list(
        session.scalars(
            select(Event)
            .where(Event.creditor_id == debt.creditor_id, Event.debt_id == debt.id)
            .order_by(Event.created_at, Event.id)
        )
    )
    payments = list(
        session.scalars(select(Payment).where(Payment.debt_id == debt.id).order_by(Payment.paid_at))
    )
    codes = list(
        session.scalars(
            select(PaymentCode)
            .where(PaymentCode.debt_id == debt.id)
            .order_by(PaymentCode.created_at.desc())
        )
    )
    promises = list(
        session.scalars(
            select(Promise).where(Promise.debt_id == debt.id).order_by(Promise.created_at)
        )
    )
    callbacks = list(
        session.scalars(
            select(Callback).where(Callback.debt_id == debt.id).order_by(Callback.starts_at)
        )
    )
    return DebtFile(
        debt, debtor, conversation, messages, events, payments, codes, promises, callbacks
    )


def inbox_count(session: Session, creditor_id: str) -> int:
    """Conversations waiting for a person."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.creditor_id == creditor_id, Conversation.needs_attention)
        )
        or 0
    )


def last_inbound(session: Session, debtor_ids: list[str]) -> dict[str, Message]:
    """Each debtor's latest inbound text."""
    latest: dict[str, Message] = {}
    if not debtor_ids:
        return latest
    for message in session.scalars(
        select(Message)
        .where(Message.debtor_id.in_(debtor_ids), Message.direction == "inbound")
        .order_by(Message.created_at)
    ):
        assert message.debtor_id is not None
        latest[message.debtor_id] = message
    return latest


def debtors_by_id(session: Session, ids: set[str]) -> dict[str, Debtor]:
    if not ids:
        return {}
    return {d.id: d for d in session.scalars(select(Debtor).where(Debtor.id.in_(ids)))}


def first_debt_of(session: Session, debtor_ids: set[str]) -> dict[str, str]:
    """A debt id per debtor (the newest), to link a conversation to a debt page."""
    found: dict[str, str] = {}
    if not debtor_ids:
        return found
    for debt in session.scalars(
        select(Debt).where(Debt.debtor_id.in_(debtor_ids)).order_by(Debt.created_at)
    ):
        found[debt.debtor_id] = debt.id
    return found


def debtor_count(session: Session, creditor_id: str) -> int:
    """The creditor's debtors (what a dry run copies)."""
    return (
        session.scalar(
            select(func.count()).select_from(Debtor).where(Debtor.creditor_id == creditor_id)
        )
        or 0
    )
