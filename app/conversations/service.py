"""Conversations: finding who a number is, their conversation, the debt a reply is
about, and the human queue."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.conversations.models import Conversation
from app.creditors.models import Creditor
from app.db import new_id
from app.debts.models import Debt, Debtor
from app.debts.queries import lock_debts_of_debtors
from app.events import record_event
from app.messaging.models import Message

# Debts a debtor can still act on (disputed ones too: the debtor may still ask about
# them), and the order in which one becomes the focus.
ACTIVE_DEBT_STATUSES = ("open", "in_plan", "paused", "disputed")


def find_debtor(
    session: Session,
    phone: str,
    creditor_id: str | None = None,
    *,
    lock: bool = False,
    to_phone: str | None = None,
) -> Debtor | None:
    """The debtor this number belongs to. When several creditors know it, the reply is
    routed by the number it was sent to (`to_phone`) first: the creditor whose own
    sender that is, or whose texts to this number left from it; among those (or all,
    when they share one sender) the one that texted it last. `lock` holds the number's
    debtor rows for the transaction, so its texts are answered one at a time."""
    query = select(Debtor).where(Debtor.phone == phone).order_by(Debtor.id)
    if creditor_id is not None:
        query = query.where(Debtor.creditor_id == creditor_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return choose_debtor(session, list(session.scalars(query)), to_phone)


def debtors_by_phone(
    session: Session, phones: Collection[str], *, lock: bool = False
) -> dict[str, list[Debtor]]:
    """find_debtor's candidates for many numbers in one query (each number's debtors in
    id order; `lock` holds them all, taken in id order)."""
    found: dict[str, list[Debtor]] = {phone: [] for phone in phones}
    if not phones:
        return found
    query = select(Debtor).where(Debtor.phone.in_(sorted(set(phones)))).order_by(Debtor.id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    for debtor in session.scalars(query):
        found[debtor.phone].append(debtor)
    return found


def choose_debtor(
    session: Session, debtors: list[Debtor], to_phone: str | None = None
) -> Debtor | None:
    """Which of a number's debtors (in id order) a reply is from (see find_debtor);
    queries only when there are several."""
    if len(debtors) <= 1:
        return debtors[0] if debtors else None
    if to_phone:
        debtors = _routed_by_to(session, debtors, to_phone) or debtors
        if len(debtors) == 1:
            return debtors[0]
    latest = session.scalars(
        select(Message.debtor_id)
        .where(Message.debtor_id.in_([d.id for d in debtors]), Message.direction == "outbound")
        .order_by(Message.created_at.desc())
        .limit(1)
    ).first()
    by_id = {d.id: d for d in debtors}
    return by_id.get(latest or "", debtors[0])


def _routed_by_to(session: Session, debtors: list[Debtor], to_phone: str) -> list[Debtor]:
    """The debtors whose creditor owns the sender `to_phone`, else those whose texts to
    the number went out from it (a shared sender keeps several)."""
    creditor_ids = {d.creditor_id for d in debtors}
    owners = set(
        session.scalars(
            select(Creditor.id).where(
                Creditor.id.in_(creditor_ids), Creditor.twilio_from == to_phone
            )
        )
    )
    if owners:
        return [d for d in debtors if d.creditor_id in owners]
    senders = set(
        session.scalars(
            select(Message.debtor_id).where(
                Message.debtor_id.in_([d.id for d in debtors]),
                Message.direction == "outbound",
                Message.from_phone == to_phone,
            )
        )
    )
    return [d for d in debtors if d.id in senders]


def get_conversation(session: Session, debtor: Debtor, now: datetime) -> Conversation:
    """The debtor's conversation, created on first contact. Two first texts arriving
    together both try to create it: the loser's savepoint rolls back and it reads the
    winner's row, so no text is lost."""
    query = select(Conversation).where(Conversation.debtor_id == debtor.id)
    conversation = session.scalars(query).first()
    if conversation is not None:
        return conversation
    try:
        with session.begin_nested():
            conversation = start_conversation(session, debtor, now)
            session.flush()
    except IntegrityError:
        return session.scalars(query).one()
    return conversation


