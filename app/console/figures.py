"""The figures behind the console's charts: recovery per month, the funnel, intents by
language, opt-out rate, promises kept, plan completion, and recovery by cohort (due month
x days past due). Aggregates run in the database; the charts are drawn by
app.console.charts."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from markupsafe import Markup
from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from app.console.charts import Bar, bar_chart, column_chart, meter, stacked_chart
from app.console.i18n import Translator
from app.conversations.models import Promise
from app.creditors.models import Creditor
from app.debts.models import Debt, Debtor
from app.messaging.models import Message
from app.offers.models import Plan
from app.payments.models import Payment

# Outbound statuses that mean the text left Parley.
LEFT = ("submitted", "sent", "delivered", "read", "undelivered")
# Replies that asked for something (not noise, not an opt-out).
ENGAGED_INTENTS = ("PAY", "PLAN", "CHOICE", "CALL", "PROMISE", "HARDSHIP", "STATEMENT", "PAID")
DPD_BUCKETS = ((0, 30), (31, 60), (61, 90), (91, 180), (181, None))
MONTHS = 6


@dataclass
class Analytics:
    """Headline numbers, the charts as SVG, and the cohort table."""

    summary: dict[str, str]
    charts: dict[str, Markup]
    cohorts: dict[str, Any]


def _months_back(today: date, count: int) -> list[tuple[int, int]]:
    months = []
    year, month = today.year, today.month
    for _ in range(count):
        months.append((year, month))
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return list(reversed(months))


def _main_currency(session: Session, creditor_id: str) -> str | None:
    row = session.execute(
        select(Debt.currency, func.count())
        .where(Debt.creditor_id == creditor_id)
        .group_by(Debt.currency)
        .order_by(func.count().desc())
        .limit(1)
    ).first()
    return row[0] if row else None


def _count(session: Session, query: Any) -> int:
    return int(session.scalar(query) or 0)


def analytics(session: Session, creditor: Creditor, *, now: datetime, t: Translator) -> Analytics:
    """Everything the analytics page (and the dashboard's two charts) shows."""
    cid = creditor.id
    currency = _main_currency(session, cid) or "USD"
    today = now.date()

    # Recovery per month (money applied, in the portfolio's main currency).
    paid: dict[tuple[int, int], int] = defaultdict(int)
    for paid_at, amount in session.execute(
        select(Payment.paid_at, Payment.applied_amount).where(
            Payment.creditor_id == cid, Payment.status == "applied", Payment.currency == currency
        )
    ):
        paid[(paid_at.year, paid_at.month)] += int(amount or 0)
    months = _months_back(today, MONTHS)
    recovery_bars = [
        Bar(f"{m:02d}/{y % 100:02d}", paid.get((y, m), 0), t.money(paid.get((y, m), 0), currency))
        for y, m in months
    ]

    # The funnel, counted in debts.
    debts = _count(session, select(func.count()).select_from(Debt).where(Debt.creditor_id == cid))
    contacted = _count(
        session,
        select(func.count(distinct(Message.debt_id))).where(
            Message.creditor_id == cid, Message.direction == "outbound", Message.status.in_(LEFT)
        ),
    )
    replied_debtors = select(Message.debtor_id).where(
        Message.creditor_id == cid, Message.direction == "inbound"
    )
    replied = _count(
        session,
        select(func.count())
        .select_from(Debt)
        .where(Debt.creditor_id == cid, Debt.debtor_id.in_(replied_debtors)),
    )
    intent_debtors = replied_debtors.where(Message.intent.in_(ENGAGED_INTENTS))
    with_intent = _count(
        session,
        select(func.count())
        .select_from(Debt)
        .where(Debt.creditor_id == cid, Debt.debtor_id.in_(intent_debtors)),
    )
    promised = select(Promise.debt_id).where(Promise.creditor_id == cid)
    planned = select(Plan.debt_id).where(Plan.creditor_id == cid)
    promise_or_plan = _count(
        session,
        select(func.count())
        .select_from(Debt)
        .where(Debt.creditor_id == cid, Debt.id.in_(promised) | Debt.id.in_(planned)),
    )
    paying = select(Payment.debt_id).where(Payment.creditor_id == cid, Payment.status == "applied")
    paid_debts = _count(
        session,
        select(func.count())
        .select_from(Debt)
        .where(Debt.creditor_id == cid, (Debt.status == "settled") | Debt.id.in_(paying)),
    )
    funnel_bars = [
        Bar(t("debts_total"), debts, t.number(debts)),
        Bar(t("contacted"), contacted, t.number(contacted)),
        Bar(t("replied"), replied, t.number(replied)),
        Bar(t("intent"), with_intent, t.number(with_intent)),
        Bar(t("promise_or_plan"), promise_or_plan, t.number(promise_or_plan)),
        Bar(t("paid"), paid_debts, t.number(paid_debts)),
    ]

    # Intents by language.
    by_language: dict[str, dict[str, int]] = defaultdict(dict)
    for language, intent, count in session.execute(
        select(Message.language, Message.intent, func.count())
        .where(Message.creditor_id == cid, Message.direction == "inbound")
        .group_by(Message.language, Message.intent)
    ):
        by_language[language or "?"][intent or "UNKNOWN"] = int(count)
    intent_groups = [
        (
            language,
            [Bar(intent, n, t.number(n)) for intent, n in sorted(counts.items())],
        )
        for language, counts in sorted(by_language.items())
    ]

    # Rates.
    debtors = _count(
        session, select(func.count()).select_from(Debtor).where(Debtor.creditor_id == cid)
    )
    opted_out = _count(
        session,
        select(func.count())
        .select_from(Debtor)
        .where(Debtor.creditor_id == cid, Debtor.contact_status == "opted_out"),
    )
    promise_counts: dict[str, int] = dict(
        session.execute(
            select(Promise.status, func.count())
            .where(Promise.creditor_id == cid)
            .group_by(Promise.status)
        ).all()
    )
    plan_counts: dict[str, int] = dict(
        session.execute(
            select(Plan.status, func.count()).where(Plan.creditor_id == cid).group_by(Plan.status)
        ).all()
    )
    kept, broken = promise_counts.get("kept", 0), promise_counts.get("broken", 0)
    completed = plan_counts.get("completed", 0)
    plans_over = completed + plan_counts.get("broken", 0)
    opt_share = opted_out / debtors if debtors else 0.0
    kept_share = kept / (kept + broken) if kept + broken else 0.0
    plan_share = completed / plans_over if plans_over else 0.0

    # Cohorts: share of the amount recovered, by due month and days past due today.
    cells: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    for due, amount, balance in session.execute(
        select(Debt.due_date, Debt.amount, Debt.balance).where(
            Debt.creditor_id == cid, Debt.currency == currency
        )
    ):
        dpd = max(0, (today - due).days)
        bucket = next(
            i for i, (lo, hi) in enumerate(DPD_BUCKETS) if dpd >= lo and (hi is None or dpd <= hi)
        )
        cell = cells[(f"{due.year}-{due.month:02d}", bucket)]
        cell[0] += int(amount)
        cell[1] += int(amount) - int(balance)
    cohort_months = sorted({month for month, _ in cells}, reverse=True)[:12]
    rows = []
    for month in cohort_months:
        row = []
        for bucket in range(len(DPD_BUCKETS)):
            owed, back = cells.get((month, bucket), (0, 0))
            share = back / owed if owed else None
            row.append(
                {
                    "text": t.percent(share) if share is not None else "—",
                    "heat": 0 if share is None else min(4, int(share * 4.999)),
                }
            )
        rows.append((month, row))
    bucket_labels = [f"{lo}–{hi}" if hi is not None else f"{lo}+" for lo, hi in DPD_BUCKETS]

    recovered_total = sum(paid.values())
    total_amount = _count(
        session,
        select(func.sum(Debt.amount)).where(Debt.creditor_id == cid, Debt.currency == currency),
    )
    return Analytics(
        summary={
            "debts": t.number(debts),
            "recovered": t.money(recovered_total, currency),
            "recovery_rate": t.percent(recovered_total / total_amount if total_amount else 0.0),
            "promises": t("of", part=t.number(kept), whole=t.number(kept + broken)),
        },
        charts={
            "recovery": column_chart("chart-recovery", t("recovery_over_time"), recovery_bars),
            "funnel": bar_chart("chart-funnel", t("funnel"), funnel_bars),
            "intents": stacked_chart("chart-intents", t("intents_by_language"), intent_groups),
            "opt_out": meter(
                "chart-opt-out",
                t("opt_out_rate"),
                opt_share,
                t.percent(opt_share),
                colour="#b3261e",
            ),
            "promises": meter(
                "chart-promises", t("promises_kept"), kept_share, t.percent(kept_share)
            ),
            "plans": meter("chart-plans", t("plan_completion"), plan_share, t.percent(plan_share)),
        },
        cohorts={"buckets": bucket_labels, "rows": rows},
    )
