"""Messages in and out. Outbound rows are the outbox: stored first, sent by the worker."""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import ID, Base, new_id

# Outbound life: queued (due, waiting for a worker) | scheduled (held by the contact
# rules until send_after) -> sending (claimed by a worker, lease running) -> submitted
# (the provider accepted it) -> sent -> delivered | undelivered | failed (-> read).
# canceled: never sent (the number opted out or went bad before its turn).
# needs_review: the worker could not tell whether an earlier attempt reached the provider
# and will not guess; a person decides (error_message says why).
# expired: the provider stayed unreachable past the message's retry deadline (why in
# error_message); never sent.
# Inbound: received.
MESSAGE_STATUSES = (
    "queued",
    "scheduled",
    "sending",
    "needs_review",
    "expired",
    "submitted",
    "sent",
    "delivered",
    "undelivered",
    "failed",
    "read",
    "canceled",
    "received",
)
DIRECTIONS = ("inbound", "outbound")

# How far along a message is; a status callback never moves a message backwards.
STATUS_RANK = {
    "queued": 0,
    "scheduled": 0,
    "sending": 1,
    "needs_review": 1,
    "submitted": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "read": 5,
    "canceled": 9,
    "expired": 9,
    "received": 9,
}
PENDING_STATUSES = ("queued", "scheduled")


# The answer to a sender Parley does not know: an outbox row with no debtor.
NEUTRAL_KIND = "neutral"

# Initiated texts about an agreement the debtor made (a plan, a promise, a call they
# booked): they go before statements and cadence (SendPriority.REMINDER).
REMINDER_KINDS = frozenset(
    {
        "installment_reminder",
        "installment_late",
        "plan_broken",
        "promise_reminder",
        "promise_followup",
        "callback_reminder",
    }
)


class SendPriority(IntEnum):
    """The order in which the worker claims due messages in every sending lane (lower
    first): an answer to the debtor's own text never waits behind a wave of reminders or
    statements, and a plan's reminder never waits behind a statement wave."""

    ANSWER = 0  # replies to a text the debtor just sent
    NOTICE = 1  # other non-initiated texts (agents' messages, confirmations)
    REMINDER = 2  # initiated texts about a plan, a promise or a booked call
    BULK = 3  # other initiated texts: statements and cadence

    @classmethod
    def for_message(cls, *, is_reply: bool, initiated: bool, kind: str = "") -> SendPriority:
        if is_reply:
            return cls.ANSWER
        if not initiated:
            return cls.NOTICE
        return cls.REMINDER if kind in REMINDER_KINDS else cls.BULK


class PhoneOptOut(Base):
    """A number that replied STOP: nothing goes to it, for any creditor, until START.
    Kept apart from debtors so that an opt-out from a number Parley did not know yet
    still holds when a creditor later imports it."""

    __tablename__ = "phone_opt_outs"

    phone: Mapped[str] = mapped_column(String(40), primary_key=True)
    opted_out_at: Mapped[datetime]
    source_message_id: Mapped[str | None] = mapped_column(String(36))


