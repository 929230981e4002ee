"""The recovery figures of one creditor over a period.

Counts are of debts unless named otherwise. A debt is in scope when it was loaded before
the period ends. Money is summed in one currency at a time (never across currencies):
`currency`, or else the currency most of the creditor's debts are in. Periods are whole
UTC days, `start` inclusive, `end` exclusive; None leaves that side open.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import QueryableAttribute, Session

from app.conversations.models import Promise
from app.debts.models import Debt, Event
from app.messaging.models import Message
from app.offers.models import PLAN_STATUSES, Plan
from app.payments.models import Payment

# Replies that show the debtor means to settle (the funnel's "intent" stage).
SETTLING_INTENTS = ("PAY", "PLAN", "CHOICE", "CALL", "PROMISE", "HARDSHIP")
# Days past due buckets, in order: (label, lowest, highest or None).
DPD_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("not_due", -(10**6), 0),
    ("1-30", 1, 30),
    ("31-60", 31, 60),
    ("61-90", 61, 90),
    ("91-180", 91, 180),
    ("181+", 181, None),
)
FUNNEL_STAGES = ("contacted", "replied", "intent", "promise_or_plan", "paid")
# A range up to this long is charted by day, longer ones by month.
DAILY_UP_TO = timedelta(days=62)

Interval = Literal["day", "week", "month"]


@dataclass(frozen=True)
class Period:
    """[start, end) in UTC; either side may be open."""

    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def of_dates(cls, first: date | None, last: date | None) -> Period:
        """The whole UTC days from `first` to `last`, both included."""
        return cls(
            start=datetime.combine(first, time(), UTC) if first else None,
            end=datetime.combine(last + timedelta(days=1), time(), UTC) if last else None,
        )

    def where(self, column: QueryableAttribute[Any]) -> list[ColumnElement[bool]]:
        """Conditions keeping `column` inside the period."""
        conditions: list[ColumnElement[bool]] = []
        if self.start is not None:
            conditions.append(column >= self.start)
        if self.end is not None:
            conditions.append(column < self.end)
        return conditions


@dataclass(frozen=True)
class Cohort:
    """Debts grouped by due month or days past due, with what was recovered of them."""

    key: str
    debts: int
    amount: int
    recovered: int

    @property
    def recovery_rate(self) -> float:
        return _rate(self.recovered, self.amount)


@dataclass(frozen=True)
class Report:
    """Everything the analytics page shows for one creditor, period and currency."""

    period: Period
    currency: str | None
    debts: int
    contacted: int
    replied: int
    recovered_amount: int
    portfolio_amount: int
    promises_made: int
    promises_kept: int
    promises_broken: int
    opt_outs: int
    contacted_debtors: int
    funnel: dict[str, int]
    intents_by_language: dict[str, dict[str, int]]
    plans: dict[str, int]
    interval: Interval
    recovery_over_time: list[tuple[str, int]]
    by_due_month: list[Cohort]
    by_days_past_due: list[Cohort]
    currencies: list[str] = field(default_factory=list)

    @property
    def recovery_rate(self) -> float:
        """Recovered over the amount of the debts in scope (in `currency`)."""
        return _rate(self.recovered_amount, self.portfolio_amount)

    @property
    def opt_out_rate(self) -> float:
        """Numbers that opted out over debtors contacted in the period."""
        return _rate(self.opt_outs, self.contacted_debtors)

    @property
    def plan_completion_rate(self) -> float:
        """Plans completed over plans that ended (completed or broken)."""
        ended = self.plans.get("completed", 0) + self.plans.get("broken", 0)
        return _rate(self.plans.get("completed", 0), ended)


def _rate(part: int, whole: int) -> float:
    # A ratio, not money: a float rounded for display is fine here.
    return round(part / whole, 4) if whole else 0.0


def creditor_currencies(session: Session, creditor_id: str) -> list[str]:
    """The currencies of the creditor's debts, the most used first."""
    rows = session.execute(
        select(Debt.currency, func.count())
        .where(Debt.creditor_id == creditor_id)
        .group_by(Debt.currency)
        .order_by(func.count().desc(), Debt.currency)
    ).all()
    return [currency for currency, _ in rows]


