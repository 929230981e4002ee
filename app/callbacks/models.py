"""The agents' callback calendar and booked callbacks."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import ID, Base, new_id

# booked: waiting for its time; claimed: an agent took it; completed: an outcome was
# recorded; canceled: by the debtor or an agent (its seat is freed).
CallbackStatus = Literal["booked", "claimed", "completed", "canceled"]
CALLBACK_STATUSES: tuple[CallbackStatus, ...] = get_args(CallbackStatus)
CALLBACK_OUTCOMES = ("reached", "no_answer", "promise_to_pay", "plan_agreed", "refused")


class CallbackCalendar(Base):
    """A creditor's team hours for callbacks (one per creditor)."""

    __tablename__ = "callback_calendars"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    creditor_id: Mapped[str] = mapped_column(ForeignKey("creditors.id"), unique=True)
    timezone: Mapped[str] = mapped_column(String(64))
    # {"mon": ["09:00", "17:00"], ...}; a weekday left out is closed.
    hours: Mapped[dict[str, Any]]
    slot_minutes: Mapped[int] = mapped_column(Integer)
    capacity: Mapped[int] = mapped_column(Integer)
    holiday_country: Mapped[str | None] = mapped_column(String(2))
    holiday_subdivision: Mapped[str | None] = mapped_column(String(8))
    closed_dates: Mapped[list[Any] | None]
    lead_minutes: Mapped[int] = mapped_column(Integer, default=60)
    reminder_minutes_before: Mapped[int] = mapped_column(Integer, default=60)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Callback(Base):
    """A call an agent owes a debtor in one slot. `seat` (1..capacity) is unique per slot
    while the callback holds it, so the database itself refuses an overbooking."""

    __tablename__ = "callbacks"
    __table_args__ = (
        UniqueConstraint("creditor_id", "starts_at", "seat"),
        CheckConstraint(f"status IN {CALLBACK_STATUSES}", name="status"),
        CheckConstraint(f"outcome IN {CALLBACK_OUTCOMES}", name="outcome"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    creditor_id: Mapped[str] = mapped_column(ForeignKey("creditors.id"), index=True)
    debt_id: Mapped[str | None] = mapped_column(ForeignKey("debts.id"), index=True)
    debtor_id: Mapped[str] = mapped_column(ForeignKey("debtors.id"), index=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    seat: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[CallbackStatus] = mapped_column(String(16), default="booked")
    agent: Mapped[str | None] = mapped_column(String(120))
    outcome: Mapped[str | None] = mapped_column(String(16))
    notes: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), default="sms")
    reminder_sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
