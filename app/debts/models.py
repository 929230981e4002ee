"""Debtors, their debts, and the append-only event log."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal, get_args

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import ID, Base, new_id
from app.texts import Language

# active: may be contacted; opted_out: replied STOP (or Twilio error 21610) until START;
# wrong_number: someone else answered, never text it about this debt again;
# invalid: not a reachable mobile number (Twilio 21211/21614).
ContactStatus = Literal["active", "opted_out", "wrong_number", "invalid"]
CONTACT_STATUSES: tuple[ContactStatus, ...] = get_args(ContactStatus)

# open: being collected; paused: the debtor says it is paid, a human checks;
# disputed: the debtor contests it, collection stops; in_plan: an agreed plan runs;
# settled: balance reached zero; closed: withdrawn by the creditor.
DebtStatus = Literal["open", "paused", "disputed", "in_plan", "settled", "closed"]
DEBT_STATUSES: tuple[DebtStatus, ...] = get_args(DebtStatus)


class Debtor(Base):
    """A person a creditor collects from, identified by their phone within that creditor."""

    __tablename__ = "debtors"
    __table_args__ = (
        UniqueConstraint("creditor_id", "phone"),
        CheckConstraint(f"contact_status IN {CONTACT_STATUSES}", name="contact_status"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    creditor_id: Mapped[str] = mapped_column(ForeignKey("creditors.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(20), index=True)
    language: Mapped[Language] = mapped_column(String(8))
    timezone: Mapped[str] = mapped_column(String(64))
    # Other zones the number may be in when the zone was inferred (a Spanish mobile may
    # be in the Canaries): the contact window must hold in all of them.
    other_timezones: Mapped[list[Any] | None]
    contact_status: Mapped[ContactStatus] = mapped_column(String(16), default="active")
    # The debtor's own contact preference ("only in the evening", "not on weekends"):
    # local HH:MM bounds, honoured on top of the creditor's window.
    contact_window_start: Mapped[str | None] = mapped_column(String(5))
    contact_window_end: Mapped[str | None] = mapped_column(String(5))
    contact_weekdays_only: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Debt(Base):
    """One amount a debtor owes a creditor, in minor units of its currency."""

    __tablename__ = "debts"
    __table_args__ = (
        UniqueConstraint("creditor_id", "external_id"),
        CheckConstraint(f"status IN {DEBT_STATUSES}", name="status"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("balance >= 0", name="balance_not_negative"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    creditor_id: Mapped[str] = mapped_column(ForeignKey("creditors.id"), index=True)
    debtor_id: Mapped[str] = mapped_column(ForeignKey("debtors.id"), index=True)
    external_id: Mapped[str] = mapped_column(String(120))
    description: Mapped[str | None] = mapped_column(String(500))
    amount: Mapped[int] = mapped_column(BigInteger)
    balance: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    due_date: Mapped[date] = mapped_column(Date)
    status: Mapped[DebtStatus] = mapped_column(String(16), default="open")
    # Free labels the finance team's offer rules can select on.
    tags: Mapped[list[Any] | None]
    # The next automatic statement (debtor's local date), when the cadence is on.
    next_statement_on: Mapped[date | None] = mapped_column(Date, index=True)
    # None, "agent" (no answer to several statements) or "agency" (flagged for an
    # agency or legal review; the automatic cadence stops).
    escalation: Mapped[str | None] = mapped_column(String(16))
    # Set when a human must look (dispute, "already paid", unknown replies).
    needs_review: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Event(Base):
    """An append-only record of who or what changed what, when, from what to what."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_debt_created", "debt_id", "created_at"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    creditor_id: Mapped[str] = mapped_column(ForeignKey("creditors.id"), index=True)
    debtor_id: Mapped[str | None] = mapped_column(ForeignKey("debtors.id"))
    debt_id: Mapped[str | None] = mapped_column(ForeignKey("debts.id"))
    # "api_key:<id>", "debtor", "worker", "twilio", "payments", "system", "cli"
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(64))
    from_value: Mapped[str | None] = mapped_column(Text)
    to_value: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
