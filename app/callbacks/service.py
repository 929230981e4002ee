"""Callback scheduling: the team's calendar, slots a debtor may be offered, booking a
seat without ever overbooking, the agents' transitions, and the texts that go with them.

Slot arithmetic lives in ``app.callbacks.slots`` (pure); this module adds the database
(who holds which seat), the event log and the outbox. Services only flush; the caller's
transaction commits.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.callbacks.models import Callback, CallbackCalendar, CallbackStatus
from app.callbacks.slots import (
    END_OF_DAY,
    MENU_LETTERS,
    CalendarSpec,
    DebtorWindow,
    Slot,
    calendar_from_payload,
    calendar_to_payload,
    format_slot_local,
    iter_slots,
    nearest_open_slot,
    open_slots,
    supported_date,
)
from app.callbacks.texts import CANCEL_KEY, render_callback_text
from app.clock import local_day_bounds, local_instant
from app.conversations.models import Conversation, MenuKind, MenuOption
from app.creditors.models import Creditor
from app.db import new_id
from app.debts.models import Debt, Debtor
from app.errors import Conflict, NotFound, ValidationFailed
from app.events import record_event
from app.texts import locale_tag, short_creditor_name

MENU_SIZE = 3
HORIZON_DAYS = 21
# "Call me at 3" books the nearest open slot this close to 3; further away the debtor
# is better served by choosing from the menu than by a time they did not ask for.
NEAREST_MAX_DISTANCE = timedelta(hours=2)
REMINDER_MINUTES_MAX = 7 * 24 * 60
DEFAULT_REMINDER_MINUTES = 60
# Statuses in which a callback holds its seat and still has to happen.
ACTIVE_STATUSES = ("booked", "claimed")
# A reminder goes out only while the call is still about money owed by a reachable
# debtor: not for a settled, disputed, paused or closed debt, nor a number that opted
# out or turned out to be wrong.
REMINDABLE_DEBT_STATUSES = ("open", "in_plan")
MENU_KIND: MenuKind = "callback"


# ------------------------------------------------------------------------- calendar


def get_calendar(session: Session, creditor_id: str) -> CallbackCalendar | None:
    """The creditor's callback calendar, or None when the team has not set one."""
    return session.scalars(
        select(CallbackCalendar).where(CallbackCalendar.creditor_id == creditor_id)
    ).first()


