"""The statement cadence: reminders before, on and after the due date, a monthly re-bill
while the debt stays open, and escalation after repeated silence (seeds 000 and 004)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
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


def statement_cadence(session: Session, now: datetime, settings: Settings) -> None:
    """Queue the statements whose cadence date has come (the contact governor still
    decides the hour), and escalate debts whose statements go unanswered."""
    # Local dates run at most a day ahead of UTC; the exact check is per debtor below.
    horizon = (now + timedelta(days=1)).date()
    rows = session.execute(
        select(Debt, Debtor, Creditor)
        .join(Debtor, Debtor.id == Debt.debtor_id)
        .join(Creditor, Creditor.id == Debt.creditor_id)
        .where(
            Creditor.cadence_enabled.is_(True),
            Debt.status == "open",
            Debt.escalation.is_distinct_from("agency"),
            Debt.next_statement_on <= horizon,
            Debtor.contact_status == "active",
        )
        .order_by(Debt.next_statement_on, Debt.id)
        .limit(BATCH)
    ).all()
    for debt, debtor, creditor in rows:
        today = now.astimezone(ZoneInfo(debtor.timezone)).date()
        if debt.next_statement_on is None or debt.next_statement_on > today:
            continue
        silent = unanswered_statements(session, debt)
        threshold = creditor.escalate_after_unanswered
        if silent >= 2 * threshold:
            _escalate(session, debt, debtor, "agency", now, silent)
            continue
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
