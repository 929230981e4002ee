"""Texts Parley initiates about booked calls: the call moved or was canceled by the
team, a fresh menu after an unanswered call, and reminders before each call."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.callbacks.models import Callback, CallbackCalendar
from app.callbacks.service import (
    ACTIVE_STATUSES,
    MENU_KIND,
    REMINDABLE_DEBT_STATUSES,
    REMINDER_MINUTES_MAX,
    callback_text,
    cancel_option,
    get_calendar,
    keep_cancel_open,
    local_when,
    offerable_slots,
    slot_options,
)
from app.callbacks.slots import slot_menu_text
from app.config import Settings
from app.conversations.models import MENU_TTL, Conversation, MenuOption
from app.conversations.service import get_conversation
from app.creditors.models import Creditor
from app.db import is_postgres
from app.debts.models import Debt, Debtor
from app.events import record_event
from app.jobs import PeriodicJob
from app.messaging.models import Message
from app.messaging.service import contact_verdict, enqueue_message
from app.texts import locale_tag

# --------------------------------------------------------------- initiated texts


def _planned_send_at(
    session: Session, creditor: Creditor, debtor: Debtor, kind: str, now: datetime
) -> datetime | None:
    """When an initiated text queued now would go out, by the same rules
    enqueue_message applies (None: never)."""
    return contact_verdict(
        session,
        creditor=creditor,
        debtor=debtor,
        kind=kind,
        initiated=True,
        is_reply=False,
        now=now,
        planning=True,
    ).send_at


def _open_menu(
    conversation: Conversation,
    options: list[MenuOption],
    debt_id: str | None,
    *,
    opens_at: datetime,
    now: datetime,
) -> None:
    # For texts Parley initiates: the menu must outlive the wait for the contact window,
    # so it expires MENU_TTL after the text goes out.
    conversation.open_menu(MENU_KIND, options, debt_id, expires_at=opens_at + MENU_TTL, now=now)


def _initiate(
    session: Session,
    creditor: Creditor,
    debtor: Debtor,
    debt: Debt | None,
    body: str,
    *,
    kind: str,
    now: datetime,
    actor: str,
) -> Message:
    return enqueue_message(
        session,
        creditor=creditor,
        debtor=debtor,
        debt=debt,
        body=body,
        kind=kind,
        now=now,
        actor=actor,
        initiated=True,
    )


def _parties(session: Session, callback: Callback) -> tuple[Creditor, Debtor, Debt | None]:
    creditor = session.get(Creditor, callback.creditor_id)
    debtor = session.get(Debtor, callback.debtor_id)
    assert creditor is not None and debtor is not None
    debt = session.get(Debt, callback.debt_id) if callback.debt_id else None
    return creditor, debtor, debt


def notify_moved(session: Session, callback: Callback, *, now: datetime, actor: str) -> Message:
    """Tell the debtor their call moved (initiated: the contact rules decide when)."""
    creditor, debtor, debt = _parties(session, callback)
    conversation = get_conversation(session, debtor, now)
    if not conversation.menu_is_open(now) or conversation.menu_kind == MENU_KIND:
        _open_menu(conversation, [cancel_option(callback)], callback.debt_id, opens_at=now, now=now)
        keep_cancel_open(conversation, callback)
    body = callback_text("moved", creditor, debtor, when=local_when(callback, debtor))
    return _initiate(
        session, creditor, debtor, debt, body, kind="callback_moved", now=now, actor=actor
    )


def notify_canceled_by_team(
    session: Session, callback: Callback, *, now: datetime, actor: str
) -> Message:
    """Tell the debtor the team canceled their call, and how to pick a new time."""
    creditor, debtor, debt = _parties(session, callback)
    conversation = get_conversation(session, debtor, now)
    if conversation.menu_kind == MENU_KIND:
        # Its X would now point at a canceled call.
        conversation.close_menu()
    body = callback_text("canceled_by_team", creditor, debtor, when=local_when(callback, debtor))
    return _initiate(
        session, creditor, debtor, debt, body, kind="callback_canceled", now=now, actor=actor
    )


def offer_after_no_answer(
    session: Session, callback: Callback, *, now: datetime, actor: str
) -> Message:
    """After an unanswered call: text the debtor a fresh slot menu (initiated, so the
    contact rules decide when), with slots counted from when the text will go out."""
    creditor, debtor, debt = _parties(session, callback)
    send_at = _planned_send_at(session, creditor, debtor, "callback_no_answer", now) or now
    calendar = get_calendar(session, creditor.id)
    slots = (
        offerable_slots(session, calendar, creditor, debtor, now=send_at)
        if calendar is not None
        else []
    )
    if slots:
        conversation = get_conversation(session, debtor, now)
        _open_menu(conversation, slot_options(slots), callback.debt_id, opens_at=send_at, now=now)
        menu = slot_menu_text(
            slots, debtor.timezone, locale_tag(debtor.language, debtor.phone), now=send_at
        )
        body = callback_text("no_answer", creditor, debtor, menu=menu)
    else:
        body = callback_text("no_answer_no_slots", creditor, debtor)
    return _initiate(
        session, creditor, debtor, debt, body, kind="callback_no_answer", now=now, actor=actor
    )


# ------------------------------------------------------------------------ reminders


def send_due_reminders(session: Session, now: datetime) -> int:
    """Queue the reminder of every active call whose reminder time has come. Returns how
    many were queued. A reminder the contact rules would hold past the call's start (or
    never send) is skipped and logged instead: a late reminder is worse than none."""
    query = (
        select(Callback, CallbackCalendar)
        .join(CallbackCalendar, CallbackCalendar.creditor_id == Callback.creditor_id)
        .join(Debtor, Debtor.id == Callback.debtor_id)
        .outerjoin(Debt, Debt.id == Callback.debt_id)
        .where(
            Callback.status.in_(ACTIVE_STATUSES),
            Callback.reminder_sent_at.is_(None),
            Callback.starts_at > now,
            Callback.starts_at <= now + timedelta(minutes=REMINDER_MINUTES_MAX),
            CallbackCalendar.reminder_minutes_before > 0,
            # Not for a number that opted out or is wrong, nor a debt no longer owed.
            Debtor.contact_status == "active",
            or_(Callback.debt_id.is_(None), Debt.status.in_(REMINDABLE_DEBT_STATUSES)),
        )
        .order_by(Callback.starts_at, Callback.id)
    )
    if is_postgres(session):
        # Several workers may tick at once; each reminder goes out from one of them.
        query = query.with_for_update(skip_locked=True, of=Callback)
    queued = 0
    for callback, calendar in session.execute(query):
        if now < callback.starts_at - timedelta(minutes=calendar.reminder_minutes_before):
            continue
        creditor, debtor, debt = _parties(session, callback)
        callback.reminder_sent_at = now
        callback.updated_at = now
        send_at = _planned_send_at(session, creditor, debtor, "callback_reminder", now)
        if send_at is None or send_at >= callback.starts_at:
            record_event(
                session,
                creditor_id=creditor.id,
                actor="worker",
                kind="callback.reminder_skipped",
                now=now,
                debt_id=callback.debt_id,
                debtor_id=debtor.id,
                data={
                    "callback_id": callback.id,
                    "reason": "number may not be texted"
                    if send_at is None
                    else "contact rules hold it past the call",
                },
            )
            continue
        conversation = get_conversation(session, debtor, now)
        if not conversation.menu_is_open(now) or conversation.menu_kind == MENU_KIND:
            # The reminder says "Reply X to cancel": make X mean that again, unless
            # the debtor is in the middle of another menu (a plan choice).
            _open_menu(
                conversation, [cancel_option(callback)], callback.debt_id, opens_at=send_at, now=now
            )
            keep_cancel_open(conversation, callback)
        body = callback_text("reminder", creditor, debtor, when=local_when(callback, debtor))
        message = _initiate(
            session, creditor, debtor, debt, body, kind="callback_reminder", now=now, actor="worker"
        )
        record_event(
            session,
            creditor_id=creditor.id,
            actor="worker",
            kind="callback.reminder_queued",
            now=now,
            debt_id=callback.debt_id,
            debtor_id=debtor.id,
            to_value=message.id,
            data={"callback_id": callback.id},
        )
        queued += 1
    return queued


def callback_reminders(session: Session, now: datetime, settings: Settings) -> None:
    """Queue the reminder texts whose time has come (the contact rules still decide)."""
    send_due_reminders(session, now)


JOBS: list[PeriodicJob] = [callback_reminders]