def lock_calendar(session: Session, creditor_id: str) -> CallbackCalendar | None:
    """The creditor's calendar, re-read and locked until the transaction ends
    (PostgreSQL; SQLite already runs one writer at a time). Every booking takes this
    lock first, so bookings of one creditor are decided one after the other: two calls
    at overlapping but different times cannot both see the last seat free, which the
    unique (creditor, starts_at, seat) index alone could not catch."""
    return session.scalars(
        select(CallbackCalendar)
        .where(CallbackCalendar.creditor_id == creditor_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def calendar_spec(calendar: CallbackCalendar) -> CalendarSpec:
    """The stored calendar as the slot module's spec (stored rows were validated)."""
    spec, errors = calendar_from_payload(
        {
            "timezone": calendar.timezone,
            "hours": calendar.hours,
            "slot_minutes": calendar.slot_minutes,
            "capacity": calendar.capacity,
            "holiday_country": calendar.holiday_country,
            "holiday_subdivision": calendar.holiday_subdivision,
            "closed_dates": calendar.closed_dates,
            "lead_minutes": calendar.lead_minutes,
        }
    )
    if spec is None:
        raise RuntimeError(f"stored callback calendar {calendar.id} is invalid: {errors}")
    return spec


def calendar_view(calendar: CallbackCalendar) -> dict[str, Any]:
    """The calendar as the API shows it: the PUT body plus reminder and update time."""
    payload: dict[str, Any] = dict(calendar_to_payload(calendar_spec(calendar)))
    payload["reminder_minutes_before"] = calendar.reminder_minutes_before
    payload["updated_at"] = calendar.updated_at
    return payload


def save_calendar(
    session: Session,
    creditor: Creditor,
    payload: Mapping[str, object],
    *,
    now: datetime,
    actor: str,
) -> CallbackCalendar:
    """Replace the creditor's calendar with `payload` (the PUT body), or raise
    ValidationFailed naming every wrong field at once."""
    data = dict(payload)
    reminder = data.pop("reminder_minutes_before", None)
    errors: list[tuple[str, str]] = []
    if reminder is None:
        reminder = DEFAULT_REMINDER_MINUTES
    elif (
        not isinstance(reminder, int)
        or isinstance(reminder, bool)
        or not 0 <= reminder <= REMINDER_MINUTES_MAX
    ):
        errors.append(
            (
                "reminder_minutes_before",
                f"must be a whole number of minutes from 0 (no reminder) to {REMINDER_MINUTES_MAX}",
            )
        )
    spec, spec_errors = calendar_from_payload(data)
    errors.extend(spec_errors)
    if spec is None or errors:
        summary = "; ".join(f"{field}: {message}" for field, message in errors)
        raise ValidationFailed(f"invalid callback calendar: {summary}", fields=errors)
    assert isinstance(reminder, int)
    stored = calendar_to_payload(spec)
    calendar = get_calendar(session, creditor.id)
    before = calendar_to_payload(calendar_spec(calendar)) if calendar else None
    if calendar is None:
        calendar = CallbackCalendar(creditor_id=creditor.id, created_at=now)
        session.add(calendar)
    calendar.timezone = spec.timezone
    calendar.hours = cast(dict[str, Any], stored["hours"])
    calendar.slot_minutes = spec.slot_minutes
    calendar.capacity = spec.capacity
    calendar.holiday_country = spec.holiday_country
    calendar.holiday_subdivision = spec.holiday_subdivision
    calendar.closed_dates = [d.isoformat() for d in sorted(spec.closed_dates)]
    calendar.lead_minutes = spec.lead_minutes
    calendar.reminder_minutes_before = reminder
    calendar.updated_at = now
    session.flush()
    record_event(
        session,
        creditor_id=creditor.id,
        actor=actor,
        kind="callback_calendar.updated",
        now=now,
        data={"before": before, "after": {**stored, "reminder_minutes_before": reminder}},
    )
    return calendar


def _hhmm(value: str) -> time:
    # The creditor's window may end at "24:00", which datetime.time cannot spell.
    return END_OF_DAY if value.strip() == "24:00" else time.fromisoformat(value.strip())


def debtor_window(creditor: Creditor, debtor: Debtor) -> DebtorWindow:
    """The creditor's contact window in the debtor's own zone: calls obey it too."""
    return DebtorWindow(
        debtor.timezone, _hhmm(creditor.contact_window_start), _hhmm(creditor.contact_window_end)
    )


def _holders_query(
    creditor_id: str, start: datetime, end: datetime
) -> Select[datetime, datetime, int | None]:
    """Callbacks of the creditor that hold a seat during some part of [start, end).
    A completed call keeps its seat (the slot was used); a canceled one frees it."""
    return select(Callback.starts_at, Callback.ends_at, Callback.seat).where(
        Callback.creditor_id == creditor_id,
        Callback.seat.is_not(None),
        or_(
            Callback.starts_at == start,
            and_(Callback.starts_at < end, Callback.ends_at > start),
        ),
    )


def booked_counts(
    session: Session, spec: CalendarSpec, creditor_id: str, start: datetime, end: datetime
) -> dict[datetime, int]:
    """How many seats are held during each of the calendar's slots starting in
    [start, end), keyed by slot start. A seat counts for every slot its call overlaps:
    after the team changes its slot length or zone, older bookings no longer sit on the
    new slot grid but still take an agent."""
    slots = list(iter_slots(spec, start, end))
    if not slots:
        return {}
    rows = session.execute(
        _holders_query(creditor_id, slots[0].starts_at, slots[-1].ends_at).order_by(
            Callback.starts_at
        )
    ).all()
    if not rows:
        return {}
    starts = [row.starts_at for row in rows]
    longest = max(row.ends_at - row.starts_at for row in rows)
    counts: dict[datetime, int] = {}
    for slot in slots:
        first = bisect_left(starts, slot.starts_at - longest)
        last = bisect_left(starts, slot.ends_at)
        held = sum(1 for row in rows[first:last] if row.ends_at > slot.starts_at)
        if held:
            counts[slot.starts_at] = held
    return counts


def horizon_end(now: datetime) -> datetime:
    """Calls are booked only before this instant (the menus' horizon)."""
    return now + timedelta(days=HORIZON_DAYS)


def bookable_day(day: date, local_today: date) -> bool:
    """True if a debtor may ask for a call on `day` (their local date): not in the past
    and not beyond the horizon. Checked before any date arithmetic on `day`."""
    return supported_date(day) and local_today <= day <= local_today + timedelta(days=HORIZON_DAYS)


def bookable_instant(requested: datetime, now: datetime) -> bool:
    """True if a stated time is neither past nor beyond the horizon."""
    return now <= requested < horizon_end(now)


def offerable_slots(
    session: Session,
    calendar: CallbackCalendar,
    creditor: Creditor,
    debtor: Debtor,
    *,
    now: datetime,
    not_before: datetime | None = None,
    count: int = MENU_SIZE,
) -> list[Slot]:
    """The soonest `count` open slots for this debtor: at least the lead time away, in
    the team's hours, not full, not on a holiday, inside the debtor's window; from
    `not_before` on when given (a day the debtor asked for)."""
    spec = calendar_spec(calendar)
    start = now
    if not_before is not None:
        # open_slots adds the lead to its "now": shift it so the first slot may start
        # at not_before, but never earlier than the real now + lead.
        start = max(now, not_before - timedelta(minutes=spec.lead_minutes))
    end = horizon_end(now)
    if start >= end:
        return []
    booked = booked_counts(session, spec, creditor.id, start, end)
    slots = open_slots(
        spec,
        now=start,
        debtor=debtor_window(creditor, debtor),
        booked=booked,
        count=count,
        horizon_days=HORIZON_DAYS,
    )
    # From a later day on, the menu still ends at the horizon counted from now.
    return [slot for slot in slots if slot.starts_at < end]


def slots_near(
    session: Session,
    calendar: CallbackCalendar,
    creditor: Creditor,
    debtor: Debtor,
    *,
    requested: datetime,
    now: datetime,
    count: int = MENU_SIZE,
) -> list[Slot]:
    """The `count` open slots nearest a stated time (before or after it), in order."""
    candidates = offerable_slots(
        session,
        calendar,
        creditor,
        debtor,
        now=now,
        not_before=requested - NEAREST_MAX_DISTANCE,
        count=count * 4,
    )
    nearest = sorted(candidates, key=lambda s: (abs(s.starts_at - requested), s.starts_at))
    return sorted(nearest[:count], key=lambda s: s.starts_at)


def nearest_slot(
    session: Session,
    calendar: CallbackCalendar,
    creditor: Creditor,
    debtor: Debtor,
    *,
    requested: datetime,
    now: datetime,
) -> Slot | None:
    """The open slot nearest to a time the debtor stated, if one is close enough and
    before the horizon (see ``bookable_instant`` for the stated time itself)."""
    spec = calendar_spec(calendar)
    booked = booked_counts(
        session,
        spec,
        creditor.id,
        requested - NEAREST_MAX_DISTANCE,
        requested + NEAREST_MAX_DISTANCE + timedelta(minutes=1),
    )
    slot = nearest_open_slot(
        spec,
        requested=requested,
        now=now,
        debtor=debtor_window(creditor, debtor),
        booked=booked,
        max_distance=NEAREST_MAX_DISTANCE,
    )
    if slot is None or slot.starts_at >= horizon_end(now):
        return None
    return slot


def calendar_slot_at(
    calendar: CallbackCalendar,
    creditor: Creditor,
    debtor: Debtor,
    starts_at: datetime,
    *,
    now: datetime,
    honor_lead: bool = True,
) -> Slot | None:
    """The calendar's slot starting exactly at `starts_at` if a debtor may still have it
    (open day and hours, inside their window, lead time unless `honor_lead` is off);
    fullness is the seat's business, see ``take_seat``."""
    spec = calendar_spec(calendar)
    if not honor_lead:
        # An agent moving a call may pick any future slot; the lead exists to give
        # agents notice, and here the agent is the one choosing.
        spec = replace(spec, lead_minutes=0)
        if starts_at <= now:
            return None
    return nearest_open_slot(
        spec,
        requested=starts_at,
        now=now,
        debtor=debtor_window(creditor, debtor),
        booked={},
        max_distance=timedelta(0),
    )


def requested_instant(
    timezone: str, requested_date: date | None, requested_time: time, now: datetime
) -> datetime:
    """A time the debtor stated in their own zone, as UTC. Without a date it is the next
    such time: "call me at 3pm" said at 4pm means tomorrow. ValueError for a date
    outside 1970..2099 (check ``bookable_day`` first)."""
    zone = ZoneInfo(timezone)
    day = requested_date or now.astimezone(zone).date()
    if not supported_date(day):
        raise ValueError(f"{day.isoformat()} is outside the dates Parley schedules on")
    instant = local_instant(day, requested_time, zone)
    if requested_date is None and instant <= now:
        instant = local_instant(day + timedelta(days=1), requested_time, zone)
    return instant


def local_day_start(timezone: str, day: date) -> datetime:
    """The UTC instant where `day` starts in `timezone` (ValueError outside 1970..2099)."""
    if not supported_date(day):
        raise ValueError(f"{day.isoformat()} is outside the dates Parley schedules on")
    return local_day_bounds(day, ZoneInfo(timezone))[0]


def slot_options(slots: Sequence[Slot]) -> list[MenuOption]:
    """Menu options as the conversation stores them: {"key", "starts_at", "ends_at"}."""
    return [
        MenuOption(key=letter, starts_at=s.starts_at.isoformat(), ends_at=s.ends_at.isoformat())
        for letter, s in zip(MENU_LETTERS, slots, strict=False)
    ]


def cancel_option(callback: Callback) -> MenuOption:
    """The menu option that cancels a booked call (see app.callbacks.texts)."""
    return MenuOption(key=CANCEL_KEY, action="cancel", callback_id=callback.id)


def slot_of(callback: Callback) -> Slot:
    """The slot a callback occupies."""
    return Slot(callback.starts_at, callback.ends_at)


def local_when(callback: Callback, debtor: Debtor) -> str:
    """The call's time in the debtor's zone and language, as texts show it."""
    return format_slot_local(
        slot_of(callback), debtor.timezone, locale_tag(debtor.language, debtor.phone)
    )


# ------------------------------------------------------------------------- booking


def active_callback(session: Session, debtor_id: str, now: datetime) -> Callback | None:
    """The debtor's next call that still has to happen, if any."""
    return session.scalars(
        select(Callback)
        .where(
            Callback.debtor_id == debtor_id,
            Callback.status.in_(ACTIVE_STATUSES),
            Callback.starts_at > now,
        )
        .order_by(Callback.starts_at)
        .limit(1)
    ).first()


def take_seat(session: Session, callback: Callback, slot: Slot) -> bool:
    """Give `callback` a free seat in `slot` (inserting or moving it); False when full.

    Full means the calls holding a seat at some moment of the slot (any start: after a
    change of slot length or zone older calls overlap the new grid) number at least the
    calendar's current capacity, which may have been lowered since they were booked.
    The seat is a number no overlapping call uses.

    Bookings of one creditor are serialised by the calendar row's lock (see
    ``lock_calendar``), taken before the seats are counted and held to the commit. The
    unique (creditor, starts_at, seat) index stays the last guard: a writer that got
    past it anyway gets an IntegrityError inside its savepoint and looks again, and its
    own transaction stays usable for the fresh menu.
    """
    calendar = lock_calendar(session, callback.creditor_id)
    if calendar is None:
        return False
    capacity = calendar.capacity
    for _attempt in range(3):
        try:
            with session.begin_nested():
                held = [
                    row.seat
                    for row in session.execute(
                        _holders_query(callback.creditor_id, slot.starts_at, slot.ends_at).where(
                            Callback.id != callback.id
                        )
                    )
                ]
                if len(held) >= capacity:
                    return False
                taken = set(held)
                seat = next(number for number in range(1, capacity + 1) if number not in taken)
                callback.starts_at = slot.starts_at
                callback.ends_at = slot.ends_at
                callback.seat = seat
                session.add(callback)
                session.flush()
        except IntegrityError:
            continue
        return True
    return False


def _mark_reminder(callback: Callback, calendar: CallbackCalendar, now: datetime) -> None:
    # Booked (or moved) inside the reminder period: the confirmation just sent is the
    # reminder, a second text minutes later would only nag.
    before = timedelta(minutes=calendar.reminder_minutes_before)
    callback.reminder_sent_at = now if now >= callback.starts_at - before else None


def book_callback(
    session: Session,
    *,
    calendar: CallbackCalendar,
    creditor: Creditor,
    debtor: Debtor,
    debt: Debt | None,
    slot: Slot,
    now: datetime,
    actor: str,
    source: str = "sms",
) -> Callback | None:
    """Book `slot` for the debtor, moving their current booking if they have one (one
    pending call per debtor). None when the slot is full."""
    current = active_callback(session, debtor.id, now)
    if current is not None:
        previous_debt = current.debt_id
        if debt is not None:
            current.debt_id = debt.id
        if not _move(session, current, slot, calendar, now=now, actor=actor, kind="callback.moved"):
            current.debt_id = previous_debt
            return None
        return current
    callback = Callback(
        # The id is set up front so a retry after a lost seat race re-inserts the same row.
        id=new_id(),
        creditor_id=creditor.id,
        debt_id=debt.id if debt else None,
        debtor_id=debtor.id,
        status="booked",
        source=source,
        created_at=now,
        updated_at=now,
    )
    if not take_seat(session, callback, slot):
        return None
    _mark_reminder(callback, calendar, now)
    record_event(
        session,
        creditor_id=creditor.id,
        actor=actor,
        kind="callback.booked",
        now=now,
        debt_id=callback.debt_id,
        debtor_id=debtor.id,
        to_value=slot.starts_at.isoformat(),
        data={"callback_id": callback.id, "seat": callback.seat, "source": source},
    )
    return callback


def _transition(
    session: Session,
    callback: Callback,
    status: CallbackStatus,
    *,
    now: datetime,
    actor: str,
    data: dict[str, Any] | None = None,
) -> None:
    record_event(
        session,
        creditor_id=callback.creditor_id,
        actor=actor,
        kind=f"callback.{status}",
        now=now,
        debt_id=callback.debt_id,
        debtor_id=callback.debtor_id,
        from_value=callback.status,
        to_value=status,
        data={"callback_id": callback.id, **(data or {})},
    )
    callback.status = status
    callback.updated_at = now


def _require_active(callback: Callback, action: str) -> None:
    if callback.status not in ACTIVE_STATUSES:
        raise Conflict(
            f"cannot {action} a {callback.status} callback; only booked or claimed ones",
            field="status",
        )


def cancel_callback(
    session: Session, callback: Callback, *, now: datetime, actor: str, reason: str
) -> None:
    """Cancel a booked or claimed call and free its seat (Conflict otherwise)."""
    _require_active(callback, "cancel")
    _transition(session, callback, "canceled", now=now, actor=actor, data={"reason": reason})
    callback.seat = None
    session.flush()


def cancel_callbacks_for(
    session: Session,
    *,
    debtor_id: str | None = None,
    debt_id: str | None = None,
    now: datetime,
    actor: str,
    reason: str,
) -> int:
    """Cancel every booked or claimed call of a debtor and/or about a debt (both given:
    calls matching both), freeing their seats and logging each; returns how many.

    For when a call no longer has a purpose: the debt was settled, disputed or closed,
    the number is wrong or opted out. The debtor is not texted (an opted-out or wrong
    number must not be, and a settled debtor needs no "we canceled your call"); a
    callback menu whose X points at a canceled call is closed.
    """
    if debtor_id is None and debt_id is None:
        raise ValueError("cancel_callbacks_for needs a debtor_id or a debt_id")
    query = select(Callback).where(Callback.status.in_(ACTIVE_STATUSES))
    if debtor_id is not None:
        query = query.where(Callback.debtor_id == debtor_id)
    if debt_id is not None:
        query = query.where(Callback.debt_id == debt_id)
    # Locked in id order and re-read: an agent claiming or completing one of these
    # calls at the same moment goes first or after, never half-way.
    callbacks = list(
        session.scalars(
            query.order_by(Callback.id).with_for_update().execution_options(populate_existing=True)
        )
    )
    for callback in callbacks:
        cancel_callback(session, callback, now=now, actor=actor, reason=reason)
    canceled = {c.id for c in callbacks}
    debtors = {c.debtor_id for c in callbacks}
    if canceled:
        for conversation in session.scalars(
            select(Conversation).where(
                Conversation.debtor_id.in_(debtors), Conversation.menu_kind == MENU_KIND
            )
        ):
            if any(option.get("callback_id") in canceled for option in conversation.menu()):
                conversation.close_menu()
                conversation.updated_at = now
        session.flush()
    return len(canceled)


def claim_callback(
    session: Session, callback: Callback, *, agent: str, now: datetime, actor: str
) -> None:
    """An agent takes the call. Claiming again by the same agent changes nothing."""
    if callback.status == "claimed" and callback.agent == agent:
        return
    if callback.status == "claimed":
        raise Conflict(f"already claimed by {callback.agent}", field="agent")
    if callback.status != "booked":
        raise Conflict(f"cannot claim a {callback.status} callback", field="status")
    _transition(session, callback, "claimed", now=now, actor=actor, data={"agent": agent})
    callback.agent = agent
    session.flush()


def complete_callback(
    session: Session,
    callback: Callback,
    *,
    outcome: str,
    notes: str | None,
    agent: str,
    now: datetime,
    actor: str,
) -> None:
    """Record the call's outcome. The seat stays held: the slot was used."""
    _require_active(callback, "complete")
    _transition(
        session,
        callback,
        "completed",
        now=now,
        actor=actor,
        data={"outcome": outcome, "agent": callback.agent or agent},
    )
    callback.agent = callback.agent or agent
    callback.outcome = outcome
    callback.notes = notes
    session.flush()


def reschedule_callback(
    session: Session,
    callback: Callback,
    calendar: CallbackCalendar,
    *,
    starts_at: datetime,
    now: datetime,
    actor: str,
) -> Slot:
    """Move an active call to another open slot of the calendar; the seat rules apply
    (Conflict when the slot is full, ValidationFailed when it is no slot at all)."""
    _require_active(callback, "reschedule")
    creditor = session.get(Creditor, callback.creditor_id)
    debtor = session.get(Debtor, callback.debtor_id)
    assert creditor is not None and debtor is not None
    if starts_at.tzinfo is None or not supported_date(starts_at.date()):
        # Checked on the wall date, before any offset or slot arithmetic can overflow.
        raise ValidationFailed(
            "starts_at must be a time with an offset between 1970-01-01 and 2099-12-31",
            field="starts_at",
        )
    starts_at = starts_at.astimezone(UTC)
    if starts_at == callback.starts_at:
        return slot_of(callback)
    slot = calendar_slot_at(calendar, creditor, debtor, starts_at, now=now, honor_lead=False)
    if slot is None:
        raise ValidationFailed(
            "starts_at is not an open slot: it must be a future slot start of the team's "
            "calendar, inside the debtor's contact window",
            field="starts_at",
        )
    if not _move(
        session, callback, slot, calendar, now=now, actor=actor, kind="callback.rescheduled"
    ):
        raise Conflict("that slot is full; choose another", field="starts_at")
    return slot


def _move(
    session: Session,
    callback: Callback,
    slot: Slot,
    calendar: CallbackCalendar,
    *,
    now: datetime,
    actor: str,
    kind: str,
) -> bool:
    """Move a booked call to `slot` (False when the slot is full), with its event."""
    old = slot_of(callback)
    if not take_seat(session, callback, slot):
        return False
    callback.updated_at = now
    _mark_reminder(callback, calendar, now)
    record_event(
        session,
        creditor_id=callback.creditor_id,
        actor=actor,
        kind=kind,
        now=now,
        debt_id=callback.debt_id,
        debtor_id=callback.debtor_id,
        from_value=old.starts_at.isoformat(),
        to_value=slot.starts_at.isoformat(),
        data={"callback_id": callback.id},
    )
    return True


def get_callback(
    session: Session, creditor_id: str, callback_id: str, *, for_update: bool = False
) -> Callback:
    """One of the creditor's callbacks (404 for another creditor's); `for_update` locks
    it so two agents' changes to one call are applied one after the other."""
    query = select(Callback).where(Callback.id == callback_id, Callback.creditor_id == creditor_id)
    if for_update:
        query = query.with_for_update()
    callback = session.scalars(query).first()
    if callback is None:
        raise NotFound("callback not found")
    return callback


def list_callbacks(
    session: Session,
    creditor_id: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    status: str | None = None,
    agent: str | None = None,
    debt_id: str | None = None,
    limit: int = 200,
) -> list[Callback]:
    """The agents' queue, soonest first."""
    query = select(Callback).where(Callback.creditor_id == creditor_id)
    if start is not None:
        query = query.where(Callback.starts_at >= start)
    if end is not None:
        query = query.where(Callback.starts_at < end)
    if status is not None:
        query = query.where(Callback.status == status)
    if agent is not None:
        query = query.where(Callback.agent == agent)
    if debt_id is not None:
        query = query.where(Callback.debt_id == debt_id)
    return list(session.scalars(query.order_by(Callback.starts_at, Callback.id).limit(limit)))


def keep_cancel_open(conversation: Conversation, callback: Callback) -> None:
    """A menu whose X cancels `callback` stays valid until the call, not just MENU_TTL:
    "Reply X to cancel" must still work the morning of a call booked days ahead."""
    expires = conversation.menu_expires_at
    if expires is None or expires < callback.starts_at:
        conversation.menu_expires_at = callback.starts_at


def callback_text(template: str, creditor: Creditor, debtor: Debtor, **params: object) -> str:
    """A callback text in the debtor's language with the creditor's name filled in."""
    return render_callback_text(
        template, debtor.language, creditor=short_creditor_name(creditor.name), **params
    )
