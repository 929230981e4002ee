"""What the engine and the desks (payments, plans, callbacks) share while answering one
inbound reply."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.config import Settings
from app.conversations.classifier import Classification
from app.conversations.models import Conversation
from app.creditors.models import Creditor
from app.debts.models import Debt, Debtor
from app.events import record_event
from app.messaging.models import Message
from app.messaging.service import enqueue_message
from app.texts import render, short_creditor_name

MENU_TTL = timedelta(hours=48)


@dataclass
class ReplyContext:
    """One inbound reply being answered, in the request's transaction."""

    session: Session
    settings: Settings
    creditor: Creditor
    debtor: Debtor
    conversation: Conversation
    debt: Debt | None
    inbound: Message
    classification: Classification
    now: datetime
    local_today: date
    replies: list[Message] = field(default_factory=list)

    @property
    def language(self) -> str:
        return self.debtor.language

    @property
    def creditor_name(self) -> str:
        return short_creditor_name(self.creditor.name)

    @property
    def actor(self) -> str:
        return "debtor"

    def text(self, template: str, **params: object) -> str:
        """A template in the debtor's language, with the creditor's name filled in."""
        return render(template, self.language, creditor=self.creditor_name, **params)

    def reply(
        self,
        body: str,
        *,
        kind: str = "reply",
        media_urls: Sequence[str] = (),
        debt: Debt | None = None,
    ) -> Message:
        """Queue an answer to this reply (not capped, not held for the window)."""
        target = debt or self.debt
        message = enqueue_message(
            self.session,
            creditor=self.creditor,
            debtor=self.debtor,
            debt=target,
            body=body,
            kind=kind,
            now=self.now,
            actor="engine",
            initiated=False,
            is_reply=True,
            media_urls=media_urls,
        )
        self.replies.append(message)
        return message

    def open_menu(self, kind: str, options: list[dict[str, Any]], debt: Debt | None) -> None:
        """Remember the menu just offered so a CHOICE can be resolved against it."""
        conversation = self.conversation
        conversation.menu_kind = kind
        conversation.menu_options = options
        conversation.menu_debt_id = debt.id if debt else None
        conversation.menu_expires_at = self.now + MENU_TTL
        conversation.updated_at = self.now

    def close_menu(self) -> None:
        conversation = self.conversation
        conversation.menu_kind = None
        conversation.menu_options = None
        conversation.menu_debt_id = None
        conversation.menu_expires_at = None

    def flag(self, reason: str) -> None:
        """Put the conversation in the human queue."""
        conversation = self.conversation
        if not conversation.needs_attention:
            record_event(
                self.session,
                creditor_id=self.creditor.id,
                actor="engine",
                kind="conversation.flagged",
                now=self.now,
                debtor_id=self.debtor.id,
                debt_id=self.debt.id if self.debt else None,
                to_value=reason,
            )
        conversation.needs_attention = True
        conversation.attention_reason = reason[:200]
        conversation.handled_at = None
        conversation.handled_by = None
