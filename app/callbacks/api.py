"""`/api/v1/callback-calendar` (the team's hours, set by the finance team) and
`/api/v1/callbacks` (the agents' queue: list, brief, claim, complete, reschedule,
cancel). Everything is scoped to the key's creditor; another creditor's callback is a
404, a transition that does not apply is a 409."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access.deps import CanConfigure, CanView, CanWork
from app.access.principal import Principal
from app.actions import callbacks as call_texts
from app.callbacks import service
from app.callbacks.models import Callback
from app.callbacks.schemas import (
    BriefDebt,
    BriefDebtor,
    BriefMessage,
    CalendarIn,
    CalendarOut,
    CallbackBrief,
    CallbackList,
    CallbackOut,
    CallbackStatus,
    CancelIn,
    ClaimIn,
    CompleteIn,
    RescheduleIn,
)
from app.debts.models import Debt, Debtor
from app.deps import ClockDep, SessionDep
from app.errors import NotFound, ValidationFailed
from app.messaging.models import Message
from app.money import format_money

router = APIRouter(tags=["callbacks"])

ACTIVE_DEBT_STATUSES = ("open", "in_plan", "paused", "disputed")


@router.put("/api/v1/callback-calendar")
def put_callback_calendar(
    body: CalendarIn, principal: CanConfigure, session: SessionDep, clock: ClockDep
) -> CalendarOut:
    """Set the team's callback calendar (admin keys only). A weekday left out of `hours`
    is closed; every wrong field is reported at once (422)."""
    calendar = service.save_calendar(
        session,
        principal.creditor,
        body.model_dump(exclude_unset=True),
        now=clock.now(),
        actor=principal.actor,
    )
    return CalendarOut.model_validate(service.calendar_view(calendar))


@router.get("/api/v1/callback-calendar")
def get_callback_calendar(principal: CanView, session: SessionDep) -> CalendarOut:
    """The team's callback calendar (404 until one is set; CALL then goes to a person)."""
    calendar = service.get_calendar(session, principal.creditor.id)
    if calendar is None:
        raise NotFound("no callback calendar is set; PUT /api/v1/callback-calendar")
    return CalendarOut.model_validate(service.calendar_view(calendar))


def _team_timezone(session: Session, creditor_id: str) -> str:
    calendar = service.get_calendar(session, creditor_id)
    return calendar.timezone if calendar else "UTC"


def _callback_out(callback: Callback, debtor: Debtor, team_timezone: str) -> CallbackOut:
    team, own = ZoneInfo(team_timezone), ZoneInfo(debtor.timezone)
    return CallbackOut(
        id=callback.id,
        debt_id=callback.debt_id,
        debtor_id=callback.debtor_id,
        debtor_name=debtor.name,
        debtor_phone=debtor.phone,
        starts_at=callback.starts_at,
        ends_at=callback.ends_at,
        status=callback.status,
        agent=callback.agent,
        outcome=callback.outcome,
        notes=callback.notes,
        source=callback.source,
        seat=callback.seat,
        reminder_sent_at=callback.reminder_sent_at,
        team_timezone=team_timezone,
        starts_at_local=callback.starts_at.astimezone(team),
        ends_at_local=callback.ends_at.astimezone(team),
        debtor_timezone=debtor.timezone,
        debtor_starts_at_local=callback.starts_at.astimezone(own),
        debtor_ends_at_local=callback.ends_at.astimezone(own),
        created_at=callback.created_at,
        updated_at=callback.updated_at,
    )


def _one_out(session: Session, callback: Callback) -> CallbackOut:
    debtor = session.get(Debtor, callback.debtor_id)
    assert debtor is not None
    return _callback_out(callback, debtor, _team_timezone(session, callback.creditor_id))


def _many_out(
    session: Session, creditor_id: str, callbacks: Sequence[Callback]
) -> list[CallbackOut]:
    team_timezone = _team_timezone(session, creditor_id)
    ids = {c.debtor_id for c in callbacks}
    debtors = {d.id: d for d in session.scalars(select(Debtor).where(Debtor.id.in_(ids)))}
    return [_callback_out(c, debtors[c.debtor_id], team_timezone) for c in callbacks]


