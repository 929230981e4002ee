"""The outbox and delivery status: storing outbound messages with the contact rules'
verdict, and applying what the provider reports about them."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.clock import local_day_bounds
from app.creditors.models import Creditor
from app.db import queued_work
from app.debts.models import ContactStatus, Debt, Debtor
from app.events import record_event
from app.messaging.gateway import INVALID_NUMBER_CODES, OPTED_OUT_CODES, UNREACHABLE_CODES
from app.messaging.governor import ContactPolicy, decide
from app.messaging.models import PENDING_STATUSES, STATUS_RANK, Message, PhoneOptOut
from app.segments import count_segments

MAX_BODY_CHARS = 1600
# Statuses of initiated messages that count against the daily cap once sent.
SENT_LIKE = ("sending", "submitted", "sent", "delivered", "undelivered", "read")


def initiated_counter(
    session: Session, debtor: Debtor, *, include_pending: bool, exclude_id: str | None = None
) -> Callable[[date], int]:
    """A function day -> how many initiated messages this debtor got (or will get) that
    local day. Pending (scheduled) ones count too when planning a new message, so two
    statements queued together spread over two days."""
    zone = ZoneInfo(debtor.timezone)

    def count_on(day: date) -> int:
        start, end = local_day_bounds(day, zone)
        sent = select(func.count(Message.id)).where(
            Message.debtor_id == debtor.id,
            Message.direction == "outbound",
            Message.initiated.is_(True),
            Message.status.in_(SENT_LIKE),
            Message.sent_at >= start,
            Message.sent_at < end,
        )
        if exclude_id is not None:
            sent = sent.where(Message.id != exclude_id)
        total = session.scalar(sent) or 0
        if include_pending:
            pending = select(func.count(Message.id)).where(
                Message.debtor_id == debtor.id,
                Message.direction == "outbound",
                Message.initiated.is_(True),
                Message.status.in_(("queued", "scheduled")),
                Message.send_after >= start,
                Message.send_after < end,
            )
            total += session.scalar(pending) or 0
        return total

    return count_on


def enqueue_message(
    session: Session,
    *,
    creditor: Creditor,
    debtor: Debtor,
    body: str,
    kind: str,
    now: datetime,
    actor: str,
    debt: Debt | None = None,
    initiated: bool = True,
    is_reply: bool = False,
    media_urls: Sequence[str] = (),
) -> Message:
    """Store one outbound message in the outbox, in the caller's transaction.

    The contact governor decides its first send time: `queued` when it may go now,
    `scheduled` when it waits for the window or the daily cap, `canceled` (stored, never
    sent) when the number may not be texted at all. `initiated` messages count against
    the daily cap; `is_reply` ones answer the debtor's own text and go at once.
    """
    if is_reply and initiated:
        raise ValueError("a message cannot both answer the debtor and be initiated")
    if not body.strip():
        raise ValueError("an outbound message needs a body")
    if len(body) > MAX_BODY_CHARS:
        raise ValueError(f"message body longer than {MAX_BODY_CHARS} characters")
    info = count_segments(body)
    decision = decide(
        now=now,
        contact_status=debtor.contact_status,
        timezone=debtor.timezone,
        other_timezones=debtor.other_timezones or (),
        policy=ContactPolicy.for_debtor(creditor, debtor),
        kind=kind,
        initiated=initiated,
        is_reply=is_reply,
        initiated_count_on=initiated_counter(session, debtor, include_pending=True),
    )
    if decision.send_at is None:
        status = "canceled"
    else:
        status = "queued" if decision.send_at <= now else "scheduled"
    message = Message(
        creditor_id=creditor.id,
        debtor_id=debtor.id,
        debt_id=debt.id if debt else None,
        direction="outbound",
        kind=kind,
        initiated=initiated,
        is_reply=is_reply,
        body=body,
        to_phone=debtor.phone,
        media_urls=list(media_urls) or None,
        status=status,
        segments=info.segments,
        encoding=info.encoding,
        attempts=0,
        send_after=decision.send_at,
        needs_reconcile=False,
        error_message=None if decision.send_at else decision.reason,
        created_at=now,
        updated_at=now,
    )
    session.add(message)
    session.flush()
    if status == "queued":
        queued_work(session)
    record_event(
        session,
        creditor_id=creditor.id,
        actor=actor,
        kind=f"message.{status}",
        now=now,
        debt_id=message.debt_id,
        debtor_id=debtor.id,
        to_value=message.id,
        data={
            "kind": kind,
            "send_after": decision.send_at.isoformat() if decision.send_at else None,
            "reason": decision.reason,
        },
    )
    return message


def set_contact_status(
    session: Session,
    debtor: Debtor,
    status: ContactStatus,
    *,
    now: datetime,
    actor: str,
    reason: str,
) -> bool:
    """Change a number's contact status, with an event (what waits for it is the
    caller's cascade: app.actions.lifecycle). Returns whether it changed."""
    if debtor.contact_status == status:
        return False
    record_event(
        session,
        creditor_id=debtor.creditor_id,
        actor=actor,
        kind="debtor.contact_status",
        now=now,
        debtor_id=debtor.id,
        from_value=debtor.contact_status,
        to_value=status,
        data={"reason": reason},
    )
    debtor.contact_status = status
    debtor.updated_at = now
    return True


