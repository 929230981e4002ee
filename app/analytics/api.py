"""`GET /api/v1/analytics/summary`: the recovery figures of the key's creditor."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from app.access.deps import CanViewAmounts
from app.analytics.schemas import (
    AnalyticsSummary,
    DaysPastDueCohort,
    DueMonthCohort,
    FunnelStage,
    PeriodOut,
    PlanFigures,
    RecoveryOverTime,
    RecoveryPoint,
)
from app.analytics.service import Period, Report, recovery_report
from app.deps import ClockDep, SessionDep
from app.errors import ValidationFailed
from app.money import is_known_currency

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])

MAX_PERIOD = timedelta(days=3660)


@router.get("/summary", response_model_by_alias=True)
def analytics_summary(
    principal: CanViewAmounts,
    session: SessionDep,
    clock: ClockDep,
    from_: Annotated[
        date | None, Query(alias="from", description="first day (UTC), included")
    ] = None,
    to: Annotated[date | None, Query(description="last day (UTC), included")] = None,
    currency: Annotated[
        str | None, Query(description="ISO 4217; default: most of the creditor's debts'")
    ] = None,
    interval: Literal["day", "week", "month"] | None = None,
) -> AnalyticsSummary:
    """Debts, contacted, replied, recovered amount and rate, promises made and kept,
    opt-outs, the funnel, intents by language, plan completion, recovery over time and
    by cohort of due month and days past due."""
    if from_ is not None and to is not None:
        if from_ > to:
            raise ValidationFailed("must not be after 'to'", field="from")
        if to - from_ > MAX_PERIOD:
            raise ValidationFailed("the period is at most ten years", field="from")
    if currency is not None:
        currency = currency.upper()
        if not is_known_currency(currency):
            raise ValidationFailed("unknown ISO 4217 currency code", field="currency")
    report = recovery_report(
        session,
        principal.creditor.id,
        Period.of_dates(from_, to),
        today=clock.now().date(),
        currency=currency,
        interval=interval,
    )
    return summary_out(report, from_, to)


def summary_out(report: Report, first: date | None, last: date | None) -> AnalyticsSummary:
    """The API view of a report."""
    return AnalyticsSummary(
        period=PeriodOut(from_=first, to=last),
        currency=report.currency,
        currencies=report.currencies,
        debts=report.debts,
        contacted=report.contacted,
        replied=report.replied,
        recovered_amount=report.recovered_amount,
        portfolio_amount=report.portfolio_amount,
        recovery_rate=report.recovery_rate,
        promises_made=report.promises_made,
        promises_kept=report.promises_kept,
        promises_broken=report.promises_broken,
        opt_outs=report.opt_outs,
        opt_out_rate=report.opt_out_rate,
        funnel=[FunnelStage(stage=s, debts=n) for s, n in report.funnel.items()],
        intents_by_language=report.intents_by_language,
        plans=PlanFigures(
            created=report.plans["created"],
            active=report.plans["active"],
            completed=report.plans["completed"],
            broken=report.plans["broken"],
            canceled=report.plans["canceled"],
            completion_rate=report.plan_completion_rate,
        ),
        recovery_over_time=RecoveryOverTime(
            interval=report.interval,
            points=[RecoveryPoint(period=p, amount=a) for p, a in report.recovery_over_time],
        ),
        by_due_month=[
            DueMonthCohort(
                due_month=c.key,
                debts=c.debts,
                amount=c.amount,
                recovered=c.recovered,
                recovery_rate=c.recovery_rate,
            )
            for c in report.by_due_month
        ],
        by_days_past_due=[
            DaysPastDueCohort(
                bucket=c.key,
                debts=c.debts,
                amount=c.amount,
                recovered=c.recovered,
                recovery_rate=c.recovery_rate,
            )
            for c in report.by_days_past_due
        ],
    )
