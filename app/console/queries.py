"""Read-only look-ups the console pages need beyond what the domain services return:
the debts list with its filters and total, everything about one debt, the dashboard's
counts. Nothing here changes state."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Select, String, cast, func, or_, select
from sqlalchemy.orm import Session

from app.callbacks.models import Callback
from app.conversations.models import Conversation, Promise
from app.creditors.models import Creditor
from app.debts.models import Debt, Debtor, Event
from app.messaging.models import CHRONOLOGICAL, Message
from app.payments.models import Payment, PaymentCode
from app.phones import PhoneError, normalize_phone


@dataclass(frozen=True)
class DebtFilters:
    """What the debts page was asked for."""

    q: str = ""
    status: str = ""
    dpd_min: int | None = None
    dpd_max: int | None = None
    segment: str = ""
    language: str = ""


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def filtered_debts(creditor: Creditor, filters: DebtFilters, today: date) -> Select[Debt, Debtor]:
    """The creditor's debts matching `filters`, newest first. Days past due count from
    `today` (the team's date: a debtor a zone away may be a day off)."""
    query = (
        select(Debt, Debtor)
        .join(Debtor, Debtor.id == Debt.debtor_id)
        .where(Debt.creditor_id == creditor.id)
    )
    q = filters.q.strip()
    if q:
        matches = [Debtor.name.ilike(_like(q), escape="\\"), Debt.external_id == q]
        matches.append(Debt.external_id.ilike(_like(q), escape="\\"))
        digits = "".join(ch for ch in q if ch.isdigit())
        if len(digits) >= 4:
            with suppress(PhoneError):
                matches.append(Debtor.phone == normalize_phone(q, creditor.country))
            # Stored numbers are E.164 ("+15551234567"): any spelling of its digits
            # ("(555) 123-4567", "555.123.4567") finds it.
            matches.append(Debtor.phone.like(_like(digits), escape="\\"))
        query = query.where(or_(*matches))
    if filters.status:
        query = query.where(Debt.status == filters.status)
    if filters.dpd_min is not None:
        query = query.where(Debt.due_date <= today - timedelta(days=filters.dpd_min))
    if filters.dpd_max is not None:
        query = query.where(Debt.due_date >= today - timedelta(days=filters.dpd_max))
    if filters.language:
        query = query.where(Debtor.language == filters.language)
    if filters.segment:
        # Tags are a JSON list; matched on its text form, which works on both backends.
        query = query.where(cast(Debt.tags, String).like(_like(f'"{filters.segment}"')))
    return query


def search_debts(
    session: Session,
    creditor: Creditor,
    filters: DebtFilters,
    today: date,
    *,
    limit: int,
    offset: int,
) -> tuple[list[tuple[Debt, Debtor]], int]:
    """One page of matching debts and how many match in all."""
    query = filtered_debts(creditor, filters, today)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(Debt.created_at.desc(), Debt.id).limit(limit).offset(offset)
    )
    return [(row[0], row[1]) for row in rows], total


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


def recovered_between(
    session: Session, creditor_id: str, start: datetime, end: datetime
) -> dict[str, int]:
    """Money applied to debts in [start, end), per currency."""
    rows = session.execute(
        select(Payment.currency, func.sum(Payment.applied_amount))
        .where(
            Payment.creditor_id == creditor_id,
            Payment.status == "applied",
            Payment.paid_at >= start,
            Payment.paid_at < end,
        )
        .group_by(Payment.currency)
    )
    return {currency: int(total or 0) for currency, total in rows}


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
