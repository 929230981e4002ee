"""What a person does with a conversation: take it (assign), answer the debtor through
the outbox and the contact rules, and take it out of the human queue. The API and the
console both call these, so the rules live once."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.conversations.models import Conversation
from app.creditors.models import Creditor
from app.debts.models import Debt, Debtor
from app.errors import Conflict, NotFound
from app.events import record_event
from app.messaging.models import Message
from app.messaging.service import enqueue_message

# An agent answering within this time of the debtor's last text continues that exchange
# (not capped); later, the message is Parley-initiated. Either way it waits for the
# debtor's contact window.
AGENT_REPLY_WINDOW = timedelta(minutes=30)


def own_conversation(
    session: Session, creditor_id: str, conversation_id: str
) -> tuple[Conversation, Debtor]:
    """The creditor's conversation and its debtor (404 for anyone else's)."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None or conversation.creditor_id != creditor_id:
        raise NotFound("conversation not found", field="id")
    debtor = session.get(Debtor, conversation.debtor_id)
    assert debtor is not None
    return conversation, debtor


def send_agent_message(
    session: Session,
    *,
    creditor: Creditor,
    conversation: Conversation,
    debtor: Debtor,
    body: str,
    debt_id: str | None,
    now: datetime,
    actor: str,
) -> Message:
    """A person's text to the debtor, stored in the outbox; the contact rules decide when
    it goes out (409 when the number may not be texted)."""
    debt = None
    if debt_id:
        debt = session.get(Debt, debt_id)
        if debt is None or debt.debtor_id != debtor.id:
            raise NotFound("debt not found for this debtor", field="debt_id")
    elif conversation.focus_debt_id:
        debt = session.get(Debt, conversation.focus_debt_id)
    if debtor.contact_status != "active":
        raise Conflict(f"the debtor's number is {debtor.contact_status}", field="debtor")
    answering = (
        conversation.last_inbound_at is not None
        and now - conversation.last_inbound_at <= AGENT_REPLY_WINDOW
    )
    message = enqueue_message(
        session,
        creditor=creditor,
        debtor=debtor,
        debt=debt,
        body=body,
        kind="agent",
        now=now,
        actor=actor,
        initiated=not answering,
        is_reply=False,
    )
    conversation.updated_at = now
    return message


def mark_handled(
    session: Session, conversation: Conversation, *, now: datetime, actor: str
) -> None:
    """Take the conversation out of the human queue."""
    if conversation.needs_attention:
        record_event(
            session,
            creditor_id=conversation.creditor_id,
            actor=actor,
            kind="conversation.handled",
            now=now,
            debtor_id=conversation.debtor_id,
            from_value=conversation.attention_reason,
        )
    conversation.needs_attention = False
    conversation.handled_at = now
    conversation.handled_by = actor
    conversation.updated_at = now


def assign(session: Session, conversation: Conversation, *, to: str, now: datetime) -> None:
    """Give the conversation to one person (`to` is an actor, e.g. "user:<id>"), so two
    agents do not answer the same debtor."""
    if conversation.assigned_to == to:
        return
    record_event(
        session,
        creditor_id=conversation.creditor_id,
        actor=to,
        kind="conversation.assigned",
        now=now,
        debtor_id=conversation.debtor_id,
        from_value=conversation.assigned_to,
        to_value=to,
    )
    conversation.assigned_to = to
    conversation.updated_at = now


def human_queue(session: Session, creditor_id: str, *, limit: int = 100) -> list[Conversation]:
    """The conversations waiting for a person, the longest-waiting first."""
    return list(
        session.scalars(
            select(Conversation)
            .where(Conversation.creditor_id == creditor_id, Conversation.needs_attention)
            .order_by(
                Conversation.last_inbound_at.is_(None),
                Conversation.last_inbound_at,
                Conversation.updated_at,
                Conversation.id,
            )
            .limit(limit)
        )
    )
