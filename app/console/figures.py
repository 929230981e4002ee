"""The console's charts, drawn from the analytics service's report (the same figures
GET /api/v1/analytics/summary answers with): recovery over time, the funnel, intents by
language, opt-out rate, promises kept, plan completion, and the cohorts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from markupsafe import Markup
from sqlalchemy.orm import Session

from app.analytics.service import Cohort, Period, Report, recovery_report
from app.console.charts import Bar, bar_chart, column_chart, meter, stacked_chart
from app.console.i18n import Translator

FUNNEL_LABELS = (
    ("contacted", "contacted"),
    ("replied", "replied"),
    ("intent", "intent"),
    ("promise_or_plan", "promise_or_plan"),
    ("paid", "paid"),
)


@dataclass
class Analytics:
    """Headline numbers, the charts as SVG, and the cohort tables."""

    report: Report
    summary: dict[str, str]
    charts: dict[str, Markup]
    cohorts: list[tuple[str, list[dict[str, Any]]]]


def _short(label: str) -> str:
    if len(label) == 7 and label[4] == "-":
        return f"{label[5:]}/{label[2:4]}"
    return label[5:] if len(label) == 10 else label


def _heat(rate: float) -> int:
    return 0 if rate <= 0 else min(4, 1 + int(rate * 4))


def _cohort_rows(t: Translator, cohorts: list[Cohort], currency: str) -> list[dict[str, Any]]:
    return [
        {
            "key": c.key.replace("_", " "),
            "debts": t.number(c.debts),
            "amount": t.money(c.amount, currency),
            "recovered": t.money(c.recovered, currency),
            "rate": t.percent(c.recovery_rate),
            "heat": _heat(c.recovery_rate),
        }
        for c in cohorts
    ]


def analytics(
    session: Session, creditor_id: str, *, period: Period, today: date, t: Translator
) -> Analytics:
    """The report for `period` and everything drawn from it."""
    report = recovery_report(session, creditor_id, period, today=today)
    currency = report.currency or "USD"
    funnel = [Bar(t("debts_total"), report.debts, t.number(report.debts))] + [
        Bar(t(label), report.funnel.get(stage, 0), t.number(report.funnel.get(stage, 0)))
        for stage, label in FUNNEL_LABELS
    ]
    recovery = [  # "2026-05" is drawn "05/26" so that a year of bars fits a phone
        Bar(_short(label), amount, t.money(amount, currency))
        for label, amount in report.recovery_over_time[-12:]
    ]
    intents = [
        (language, [Bar(intent, n, t.number(n)) for intent, n in counts.items()])
        for language, counts in report.intents_by_language.items()
    ]
    ended = report.promises_kept + report.promises_broken
    kept_rate = report.promises_kept / ended if ended else 0.0
    return Analytics(
        report=report,
        summary={
            "debts": t.number(report.debts),
            "recovered": t.money(report.recovered_amount, currency),
            "recovery_rate": t.percent(report.recovery_rate),
            "promises": t("of", part=t.number(report.promises_kept), whole=t.number(ended)),
        },
        charts={
            "recovery": column_chart("chart-recovery", t("recovery_over_time"), recovery),
            "funnel": bar_chart("chart-funnel", t("funnel"), funnel),
            "intents": stacked_chart("chart-intents", t("intents_by_language"), intents),
            "opt_out": meter(
                "chart-opt-out",
                t("opt_out_rate"),
                report.opt_out_rate,
                t.percent(report.opt_out_rate),
                colour="#b3261e",
            ),
            "promises": meter(
                "chart-promises", t("promises_kept"), kept_rate, t.percent(kept_rate)
            ),
            "plans": meter(
                "chart-plans",
                t("plan_completion"),
                report.plan_completion_rate,
                t.percent(report.plan_completion_rate),
            ),
        },
        cohorts=[
            (t("cohort_due_month"), _cohort_rows(t, report.by_due_month, currency)),
            (t("cohort_dpd"), _cohort_rows(t, report.by_days_past_due, currency)),
        ],
    )