class Message(Base):
    """One SMS/MMS, inbound or outbound, with its delivery history fields."""

    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint(f"status IN {MESSAGE_STATUSES}", name="status"),
        CheckConstraint(f"direction IN {DIRECTIONS}", name="direction"),
        CheckConstraint(f"priority IN {tuple(int(p) for p in SendPriority)}", name="priority"),
        Index("ix_messages_outbox", "status", "send_after"),
        # The claim: pending rows in claim order (answers first, then the oldest due),
        # so a claim reads its batch off the index instead of sorting every due row.
        Index(
            "ix_messages_pending",
            "priority",
            "send_after",
            "id",
            postgresql_where=text("status IN ('queued', 'scheduled')"),
            sqlite_where=text("status IN ('queued', 'scheduled')"),
        ),
        Index("ix_messages_debtor_created", "debtor_id", "created_at"),
        # The last texts sent to a debtor (the focus debt, routing a reply by sender).
        Index(
            "ix_messages_debtor_outbound",
            "debtor_id",
            "created_at",
            postgresql_where=text("direction = 'outbound'"),
            sqlite_where=text("direction = 'outbound'"),
        ),
        # The daily cap counts per number across creditors sharing a sender.
        Index("ix_messages_to_phone_sent", "to_phone", "sent_at"),
        # The deliverability guard reads a creditor's last initiated texts.
        Index("ix_messages_creditor_initiated_sent", "creditor_id", "initiated", "sent_at"),
        # One neutral answer a day to a number no creditor knows.
        Index(
            "ix_messages_neutral_to",
            "to_phone",
            "created_at",
            postgresql_where=text("kind = 'neutral'"),
            sqlite_where=text("kind = 'neutral'"),
        ),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    # Null only for inbound texts from numbers no creditor knows.
    creditor_id: Mapped[str | None] = mapped_column(ForeignKey("creditors.id"), index=True)
    debtor_id: Mapped[str | None] = mapped_column(ForeignKey("debtors.id"))
    debt_id: Mapped[str | None] = mapped_column(ForeignKey("debts.id"), index=True)
    direction: Mapped[str] = mapped_column(String(8))
    # statement, reply, reminder, agent, confirmation, neutral, inbound ...
    kind: Mapped[str] = mapped_column(String(32))
    # Initiated messages pass the daily cap; answers to the debtor's own texts do not.
    initiated: Mapped[bool] = mapped_column(Boolean, default=False)
    # An immediate answer to a text the debtor just sent: goes at once, whatever the
    # hour, but only while it is fresh (see governor.REPLY_FRESHNESS).
    is_reply: Mapped[bool] = mapped_column(Boolean, default=False)
    body: Mapped[str] = mapped_column(Text)
    to_phone: Mapped[str] = mapped_column(String(40))
    from_phone: Mapped[str | None] = mapped_column(String(40))
    media_urls: Mapped[list[Any] | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    segments: Mapped[int] = mapped_column(Integer, default=1)
    encoding: Mapped[str] = mapped_column(String(8), default="GSM-7")
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Outbox: the earliest moment the worker may send it.
    send_after: Mapped[datetime | None]
    # Why it is not sent now (governor.HELD_REASONS); None when nothing holds it.
    held_reason: Mapped[str | None] = mapped_column(String(32))
    # Claim order (SendPriority): lower goes first.
    priority: Mapped[int] = mapped_column(SmallInteger, default=int(SendPriority.BULK))
    # Set at the first failure the provider caused (outage, 5xx, 429, timeout): past
    # this moment the message expires instead of waiting for the provider again.
    retry_until: Mapped[datetime | None]
    lease_expires_at: Mapped[datetime | None]
    # An earlier attempt may have reached the provider (timeout, crash): look before resending.
    needs_reconcile: Mapped[bool] = mapped_column(Boolean, default=False)
    # When that first uncertain attempt was made: the look-up searches the provider from
    # shortly before it, and parks the message for a person if it still cannot decide
    # long after it.
    reconcile_since: Mapped[datetime | None]
    # For inbound: what the reply was understood as.
    intent: Mapped[str | None] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]


class SendingLane(Base):
    """One sender's lane (a creditor's `twilio_from` / messaging service, or the global
    default; key `account` is the whole Twilio account): what its budgets have spent in
    the current second and UTC day, and the pause it put itself in after Twilio said
    "too fast" (429, 30001, 63017)."""

    __tablename__ = "sending_lanes"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    # Messages claimed in the second starting at rate_second.
    rate_second: Mapped[datetime | None]
    rate_count: Mapped[int] = mapped_column(Integer, default=0)
    # Segments claimed on the UTC day `day` (ISO date).
    day: Mapped[str | None] = mapped_column(String(10))
    day_segments: Mapped[int] = mapped_column(Integer, default=0)
    paused_until: Mapped[datetime | None]
    pause_code: Mapped[int | None] = mapped_column(Integer)
    pause_reason: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime]


class DeliverabilityGuard(Base):
    """A creditor's initiated texts paused because too many of its last texts met an
    opt-out or a carrier filter (Twilio 30007); a person resumes them (the rates then
    count only texts sent after `resumed_at`)."""

    __tablename__ = "deliverability_guards"

    creditor_id: Mapped[str] = mapped_column(ForeignKey("creditors.id"), primary_key=True)
    paused_since: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(String(200))
    # Over the texts weighed when it paused: how many, and how many opted out / were
    # filtered.
    sample: Mapped[int] = mapped_column(Integer, default=0)
    opted_out: Mapped[int] = mapped_column(Integer, default=0)
    filtered: Mapped[int] = mapped_column(Integer, default=0)
    resumed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


# Oldest first; an inbound text precedes the answers stored in the same instant.
CHRONOLOGICAL = (Message.created_at, (Message.direction == "outbound"), Message.id)
