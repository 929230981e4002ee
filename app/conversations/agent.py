"""What a person does with a conversation besides texting (app.actions.agents): take it
(assign) and take it out of the human queue. The API and the console both call these."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.conversations.models import Conversation
from app.debts.models import Debtor
from app.errors import NotFound
from app.events import record_event


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
