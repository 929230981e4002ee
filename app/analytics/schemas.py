"""`GET /api/v1/analytics/summary`."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class PeriodOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date | None = Field(alias="from", serialization_alias="from")
    to: date | None


class FunnelStage(BaseModel):
    stage: str = Field(description="contacted | replied | intent | promise_or_plan | paid")
    debts: int


class PlanFigures(BaseModel):
    created: int
    active: int
    completed: int
    broken: int
    canceled: int
    completion_rate: float = Field(description="completed / (completed + broken)")


class RecoveryPoint(BaseModel):
    period: str = Field(description='"2026-11-25", "2026-W48" or "2026-11"')
    amount: int


class RecoveryOverTime(BaseModel):
    interval: str = Field(description="day | week | month")
    points: list[RecoveryPoint]


class DueMonthCohort(BaseModel):
    due_month: str
    debts: int
    amount: int
    recovered: int
    recovery_rate: float


class DaysPastDueCohort(BaseModel):
    bucket: str = Field(description="not_due | 1-30 | 31-60 | 61-90 | 91-180 | 181+")
    debts: int
    amount: int
    recovered: int
    recovery_rate: float


class AnalyticsSummary(BaseModel):
    """Recovery figures of the period. Counts are of debts (loaded before the period
    ends) unless named otherwise; money is in minor units of `currency` only."""

    model_config = ConfigDict(populate_by_name=True)

    period: PeriodOut
    currency: str | None = Field(description="the currency every amount here is in")
    currencies: list[str] = Field(description="the currencies of the creditor's debts")
    debts: int
    contacted: int = Field(description="debts with a text sent in the period")
    replied: int = Field(description="debts whose debtor replied in the period")
    recovered_amount: int = Field(description="payments applied in the period")
    portfolio_amount: int = Field(description="the amount of the debts in scope")
    recovery_rate: float = Field(description="recovered_amount / portfolio_amount")
    promises_made: int
    promises_kept: int = Field(description="of the promises made in the period")
    promises_broken: int
    opt_outs: int = Field(description="numbers that opted out in the period")
    opt_out_rate: float = Field(description="opt_outs / debtors contacted")
    funnel: list[FunnelStage] = Field(description="each stage within the previous one")
    intents_by_language: dict[str, dict[str, int]] = Field(
        description="replies received in the period, by language and intent"
    )
    plans: PlanFigures = Field(description="plans agreed in the period, by status now")
    recovery_over_time: RecoveryOverTime
    by_due_month: list[DueMonthCohort]
    by_days_past_due: list[DaysPastDueCohort] = Field(
        description="days past due at the period's end (or today)"
    )
