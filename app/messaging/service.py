"""The outbox and delivery status: storing outbound messages with the contact rules'
verdict, and applying what the provider reports about them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Hashable, Sequence
from datetime import date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.clock import local_day_bounds
from app.consent.models import REPLIES_ALLOWED, Suppression
from app.creditors.models import Creditor
from app.db import new_id, queued_work
from app.debts.models import ContactStatus, Debt, Debtor
from app.events import record_event
from app.messaging.gateway import INVALID_NUMBER_CODES, OPTED_OUT_CODES, UNREACHABLE_CODES
from app.messaging.governor import (
    ContactPolicy,
    Decision,
    agency_may_text,
    decide,
    paced_send_at,
)
from app.messaging.models import (
    PENDING_STATUSES,
    STATUS_RANK,
    Message,
    PhoneOptOut,
    SendPriority,
)
from app.read_ahead import MISSING, recall, remember
from app.segments import count_segments

MAX_BODY_CHARS = 1600
# Statuses of initiated messages that count against the daily cap once sent.
SENT_LIKE = ("sending", "submitted", "sent", "delivered", "undelivered", "read")


def sender_key(creditor: Creditor) -> tuple[str | None, str | None]:
    """What identifies the sender a creditor's texts go out from (None, None: the
    global PARLEY_TWILIO_FROM / _MESSAGING_SERVICE_SID)."""
    return (creditor.twilio_messaging_service_sid or None, creditor.twilio_from or None)


def creditors_sharing_sender(session: Session, creditor: Creditor) -> list[str]:
    """The ids of the creditors whose texts leave from the same sender as `creditor`'s
    (itself included): a number they all text sees one sender, so one daily cap."""
    service_sid, from_number = sender_key(creditor)
    query = select(Creditor.id).where(
        func.coalesce(Creditor.twilio_messaging_service_sid, "") == (service_sid or "")
    )
    if not service_sid:
        query = query.where(func.coalesce(Creditor.twilio_from, "") == (from_number or ""))
    return list(session.scalars(query))


def initiated_counter(
    session: Session,
    debtor: Debtor,
    *,
    include_pending: bool,
    exclude_id: str | None = None,
    creditor_ids: Sequence[str] | None = None,
) -> Callable[[date], int]:
    """A function day -> how many initiated messages this debtor's number got (or will
    get) that local day, from this creditor or (`creditor_ids`) every creditor sharing
    its sender. Pending (scheduled) ones count too when planning a new message, so two
    statements queued together spread over two days."""
    zone = ZoneInfo(debtor.timezone)
    ids = list(creditor_ids) if creditor_ids else [debtor.creditor_id]

    def count_on(day: date) -> int:
        start, end = local_day_bounds(day, zone)
        sent = select(func.count(Message.id)).where(
            Message.to_phone == debtor.phone,
            Message.creditor_id.in_(ids),
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
                Message.to_phone == debtor.phone,
                Message.creditor_id.in_(ids),
                Message.direction == "outbound",
                Message.initiated.is_(True),
                Message.status.in_(("queued", "scheduled")),
                Message.send_after >= start,
                Message.send_after < end,
            )
            total += session.scalar(pending) or 0
        return total

    return count_on


def _none_sent(_day: date) -> int:
    """The count of a number with nothing sent lately: no day to work out."""
    return 0


class BatchFacts:
    """What the governor needs about a whole batch of claimed texts, read in a few
    grouped queries instead of a COUNT and a look-up per text: the initiated texts sent
    lately to the batch's numbers (for the daily cap, across creditors sharing a
    sender), the suppressions of its debtors, and which creditors share each sender.
    Texts claimed in the batch are added as they are claimed (`counted`)."""

    # Every zone's local "today" starts less than this before now.
    HORIZON = timedelta(days=2)

    def __init__(
        self,
        session: Session,
        *,
        phones: Collection[str],
        debtor_ids: Collection[str],
        now: datetime,
    ) -> None:
        self.session = session
        self._sent: dict[str, list[tuple[str, str | None, datetime]]] = defaultdict(list)
        if phones:
            rows = session.execute(
                select(Message.id, Message.to_phone, Message.creditor_id, Message.sent_at).where(
                    Message.to_phone.in_(sorted(phones)),
                    Message.direction == "outbound",
                    Message.initiated.is_(True),
                    Message.status.in_(SENT_LIKE),
                    Message.sent_at >= now - self.HORIZON,
                )
            )
            for message_id, phone, creditor_id, sent_at in rows:
                if sent_at is not None:
                    self._sent[phone].append((message_id, creditor_id, sent_at))
        self._suppressions = active_suppressions(session, debtor_ids, now)
        self._sharing: dict[str, list[str]] = {}

    def sharing(self, creditor: Creditor) -> list[str]:
        if creditor.id not in self._sharing:
            self._sharing[creditor.id] = creditors_sharing_sender(self.session, creditor)
        return self._sharing[creditor.id]

    def suppression(self, debtor_id: str) -> str | None:
        return self._suppressions.get(debtor_id)

    def counted(self, message: Message) -> None:
        """A text of the batch was claimed: it counts against its number's cap now."""
        if message.initiated and message.sent_at is not None:
            self._sent[message.to_phone].append((message.id, message.creditor_id, message.sent_at))

    def counter(
        self, debtor: Debtor, creditor_ids: Sequence[str], exclude_id: str | None
    ) -> Callable[[date], int]:
        ids = set(creditor_ids)
        sent = [
            at
            for message_id, creditor_id, at in self._sent.get(debtor.phone, ())
            if creditor_id in ids and message_id != exclude_id
        ]
        if not sent:
            return _none_sent
        zone = ZoneInfo(debtor.timezone)

        def count_on(day: date) -> int:
            start, end = local_day_bounds(day, zone)
            return sum(1 for at in sent if start <= at < end)

        return count_on