def _in_scope(creditor_id: str, period: Period) -> Select[str, str, int, str, date]:
    query = select(Debt.id, Debt.debtor_id, Debt.amount, Debt.currency, Debt.due_date).where(
        Debt.creditor_id == creditor_id
    )
    if period.end is not None:
        query = query.where(Debt.created_at < period.end)
    return query


def _ids(session: Session, query: Select[str | None]) -> set[str]:
    return {value for value in session.scalars(query) if value is not None}


def bucket_of(moment: datetime, interval: Interval) -> str:
    """The label of the day ("2026-11-25"), ISO week ("2026-W48") or month ("2026-11")."""
    day = moment.astimezone(UTC).date()
    if interval == "day":
        return day.isoformat()
    if interval == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year}-{day.month:02d}"


def _buckets(period: Period, first: datetime | None, interval: Interval, today: date) -> list[str]:
    """Every label from the period's start (or the first payment) to its end (or today),
    so that a chart shows the empty stretches too."""
    start = period.start or first
    if start is None:
        return []
    end = period.end or datetime.combine(today + timedelta(days=1), time(), UTC)
    labels: list[str] = []
    day = start.astimezone(UTC).date()
    last = (end - timedelta(microseconds=1)).astimezone(UTC).date()
    while day <= last and len(labels) < 5000:
        label = bucket_of(datetime.combine(day, time(), UTC), interval)
        if not labels or labels[-1] != label:
            labels.append(label)
        day += timedelta(days=1)
    return labels


def _dpd_bucket(days: int) -> str:
    for label, low, high in DPD_BUCKETS:
        if days >= low and (high is None or days <= high):
            return label
    return DPD_BUCKETS[-1][0]


