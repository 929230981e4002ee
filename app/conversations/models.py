"""Conversations (one per debtor, with the menu last offered) and promises to pay."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import ID, Base, new_id

# open: being kept; kept: paid by the date; broken: the date passed unpaid;
# canceled: superseded (a plan was agreed, the debt was settled or disputed).
PROMISE_STATUSES = ("open", "kept", "broken", "canceled")
MENU_KINDS = ("plan", "callback")


class Conversation(Base):
    """The running SMS exchange with one debtor: the last menu sent (so that "2" or "B"
    can be resolved against it), the debt in focus, and whether a human must look."""

    __tablename__ = "conversations"
    __table_args__ = (CheckConstraint(f"menu_kind IN {MENU_KINDS}", name="menu_kind"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    creditor_id: Mapped[str] = mapped_column(ForeignKey("creditors.id"), index=True)
    debtor_id: Mapped[str] = mapped_column(ForeignKey("debtors.id"), unique=True)
    focus_debt_id: Mapped[str | None] = mapped_column(ForeignKey("debts.id"))
    menu_kind: Mapped[str | None] = mapped_column(String(16))
    # [{"key": "1", ...option fields}], meaning depends on menu_kind.
    menu_options: Mapped[list[Any] | None]
    menu_debt_id: Mapped[str | None] = mapped_column(ForeignKey("debts.id"))
    menu_expires_at: Mapped[datetime | None]
    needs_attention: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    attention_reason: Mapped[str | None] = mapped_column(String(200))
    last_inbound_at: Mapped[datetime | None]
    last_intent: Mapped[str | None] = mapped_column(String(16))
    handled_at: Mapped[datetime | None]
    handled_by: Mapped[str | None] = mapped_column(String(64))
    # The person working it ("user:<id>" or "api_key:<id>"), so two agents do not both
    # answer the same debtor.
    assigned_to: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Promise(Base):
    """A debtor's promise to pay a debt by a date (PROMISE replies)."""

    __tablename__ = "promises"
    __table_args__ = (CheckConstraint(f"status IN {PROMISE_STATUSES}", name="status"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    creditor_id: Mapped[str] = mapped_column(ForeignKey("creditors.id"), index=True)
    debtor_id: Mapped[str] = mapped_column(ForeignKey("debtors.id"))
    debt_id: Mapped[str] = mapped_column(ForeignKey("debts.id"), index=True)
    promised_date: Mapped[date] = mapped_column(Date)
    # The balance when promised: a promise is kept when the balance drops below it.
    balance_at_promise: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="open")
    source_message_id: Mapped[str | None] = mapped_column(ForeignKey("messages.id"))
    reminded_at: Mapped[datetime | None]
    followed_up_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


__all__ = ["Conversation", "Promise"]
