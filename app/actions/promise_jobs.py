"""Promises to pay on the worker's clock: a reminder the day before, and a follow-up
when the date passes without a payment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.conversations.models import Promise, PromiseStatus
from app.conversations.promises import set_promise_status
from app.creditors.models import Creditor
from app.debts.models import Debt, Debtor
from app.jobs import PeriodicJob
from app.messaging.service import enqueue_message
from app.money import format_money
from app.texts import format_local_date, locale_tag, render, short_creditor_name


def promise_followups(session: Session, now: datetime, settings: Settings) -> None:
    """Remind the day before a promised date; on the day after, mark the promise kept
    (the balance went down) or broken (and follow up).

    Only promises whose date is at most a day ahead of any debtor's local date are read
    (an index serves this): a payment keeps a promise as it is applied
    (app.actions.payments), and a balance lowered otherwise (a re-import) is seen here
    by the day before the date."""
    horizon = now.astimezone(UTC).date() + timedelta(days=2)
    rows = session.execute(
        select(Promise, Debt, Debtor, Creditor)
        .join(Debt, Debt.id == Promise.debt_id)
        .join(Debtor, Debtor.id == Promise.debtor_id)
        .join(Creditor, Creditor.id == Promise.creditor_id)
        .where(Promise.status == "open", Promise.promised_date <= horizon)
    )
    for promise, debt, debtor, creditor in rows:
        today = now.astimezone(ZoneInfo(debtor.timezone)).date()
        language = locale_tag(debtor.language, debtor.phone)
        params = {
            "creditor": short_creditor_name(creditor.name),
            "amount": format_money(promise.balance_at_promise, debt.currency, language),
            "date": format_local_date(promise.promised_date, language),
        }
        # (Settling, closing or disputing the debt ends its promises: app.actions.lifecycle.)
        if debt.balance < promise.balance_at_promise:
            _close(session, promise, "kept", now)
            continue
        if debt.status == "paused":
            continue  # the debtor says it is paid: a person checks before anything more
        if today > promise.promised_date:
            _close(session, promise, "broken", now)
            promise.followed_up_at = now
            if debtor.contact_status == "active":
                enqueue_message(
                    session,
                    creditor=creditor,
                    debtor=debtor,
                    debt=debt,
                    body=render("promise_broken", language, **params),
                    kind="promise_followup",
                    now=now,
                    actor="worker",
                )
            continue
        if today == promise.promised_date - timedelta(days=1) and promise.reminded_at is None:
            promise.reminded_at = now
            if debtor.contact_status == "active":
                enqueue_message(
                    session,
                    creditor=creditor,
                    debtor=debtor,
                    debt=debt,
                    body=render("promise_reminder", language, **params),
                    kind="promise_reminder",
                    now=now,
                    actor="worker",
                )


def _close(session: Session, promise: Promise, status: PromiseStatus, now: datetime) -> None:
    set_promise_status(session, promise, status, now=now, actor="worker")


JOBS: list[PeriodicJob] = [promise_followups]