def recovery_report(
    session: Session,
    creditor_id: str,
    period: Period,
    *,
    today: date,
    currency: str | None = None,
    interval: Interval | None = None,
) -> Report:
    """The creditor's figures for `period` (see the module's docstring for the terms)."""
    currencies = creditor_currencies(session, creditor_id)
    currency = currency or (currencies[0] if currencies else None)
    debts = session.execute(_in_scope(creditor_id, period)).all()
    debt_ids = {d.id for d in debts}
    debtor_of = {d.id: d.debtor_id for d in debts}

    contacted = (
        _ids(
            session,
            select(Message.debt_id)
            .where(
                Message.creditor_id == creditor_id,
                Message.direction == "outbound",
                Message.sent_at.is_not(None),
                *period.where(Message.sent_at),
            )
            .distinct(),
        )
        & debt_ids
    )
    inbound = [
        (debtor_id, intent, language)
        for debtor_id, intent, language in session.execute(
            select(Message.debtor_id, Message.intent, Message.language).where(
                Message.creditor_id == creditor_id,
                Message.direction == "inbound",
                *period.where(Message.created_at),
            )
        )
    ]
    replied_debtors = {debtor for debtor, _, _ in inbound if debtor is not None}
    settling_debtors = {
        d for d, intent, _ in inbound if d is not None and intent in SETTLING_INTENTS
    }
    replied = {d for d in debt_ids if debtor_of[d] in replied_debtors}

    promises = session.execute(
        select(Promise.debt_id, Promise.status).where(
            Promise.creditor_id == creditor_id, *period.where(Promise.created_at)
        )
    ).all()
    plans = session.execute(
        select(Plan.debt_id, Plan.status).where(
            Plan.creditor_id == creditor_id, *period.where(Plan.created_at)
        )
    ).all()
    committed = {p.debt_id for p in promises} | {p.debt_id for p in plans}

    payments = session.execute(
        select(Payment.debt_id, Payment.applied_amount, Payment.paid_at).where(
            Payment.creditor_id == creditor_id,
            Payment.status == "applied",
            Payment.currency == currency,
            *period.where(Payment.paid_at),
        )
    ).all()
    recovered_by_debt: dict[str, int] = defaultdict(int)
    for payment in payments:
        if payment.debt_id is not None:
            recovered_by_debt[payment.debt_id] += payment.applied_amount
    paid = {d for d, amount in recovered_by_debt.items() if amount > 0}

    funnel_sets: list[set[str]] = []
    reached = contacted
    for stage in (
        replied,
        {d for d in debt_ids if debtor_of[d] in settling_debtors},
        committed,
        paid,
    ):
        funnel_sets.append(reached)
        reached = reached & stage
    funnel_sets.append(reached)

    opt_outs = _ids(
        session,
        select(Event.debtor_id)
        .where(
            Event.creditor_id == creditor_id,
            Event.kind == "debtor.contact_status",
            Event.to_value == "opted_out",
            *period.where(Event.created_at),
        )
        .distinct(),
    )

    intents: dict[str, Counter[str]] = defaultdict(Counter)
    for _, intent, language in inbound:
        intents[language or "unknown"][intent or "UNKNOWN"] += 1

    plan_counts = Counter(p.status for p in plans)

    if interval is None:
        span = (period.end - period.start) if period.start and period.end else None
        interval = "day" if span is not None and span <= DAILY_UP_TO else "month"
    over_time: dict[str, int] = dict.fromkeys(
        _buckets(period, min((p.paid_at for p in payments), default=None), interval, today), 0
    )
    for payment in payments:
        label = bucket_of(payment.paid_at, interval)
        over_time[label] = over_time.get(label, 0) + payment.applied_amount

    as_of = min(today, (period.end - timedelta(days=1)).date()) if period.end else today
    in_currency = [d for d in debts if d.currency == currency]
    by_month = _cohorts(
        ((f"{d.due_date.year}-{d.due_date.month:02d}", d.id, d.amount) for d in in_currency),
        recovered_by_debt,
    )
    by_dpd = _cohorts(
        ((_dpd_bucket((as_of - d.due_date).days), d.id, d.amount) for d in in_currency),
        recovered_by_debt,
        order=[label for label, _, _ in DPD_BUCKETS],
    )
    return Report(
        period=period,
        currency=currency,
        currencies=currencies,
        debts=len(debt_ids),
        contacted=len(contacted),
        replied=len(replied),
        recovered_amount=sum(p.applied_amount for p in payments),
        portfolio_amount=sum(d.amount for d in in_currency),
        promises_made=len(promises),
        promises_kept=sum(1 for p in promises if p.status == "kept"),
        promises_broken=sum(1 for p in promises if p.status == "broken"),
        opt_outs=len(opt_outs),
        contacted_debtors=len({debtor_of[d] for d in contacted}),
        funnel=dict(zip(FUNNEL_STAGES, (len(s) for s in funnel_sets), strict=True)),
        intents_by_language={lang: dict(sorted(c.items())) for lang, c in sorted(intents.items())},
        plans={"created": len(plans), **{s: plan_counts.get(s, 0) for s in PLAN_STATUSES}},
        interval=interval,
        recovery_over_time=sorted(over_time.items()),
        by_due_month=by_month,
        by_days_past_due=by_dpd,
    )


def _cohorts(
    rows: Iterable[tuple[str, str, int]],
    recovered_by_debt: dict[str, int],
    *,
    order: list[str] | None = None,
) -> list[Cohort]:
    debts: Counter[str] = Counter()
    amounts: Counter[str] = Counter()
    recovered: Counter[str] = Counter()
    for key, debt_id, amount in rows:
        debts[key] += 1
        amounts[key] += amount
        recovered[key] += recovered_by_debt.get(debt_id, 0)
    keys = [k for k in order if k in debts] if order else sorted(debts)
    return [Cohort(k, debts[k], amounts[k], recovered[k]) for k in keys]