def _agent(principal: Principal, given: str | None) -> str:
    return given or principal.name


@router.get("/api/v1/callbacks")
def list_callbacks(
    principal: CanView,
    session: SessionDep,
    day: Annotated[
        date | None, Query(description="a day in the team's time zone (YYYY-MM-DD)")
    ] = None,
    status: CallbackStatus | None = None,
    agent: Annotated[str | None, Query(max_length=120)] = None,
    debt_id: Annotated[str | None, Query(max_length=36)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> CallbackList:
    """The agents' queue, soonest first; filter by the team's local day, status, agent
    or debt."""
    creditor_id = principal.creditor.id
    start = end = None
    if day is not None and not date(1970, 1, 1) <= day <= date(2099, 12, 31):
        raise ValidationFailed("day must be between 1970-01-01 and 2099-12-31", field="day")
    if day is not None:
        team_timezone = _team_timezone(session, creditor_id)
        start = service.local_day_start(team_timezone, day)
        end = service.local_day_start(team_timezone, day + timedelta(days=1))
    callbacks = service.list_callbacks(
        session,
        creditor_id,
        start=start,
        end=end,
        status=status,
        agent=agent,
        debt_id=debt_id,
        limit=limit,
    )
    return CallbackList(items=_many_out(session, creditor_id, callbacks))


@router.get("/api/v1/callbacks/{callback_id}")
def read_callback(callback_id: str, principal: CanView, session: SessionDep) -> CallbackOut:
    """One callback."""
    callback = service.get_callback(session, principal.creditor.id, callback_id)
    return _one_out(session, callback)


def _brief_debt(debt: Debt, language: str, today: date, *, amounts: bool) -> BriefDebt:
    return BriefDebt(
        id=debt.id,
        external_id=debt.external_id,
        description=debt.description,
        amount=debt.amount if amounts else None,
        balance=debt.balance if amounts else None,
        currency=debt.currency,
        balance_display=format_money(debt.balance, debt.currency, language) if amounts else None,
        due_date=debt.due_date,
        days_past_due=max(0, (today - debt.due_date).days),
        status=debt.status,
        needs_review=debt.needs_review,
    )


@router.get("/api/v1/callbacks/{callback_id}/brief")
def callback_brief(
    callback_id: str, principal: CanView, session: SessionDep, clock: ClockDep
) -> CallbackBrief:
    """Everything to read before calling: the debt's summary, the debtor's other open
    debts, and the whole conversation with the debtor (every message, oldest first)."""
    callback = service.get_callback(session, principal.creditor.id, callback_id)
    debtor = session.get(Debtor, callback.debtor_id)
    assert debtor is not None
    today = clock.now().astimezone(ZoneInfo(debtor.timezone)).date()
    amounts = principal.sees_amounts
    debt = session.get(Debt, callback.debt_id) if callback.debt_id else None
    others = session.scalars(
        select(Debt)
        .where(
            Debt.debtor_id == debtor.id,
            Debt.id != (callback.debt_id or ""),
            Debt.status.in_(ACTIVE_DEBT_STATUSES),
        )
        .order_by(Debt.due_date, Debt.id)
    )
    messages = session.scalars(
        select(Message)
        .where(Message.debtor_id == debtor.id, Message.creditor_id == principal.creditor.id)
        # An answer shares its inbound text's timestamp; "inbound" sorts first.
        .order_by(Message.created_at, Message.direction, Message.id)
    )
    return CallbackBrief(
        callback=_callback_out(callback, debtor, _team_timezone(session, callback.creditor_id)),
        debtor=BriefDebtor(
            id=debtor.id,
            name=debtor.name,
            phone=debtor.phone,
            language=debtor.language,
            timezone=debtor.timezone,
            contact_status=debtor.contact_status,
        ),
        debt=_brief_debt(debt, debtor.language, today, amounts=amounts) if debt else None,
        other_debts=[_brief_debt(d, debtor.language, today, amounts=amounts) for d in others],
        messages=[
            BriefMessage(
                id=m.id,
                direction=m.direction,
                kind=m.kind,
                body=m.body,
                status=m.status,
                intent=m.intent,
                debt_id=m.debt_id,
                created_at=m.created_at,
            )
            for m in messages
        ],
    )


@router.post("/api/v1/callbacks/{callback_id}/claim")
def claim_callback(
    callback_id: str,
    principal: CanWork,
    session: SessionDep,
    clock: ClockDep,
    body: ClaimIn | None = None,
) -> CallbackOut:
    """Take a booked call (agent from the body, else the API key's name). 409 when
    another agent has it or it is over."""
    callback = service.get_callback(session, principal.creditor.id, callback_id, for_update=True)
    agent = _agent(principal, body.agent if body else None)
    service.claim_callback(session, callback, agent=agent, now=clock.now(), actor=principal.actor)
    return _one_out(session, callback)


@router.post("/api/v1/callbacks/{callback_id}/complete")
def complete_callback(
    callback_id: str,
    body: CompleteIn,
    principal: CanWork,
    session: SessionDep,
    clock: ClockDep,
) -> CallbackOut:
    """Record the outcome (reached, no_answer, promise_to_pay, plan_agreed, refused) and
    notes. `no_answer` texts the debtor a fresh slot menu, through the contact rules."""
    callback = service.get_callback(session, principal.creditor.id, callback_id, for_update=True)
    agent = _agent(principal, body.agent)
    now = clock.now()
    service.complete_callback(
        session,
        callback,
        outcome=body.outcome,
        notes=body.notes,
        agent=agent,
        now=now,
        actor=principal.actor,
    )
    if body.outcome == "no_answer":
        call_texts.offer_after_no_answer(session, callback, now=now, actor=principal.actor)
    return _one_out(session, callback)


@router.post("/api/v1/callbacks/{callback_id}/reschedule")
def reschedule_callback(
    callback_id: str,
    body: RescheduleIn,
    principal: CanWork,
    session: SessionDep,
    clock: ClockDep,
) -> CallbackOut:
    """Move the call to another open slot of the calendar (422 if it is no open slot or
    outside 1970..2099, 409 if it is full or the call is over) and, by default, text
    the debtor."""
    # The calendar first, then the call: every booking locks in this order (see
    # service.lock_calendar), so an agent and a debtor moving the same call cannot
    # deadlock.
    calendar = service.lock_calendar(session, principal.creditor.id)
    callback = service.get_callback(session, principal.creditor.id, callback_id, for_update=True)
    if calendar is None:
        raise NotFound("no callback calendar is set; PUT /api/v1/callback-calendar")
    now = clock.now()
    before = callback.starts_at
    service.reschedule_callback(
        session, callback, calendar, starts_at=body.starts_at, now=now, actor=principal.actor
    )
    if body.notify_debtor and callback.starts_at != before:
        call_texts.notify_moved(session, callback, now=now, actor=principal.actor)
    return _one_out(session, callback)


@router.post("/api/v1/callbacks/{callback_id}/cancel")
def cancel_callback(
    callback_id: str,
    principal: CanWork,
    session: SessionDep,
    clock: ClockDep,
    body: CancelIn | None = None,
) -> CallbackOut:
    """Cancel a booked or claimed call, freeing its seat (409 when it is over), and by
    default tell the debtor how to pick a new time."""
    callback = service.get_callback(session, principal.creditor.id, callback_id, for_update=True)
    body = body or CancelIn()
    now = clock.now()
    service.cancel_callback(
        session, callback, now=now, actor=principal.actor, reason=body.reason or "agent"
    )
    if body.notify_debtor:
        call_texts.notify_canceled_by_team(session, callback, now=now, actor=principal.actor)
    return _one_out(session, callback)
