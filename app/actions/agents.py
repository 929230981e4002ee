"""What a person does in a conversation: a text to the debtor, through the outbox and
the contact rules like every other text."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from app.conversations.models import Conversation
from app.creditors.models import Creditor
from app.debts.models import Debt, Debtor
from app.errors import Conflict, NotFound
from app.messaging.models import Message
from app.messaging.service import enqueue_message

# An agent answering within this time of the debtor's last text continues that exchange
# (not capped); later, the message is Parley-initiated. Either way it waits for the
# debtor's contact window.
AGENT_REPLY_WINDOW = timedelta(minutes=30)


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
    """Queue an agent's text to the debtor of `conversation` (about `debt_id`, else the
    conversation's focus debt). 409 when the number may not be texted."""
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
