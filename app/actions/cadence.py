"""The statement cadence: reminders before, on and after the due date, a monthly re-bill
while the debt stays open, and escalation after repeated silence (seeds 000 and 004)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from app.actions.debts import queue_statement
from app.config import Settings
from app.conversations.service import flag_conversation, get_conversation
from app.creditors.models import Creditor
from app.debts.models import Debt, Debtor
from app.events import record_event
from app.jobs import PeriodicJob
from app.messaging.models import Message

BATCH = 500
# A bound on one run (500,000 debts); the next run carries on.
MAX_BATCHES = 1000


def next_statement_after(creditor: Creditor, debt: Debt, today: date) -> date:
    """The first cadence date after `today`: the next offset from the due date still
    ahead, else a re-bill `rebill_every_days` from today."""
    for offset in sorted(int(o) for o in creditor.cadence_offsets or []):
        point = debt.due_date + timedelta(days=offset)
        if point > today:
            return point
    return today + timedelta(days=creditor.rebill_every_days)


def unanswered_statements(session: Session, debt: Debt) -> int:
    """Initiated statements about the debt since the debtor last wrote to us."""
    last_inbound = session.scalar(
        select(func.max(Message.created_at)).where(
            Message.debtor_id == debt.debtor_id, Message.direction == "inbound"
        )
    )
    query = select(func.count(Message.id)).where(
        Message.debt_id == debt.id,
        Message.kind == "statement",
        Message.initiated.is_(True),
        Message.status != "canceled",
    )
    if last_inbound is not None:
        query = query.where(Message.created_at > last_inbound)
    return session.scalar(query) or 0


def _cadence_filters(horizon: date) -> list[ColumnElement[bool]]:
    return [
        Creditor.cadence_enabled.is_(True),
        Debt.status == "open",
        Debt.escalation.is_distinct_from("agency"),
        Debt.next_statement_on <= horizon,
        Debtor.contact_status == "active",
    ]


def due_in_local_dates(session: Session, now: datetime) -> ColumnElement[bool] | None:
    """A condition true exactly for the debts whose next statement date has come in
    their debtor's own zone: zones grouped by their local date now (at most three),
    so a LIMIT never fills up with debts that are not due yet."""
    horizon = (now + timedelta(days=1)).date()
    zones = session.scalars(
        select(Debtor.timezone)
        .join(Debt, Debt.debtor_id == Debtor.id)
        .join(Creditor, Creditor.id == Debt.creditor_id)
        .where(*_cadence_filters(horizon))
        .distinct()
    ).all()
    by_date: dict[date, list[str]] = {}
    for zone in zones:
        by_date.setdefault(now.astimezone(ZoneInfo(zone)).date(), []).append(zone)
    if not by_date:
        return None
    return or_(
        *(
            and_(Debtor.timezone.in_(sorted(names)), Debt.next_statement_on <= day)
            for day, names in sorted(by_date.items())
        )
    )


def statement_cadence(session: Session, now: datetime, settings: Settings) -> None:
    """Queue the statements whose cadence date has come in the debtor's zone (the
    contact governor still decides the hour), and escalate debts whose statements go
    unanswered. Every selected debt is due, batch after batch until none is left."""
    due = due_in_local_dates(session, now)
    if due is None:
        return
    horizon = (now + timedelta(days=1)).date()
    for _ in range(MAX_BATCHES):
        rows = session.execute(
            select(Debt, Debtor, Creditor)
            .join(Debtor, Debtor.id == Debt.debtor_id)
            .join(Creditor, Creditor.id == Debt.creditor_id)
            .where(*_cadence_filters(horizon), due)
            .order_by(Debt.next_statement_on, Debt.id)
            .limit(BATCH)
        ).all()
        for debt, debtor, creditor in rows:
            _statement_due(session, debt, debtor, creditor, now)
        session.flush()
        if len(rows) < BATCH:
            return


def _statement_due(
    session: Session, debt: Debt, debtor: Debtor, creditor: Creditor, now: datetime
) -> None:
    today = now.astimezone(ZoneInfo(debtor.timezone)).date()
    silent = unanswered_statements(session, debt)
    threshold = creditor.escalate_after_unanswered
    if silent >= 2 * threshold:
        _escalate(session, debt, debtor, "agency", now, silent)
        return
    if silent >= threshold and debt.escalation is None:
        _escalate(session, debt, debtor, "agent", now, silent)
    debt.next_statement_on = next_statement_after(creditor, debt, today)
    if debt.balance > 0:
        queue_statement(session, creditor, debt, now=now, actor="cadence")


def _escalate(
    session: Session, debt: Debt, debtor: Debtor, level: str, now: datetime, silent: int
) -> None:
    record_event(
        session,
        creditor_id=debt.creditor_id,
        actor="cadence",
        kind="debt.escalated",
        now=now,
        debt_id=debt.id,
        debtor_id=debtor.id,
        from_value=debt.escalation,
        to_value=level,
        data={"unanswered_statements": silent},
    )
    debt.escalation = level
    debt.updated_at = now
    conversation = get_conversation(session, debtor, now)
    reason = (
        f"{silent} statements unanswered: call the debtor"
        if level == "agent"
        else f"{silent} statements unanswered: refer to an agency or legal review"
    )
    flag_conversation(session, conversation, reason, now=now, actor="cadence", debt_id=debt.id)
    if level == "agency":
        debt.needs_review = True


JOBS: list[PeriodicJob] = [statement_cadence]
