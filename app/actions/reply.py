"""What inbound handling and the desks (payments, plans, callbacks) share while
answering one inbound reply."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.orm import Session

from app.config import Settings
from app.conversations.classifier import Classification
from app.conversations.models import MENU_TTL, Conversation, MenuKind, MenuOption
from app.conversations.service import flag_conversation
from app.creditors.models import Creditor
from app.debts.models import Debt, Debtor
from app.messaging.models import Message
from app.messaging.service import enqueue_message
from app.texts import locale_tag, render, short_creditor_name


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
    # What the debtor's previous text was understood as (PAID: the next one may be
    # the date of the payment).
    previous_intent: str | None = None

    @property
    def language(self) -> str:
        """The debtor's language with the country of their number ("es-MX"): texts
        follow the language, money and times the locale."""
        return locale_tag(self.debtor.language, self.debtor.phone)

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

    def open_menu(
        self,
        kind: MenuKind,
        options: list[MenuOption],
        debt: Debt | None,
        prompt: str | None = None,
    ) -> None:
        """Remember the menu just offered so a CHOICE can be resolved against it, and its
        text (`prompt`) to show again when a reply picks nothing on it."""
        self.conversation.open_menu(
            kind,
            options,
            debt.id if debt else None,
            expires_at=self.now + MENU_TTL,
            now=self.now,
            prompt=prompt,
        )

    def close_menu(self) -> None:
        self.conversation.close_menu()

    def open_menu_option_keys(self) -> list[str]:
        """The keys of the menu still open (empty when none is)."""
        return self.conversation.menu_keys(self.now)

    def flag(self, reason: str) -> None:
        """Put the conversation in the human queue."""
        flag_conversation(
            self.session,
            self.conversation,
            reason,
            now=self.now,
            actor="engine",
            debt_id=self.debt.id if self.debt else None,
        )