def active_suppressions(
    session: Session, debtor_ids: Collection[str], now: datetime
) -> dict[str, str]:
    """debtor id -> the reason of its suppression in force now (the oldest), for the
    debtors that have one; one query."""
    if not debtor_ids:
        return {}
    found: dict[str, str] = {}
    rows = session.execute(
        select(Suppression.debtor_id, Suppression.reason)
        .where(
            Suppression.debtor_id.in_(sorted(debtor_ids)),
            Suppression.lifted_at.is_(None),
            Suppression.starts_at <= now,
            (Suppression.ends_at.is_(None)) | (Suppression.ends_at > now),
        )
        .order_by(Suppression.starts_at, Suppression.id)
    )
    for debtor_id, reason in rows:
        found.setdefault(debtor_id, reason)
    return found


def read_ahead_suppressions(session: Session, debtor_ids: Collection[str], now: datetime) -> None:
    """active_suppression for many debtors in one query, answered from memory for the
    rest of the transaction (app.read_ahead)."""
    found = active_suppressions(session, debtor_ids, now)
    answers: dict[Hashable, Any] = {debtor_id: found.get(debtor_id) for debtor_id in debtor_ids}
    remember(session, "suppressions", "debtor_id", answers, context=now)


def active_suppression(session: Session, debtor_id: str, now: datetime) -> str | None:
    """The reason of the debtor's suppression in force now, if any (the oldest)."""
    known = recall(session, "suppressions", debtor_id, context=now)
    if known is not MISSING:
        return cast(str | None, known)
    return active_suppressions(session, [debtor_id], now).get(debtor_id)


