"""The plan lifecycle on the worker's clock: reminders before each due date, a late
notice after the grace period, and a broken plan (with a renegotiation offer) after
the break period."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.actions.lifecycle import DebtChange, change_debt
from app.config import Settings
from app.creditors.models import Creditor
from app.debts.models import Debt, Debtor
from app.debts.queries import lock_debt
from app.events import record_event
from app.jobs import PeriodicJob
from app.messaging.service import enqueue_message
from app.money import format_money
from app.offers.models import Installment, Plan
from app.offers.queries import plan_installments
from app.offers.schemas import MAX_REMINDER_DAYS_BEFORE
from app.offers.service import end_plan
from app.payments.models import PayTerms
from app.payments.service import issue_code, payment_page_url
from app.texts import format_local_date, locale_tag, render, short_creditor_name


def _code_and_url(
    session: Session,
    creditor: Creditor,
    debt: Debt,
    installment: Installment,
    now: datetime,
    settings: Settings,
) -> tuple[str, str]:
    terms = PayTerms(
        kind="installment",
        amount=installment.outstanding,
        due_date=installment.due_date,
        installment_id=installment.id,
    )
    code = issue_code(session, creditor, debt, terms, now)
    return code.display, payment_page_url(settings, code)


def _step_due(installment: Installment, plan: Plan, today: date) -> bool:
    """Whether the installment has a lifecycle step to take today (cheap, no locks)."""
    due = installment.due_date
    if today > due + timedelta(days=plan.break_after_days):
        return True
    if today > due + timedelta(days=plan.grace_days):
        return installment.late_notice_at is None
    reminder_day = due - timedelta(days=plan.reminder_days_before)
    return reminder_day <= today <= due and installment.reminded_at is None


def plan_lifecycle(session: Session, now: datetime, settings: Settings) -> None:
    """Advance every running plan one step as its dates come."""
    # No debtor's local date is past UTC's by more than a day, and nothing happens to an
    # installment before its reminder day: later ones are not read (an index serves this).
    horizon = now.astimezone(UTC).date() + timedelta(days=1 + MAX_REMINDER_DAYS_BEFORE)
    rows = session.execute(
        select(Installment, Plan, Debt, Debtor, Creditor)
        .join(Plan, Plan.id == Installment.plan_id)
        .join(Debt, Debt.id == Plan.debt_id)
        .join(Debtor, Debtor.id == Debt.debtor_id)
        .join(Creditor, Creditor.id == Plan.creditor_id)
        # Only plans of debts being collected: a disputed or paused debt waits for a person.
        .where(
            Plan.status == "active",
            Debt.status == "in_plan",
            Installment.status.in_(("pending", "late")),
            Installment.due_date <= horizon,
        )
        .order_by(Plan.id, Installment.number)
    )
    broken_plans: set[str] = set()
    for installment, plan, debt, debtor, creditor in rows:
        if plan.id in broken_plans:
            continue
        today = now.astimezone(ZoneInfo(debtor.timezone)).date()
        if not _step_due(installment, plan, today):
            continue
        # Re-read under the debt's lock: a payment landing at this moment is neither
        # asked for again nor counted as missed.
        debt = lock_debt(session, debt.id)
        session.refresh(installment)
        if debt.status != "in_plan" or installment.status not in ("pending", "late"):
            continue
        language = locale_tag(debtor.language, debtor.phone)
        params = {
            "creditor": short_creditor_name(creditor.name),
            "number": installment.number,
            "amount": format_money(installment.outstanding, debt.currency, language),
            "due": format_local_date(installment.due_date, language),
        }
        due = installment.due_date
        if today > due + timedelta(days=plan.break_after_days):
            _break_plan(session, plan, debt, debtor, creditor, installment, now)
            broken_plans.add(plan.id)
            continue
        if today > due + timedelta(days=plan.grace_days) and installment.late_notice_at is None:
            installment.status = "late"
            installment.late_notice_at = now
            record_event(
                session,
                creditor_id=creditor.id,
                actor="worker",
                kind="installment.late",
                now=now,
                debt_id=debt.id,
                debtor_id=debtor.id,
                to_value=installment.number,
            )
            code, url = _code_and_url(session, creditor, debt, installment, now, settings)
            if debtor.contact_status == "active":
                enqueue_message(
                    session,
                    creditor=creditor,
                    debtor=debtor,
                    debt=debt,
                    body=render("installment_late", language, **params, code=code, url=url),
                    kind="installment_late",
                    now=now,
                    actor="worker",
                )
            continue
        reminder_day = due - timedelta(days=plan.reminder_days_before)
        if reminder_day <= today <= due and installment.reminded_at is None:
            installment.reminded_at = now
            code, url = _code_and_url(session, creditor, debt, installment, now, settings)
            if debtor.contact_status == "active":
                enqueue_message(
                    session,
                    creditor=creditor,
                    debtor=debtor,
                    debt=debt,
                    body=render("installment_reminder", language, **params, code=code, url=url),
                    kind="installment_reminder",
                    now=now,
                    actor="worker",
                )


def _break_plan(
    session: Session,
    plan: Plan,
    debt: Debt,
    debtor: Debtor,
    creditor: Creditor,
    installment: Installment,
    now: datetime,
) -> None:
    # Interest of installments not yet due was never earned: the debtor owes the
    # principal less what they paid.
    paid = sum(i.paid_amount for i in plan_installments(session, plan.id))
    remaining = max(plan.principal - paid, 0)
    if remaining != debt.balance:
        record_event(
            session,
            creditor_id=creditor.id,
            actor="worker",
            kind="debt.balance",
            now=now,
            debt_id=debt.id,
            debtor_id=debtor.id,
            from_value=debt.balance,
            to_value=remaining,
            data={"reason": "plan broken: unearned interest removed"},
        )
        debt.balance = remaining
    reason = f"plan broken at installment {installment.number}"
    if debt.balance == 0:
        # What was paid already covers the principal: nothing is left to renegotiate.
        end_plan(session, plan, "broken", now=now, actor="worker", reason=reason)
        change_debt(
            session,
            debt,
            DebtChange.SETTLED,
            now=now,
            actor="worker",
            reason="plan broken after the principal was paid",
        )
        return
    change_debt(session, debt, DebtChange.PLAN_BROKEN, now=now, actor="worker", reason=reason)
    if debtor.contact_status == "active":
        enqueue_message(
            session,
            creditor=creditor,
            debtor=debtor,
            debt=debt,
            body=render(
                "plan_broken",
                debtor.language,
                creditor=short_creditor_name(creditor.name),
                number=installment.number,
                amount=format_money(debt.balance, debt.currency, debtor.language),
            ),
            kind="plan_broken",
            now=now,
            actor="worker",
        )


JOBS: list[PeriodicJob] = [plan_lifecycle]