def conversations_by_debtor(
    session: Session, debtor_ids: Collection[str]
) -> dict[str, Conversation]:
    """The conversations of many debtors in one query (those that have one)."""
    if not debtor_ids:
        return {}
    rows = session.scalars(
        select(Conversation).where(Conversation.debtor_id.in_(sorted(set(debtor_ids))))
    )
    return {conversation.debtor_id: conversation for conversation in rows}


def start_conversation(session: Session, debtor: Debtor, now: datetime) -> Conversation:
    """A new conversation for a debtor known to have none, written with the next flush
    (no savepoint: a caller racing another writer retries the whole unit of work)."""
    conversation = Conversation(
        id=new_id(),
        creditor_id=debtor.creditor_id,
        debtor_id=debtor.id,
        # Set, as a menu sets it: the flush then writes a group's new conversations in
        # one statement.
        menu_options=None,
        needs_attention=False,
        created_at=now,
        updated_at=now,
    )
    session.add(conversation)
    return conversation


def active_debts_by_debtor(
    session: Session, debtor_ids: Collection[str], *, lock: bool = False
) -> dict[str, list[Debt]]:
    """focus_debt's candidates for many debtors in one query (each debtor's in focus
    order); `lock`: locked as app.debts.queries.lock_debt locks them, in the same
    statement (lock_debts_of_debtors)."""
    found: dict[str, list[Debt]] = {debtor_id: [] for debtor_id in debtor_ids}
    if not debtor_ids:
        return found
    if lock:
        rows = sorted(
            lock_debts_of_debtors(session, debtor_ids, ACTIVE_DEBT_STATUSES),
            key=lambda debt: (debt.due_date, debt.created_at),
        )
    else:
        rows = list(
            session.scalars(
                select(Debt)
                .where(
                    Debt.debtor_id.in_(sorted(set(debtor_ids))),
                    Debt.status.in_(ACTIVE_DEBT_STATUSES),
                )
                .order_by(Debt.due_date, Debt.created_at)
            )
        )
    for debt in rows:
        found[debt.debtor_id].append(debt)
    return found


def find_conversation(session: Session, debtor_id: str) -> Conversation | None:
    """The debtor's conversation, if they have one (never creates it)."""
    return session.scalars(select(Conversation).where(Conversation.debtor_id == debtor_id)).first()


def focus_debt(
    session: Session,
    debtor: Debtor,
    conversation: Conversation,
    debts: list[Debt] | None = None,
) -> Debt | None:
    """The debt a reply is about: the conversation's focus while it is active, else the
    debt of the last message sent, else the oldest active one. `debts`: the debtor's
    active debts in focus order when the caller has them (active_debts_by_debtor)."""
    if debts is None:
        debts = active_debts_by_debtor(session, [debtor.id])[debtor.id]
    if len(debts) <= 1:
        return debts[0] if debts else None
    by_id = {d.id: d for d in debts}
    if conversation.focus_debt_id in by_id:
        return by_id[conversation.focus_debt_id]
    last = session.scalars(
        select(Message.debt_id)
        .where(
            Message.debtor_id == debtor.id,
            Message.direction == "outbound",
            Message.debt_id.is_not(None),
        )
        .order_by(Message.created_at.desc())
        .limit(1)
    ).first()
    if last in by_id:
        return by_id[last]
    # Debts still being collected before ones paused or under review.
    collectible = [d for d in debts if d.status in ("open", "in_plan")]
    return (collectible or debts)[0]


def flag_conversation(
    session: Session,
    conversation: Conversation,
    reason: str,
    *,
    now: datetime,
    actor: str,
    debt_id: str | None = None,
) -> None:
    """Put the conversation in the human queue (one event when it enters it)."""
    if not conversation.needs_attention:
        record_event(
            session,
            creditor_id=conversation.creditor_id,
            actor=actor,
            kind="conversation.flagged",
            now=now,
            debtor_id=conversation.debtor_id,
            debt_id=debt_id,
            to_value=reason,
        )
    conversation.needs_attention = True
    conversation.attention_reason = reason[:200]
    conversation.handled_at = None
    conversation.handled_by = None
    conversation.updated_at = now


def close_menus_about(session: Session, debt_id: str) -> None:
    """Close every menu about `debt_id` (a menu must never offer what no longer holds)."""
    query = select(Conversation).where(
        Conversation.menu_kind.is_not(None), Conversation.menu_debt_id == debt_id
    )
    for conversation in session.scalars(query):
        conversation.close_menu()