def contact_verdict(
    session: Session,
    *,
    creditor: Creditor,
    debtor: Debtor,
    kind: str,
    initiated: bool,
    is_reply: bool,
    now: datetime,
    planning: bool,
    exclude_id: str | None = None,
    message_id: str | None = None,
    facts: BatchFacts | None = None,
) -> Decision:
    """The governor's verdict on one text, with every fact it needs gathered here: the
    creditor's policy and kind, the debtor's status and suppressions, and the daily cap
    of the number across creditors sharing a sender. `planning` (queueing a new text)
    counts pending ones against the cap too. An initiated text held for later is paced:
    spread through the window rather than released with every other at its opening.
    The worker passes `facts` read once for its whole batch (no query per text)."""
    policy = ContactPolicy.for_debtor(creditor, debtor)
    if facts is not None:
        if planning:
            raise ValueError("batch facts count sent texts only; planning counts pending too")
        suppression = facts.suppression(debtor.id)
        counter = facts.counter(
            debtor, facts.sharing(creditor) if initiated else [debtor.creditor_id], exclude_id
        )
    else:
        suppression = active_suppression(session, debtor.id, now)
        counter = initiated_counter(
            session,
            debtor,
            include_pending=planning,
            exclude_id=exclude_id,
            creditor_ids=creditors_sharing_sender(session, creditor) if initiated else None,
        )
    decision = decide(
        now=now,
        contact_status=debtor.contact_status,
        timezone=debtor.timezone,
        other_timezones=debtor.other_timezones or (),
        policy=policy,
        kind=kind,
        initiated=initiated,
        is_reply=is_reply,
        initiated_count_on=counter,
        suppression=suppression,
        replies_allowed_while_suppressed=suppression in REPLIES_ALLOWED,
        agency_blocked=creditor.kind == "agency" and not agency_may_text(debtor.phone),
    )
    if not initiated or decision.send_at is None or decision.send_at <= now:
        return decision
    zones = [ZoneInfo(debtor.timezone), *(ZoneInfo(z) for z in debtor.other_timezones or ())]
    local_day = decision.send_at.astimezone(zones[0]).date().isoformat()
    paced = paced_send_at(
        planned=decision.send_at,
        zones=zones,
        policy=policy,
        spread_minutes=creditor.send_spread_minutes,
        key=f"{debtor.id}:{message_id or kind}:{local_day}",
    )
    return Decision(paced, decision.reason, decision.held_reason)


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
    decision = contact_verdict(
        session,
        creditor=creditor,
        debtor=debtor,
        kind=kind,
        initiated=initiated,
        is_reply=is_reply,
        now=now,
        planning=True,
    )
    if decision.send_at is None:
        status = "canceled"
    else:
        status = "queued" if decision.send_at <= now else "scheduled"
    message = Message(
        id=new_id(),
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
        held_reason=decision.held_reason,
        priority=int(SendPriority.for_message(is_reply=is_reply, initiated=initiated, kind=kind)),
        needs_reconcile=False,
        error_message=None if decision.send_at else decision.reason,
        created_at=now,
        updated_at=now,
    )
    session.add(message)
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
            "held_reason": decision.held_reason,
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


def forward_status(
    status: str,
    reported: str,
    *,
    delivered_at: datetime | None,
    sent_at: datetime | None,
    now: datetime,
) -> tuple[str, datetime | None, datetime | None]:
    """A message's status, delivered_at and sent_at once the provider reports
    `reported`: moved forward only, never backwards (callbacks arrive out of order)."""
    if STATUS_RANK.get(reported, -1) <= STATUS_RANK.get(status, -1):
        return status, delivered_at, sent_at
    if reported in ("delivered", "read") and delivered_at is None:
        delivered_at = now
    if reported in ("sent", "delivered", "read") and sent_at is None:
        sent_at = now
    return reported, delivered_at, sent_at


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
    moved, delivered_at, sent_at = forward_status(
        message.status, status, delivered_at=message.delivered_at, sent_at=message.sent_at, now=now
    )
    if moved != message.status:
        message.status, message.delivered_at, message.sent_at = moved, delivered_at, sent_at
        changed = True
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
    held_reason: str = "canceled",
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
        message.held_reason = held_reason
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


REVIEW_OUTCOMES = ("sent", "resend", "cancel")


def review_parked_message(
    session: Session, message: Message, outcome: str, *, now: datetime, actor: str, note: str | None
) -> None:
    """Apply a person's verdict to a message parked in `needs_review` (see
    app/worker.py: the worker never guesses whether an uncertain attempt went)."""
    if outcome not in REVIEW_OUTCOMES:
        raise ValueError(f"unknown review outcome {outcome!r}")
    message.needs_reconcile = False
    message.reconcile_since = None
    message.lease_expires_at = None
    message.updated_at = now
    if outcome == "sent":
        message.status = "submitted"
        message.sent_at = message.sent_at or now
        message.error_message = "confirmed sent by a person after review"
    elif outcome == "resend":
        message.status = "queued"
        message.send_after = now
        message.sent_at = None
        message.retry_until = None
        message.error_message = None
    else:
        message.status = "canceled"
        message.error_message = "left unsent by a person after review"
    if message.creditor_id:
        record_event(
            session,
            creditor_id=message.creditor_id,
            actor=actor,
            kind="message.reviewed",
            now=now,
            debt_id=message.debt_id,
            debtor_id=message.debtor_id,
            to_value=message.id,
            data={"outcome": outcome, "note": note},
        )
    session.flush()