def contact_status_for_error(code: int | None) -> str | None:
    """What a provider error code says about the number, if anything."""
    if code in OPTED_OUT_CODES:
        return "opted_out"
    if code in INVALID_NUMBER_CODES or code in UNREACHABLE_CODES:
        return "invalid"
    return None


def apply_provider_status(
    session: Session,
    message: Message,
    status: str,
    *,
    now: datetime,
    error_code: int | None = None,
    error_message: str | None = None,
    actor: str = "twilio",
) -> bool:
    """Move a message forward to `status`; never backwards (callbacks arrive out of
    order). Returns whether anything changed."""
    changed = False
    if STATUS_RANK.get(status, -1) > STATUS_RANK.get(message.status, -1):
        message.status = status
        changed = True
        if status in ("delivered", "read") and message.delivered_at is None:
            message.delivered_at = now
        if status in ("sent", "delivered", "read") and message.sent_at is None:
            message.sent_at = now
    if error_code is not None and message.error_code != error_code:
        message.error_code = error_code
        message.error_message = error_message
        changed = True
    if not changed:
        return False
    message.updated_at = now
    return True


def record_opt_out(
    session: Session, phone: str, *, now: datetime, source_message_id: str | None
) -> None:
    """Remember that this number said STOP (whoever it belongs to); two STOPs at once
    store it once."""
    if session.get(PhoneOptOut, phone) is not None:
        return
    try:
        with session.begin_nested():
            session.add(
                PhoneOptOut(phone=phone, opted_out_at=now, source_message_id=source_message_id)
            )
            session.flush()
    except IntegrityError:
        pass


def clear_opt_out(session: Session, phone: str) -> None:
    """The number said START."""
    row = session.get(PhoneOptOut, phone)
    if row is not None:
        session.delete(row)
        session.flush()


def opted_out_phones(session: Session, phones: Collection[str]) -> set[str]:
    """Which of `phones` said STOP and have not said START since."""
    if not phones:
        return set()
    return set(session.scalars(select(PhoneOptOut.phone).where(PhoneOptOut.phone.in_(phones))))


def cancel_pending_messages(
    session: Session,
    *,
    now: datetime,
    actor: str,
    reason: str,
    debt_id: str | None = None,
    debtor_id: str | None = None,
    initiated_only: bool = False,
    kinds: Collection[str] | None = None,
    except_kinds: Collection[str] = (),
) -> int:
    """Cancel outbound messages still waiting in the outbox (about a debt and/or to a
    debtor), with one event; sent ones are history and stay as they are."""
    if debt_id is None and debtor_id is None:
        raise ValueError("cancel_pending_messages needs a debt or a debtor")
    query = select(Message).where(
        Message.direction == "outbound", Message.status.in_(PENDING_STATUSES)
    )
    if debt_id is not None:
        query = query.where(Message.debt_id == debt_id)
    if debtor_id is not None:
        query = query.where(Message.debtor_id == debtor_id)
    if initiated_only:
        query = query.where(Message.initiated.is_(True))
    if kinds is not None:
        query = query.where(Message.kind.in_(kinds))
    if except_kinds:
        query = query.where(Message.kind.not_in(except_kinds))
    messages = list(session.scalars(query))
    for message in messages:
        message.status = "canceled"
        message.error_message = reason
        message.updated_at = now
    if messages and messages[0].creditor_id:
        record_event(
            session,
            creditor_id=messages[0].creditor_id,
            actor=actor,
            kind="messages.canceled",
            now=now,
            debt_id=debt_id,
            debtor_id=debtor_id or messages[0].debtor_id,
            data={"reason": reason, "message_ids": [m.id for m in messages]},
        )
    return len(messages)
