"""The console's charts, drawn from the analytics service's report (the same figures
GET /api/v1/analytics/summary answers with): recovery over time, the funnel, intents by
language, opt-out rate, promises kept, plan completion, and the cohorts; and the dry
run's report (app.simulation, the same as POST /api/v1/simulations) as charts and tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from babel.numbers import format_decimal
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


@dataclass
class DryRun:
    """A dry run's report (app.simulation) as the console shows it."""

    report: dict[str, Any]
    summary: dict[str, str]
    charts: dict[str, Markup]
    by_day: list[tuple[str, str, str]]
    by_hour: list[tuple[str, str]]
    held: list[tuple[str, str]]
    segments: list[dict[str, str]]
    lanes: list[dict[str, str]]


def _usd(t: Translator, amount: float) -> str:
    return t.money(round(amount * 100), "USD")


def dry_run(report: dict[str, Any], t: Translator) -> DryRun:
    """Headline figures, charts and tables of one dry-run report."""
    days = report["messages_by_day"]
    seg_days = report.get("segments_by_day", {})
    hours = report["by_local_hour"]
    held = report["held_by_reason"]
    every_day = max(1, -(-len(days) // 10))
    lanes = []
    for name, lane in report["lanes"].items():
        share = lane["peak_hour_share"]
        lanes.append(
            {
                "name": name,
                "label": t(f"lane_{name}"),
                "messages": t.number(lane["messages"]),
                "peak_minute": t.number(lane["peak_per_minute"]),
                "peak_hour": t.number(lane["peak_per_hour"]),
                "capacity_minute": t.number(lane["capacity_per_minute"]),
                "capacity_hour": t.number(lane["capacity_per_hour"]),
                "share": t.percent(share) if share is not None else "—",
                "fits": t("sim_yes") if lane["fits"] else t("sim_no"),
                "fits_class": "" if lane["fits"] else "heat-3",
            }
        )
    return DryRun(
        report=report,
        summary={
            "messages": t.number(report["messages"]),
            "initiated": t.number(report["initiated"]),
            "replies": t.number(report["replies"]),
            "inbound": t.number(report["inbound"]),
            "payments": t.number(report["payments"]),
            "waiting": t.number(report["still_waiting"]),
            "debtors": t.number(report["debtors"]),
            "segments": t.number(report["segments"]),
            "cost": _usd(t, report["estimated_cost_usd"]),
            "price": format_decimal(
                report["segment_price_micro_usd"] / 1_000_000, "#,##0.00####", locale=t.locale
            ),
            "violations": t.number(len(report["violations"])),
            "expected_replies": t.number(report["expected_replies"]["inbound"]),
            "expected_peak": t.number(report["expected_replies"]["peak_per_hour"]),
        },
        charts={
            "per_day": column_chart(
                "chart-sim-days",
                t("sim_per_day"),
                [Bar(_short(day), n, t.number(n)) for day, n in days.items()],
                label_every=every_day,
            ),
            "per_hour": column_chart(
                "chart-sim-hours",
                t("sim_per_hour"),
                [Bar(hour, n, t.number(n)) for hour, n in hours.items()],
                colour="#00696f",
                label_every=3,
            ),
            "held": bar_chart(
                "chart-sim-held",
                t("sim_held"),
                [Bar(reason.replace("_", " "), n, t.number(n)) for reason, n in held.items()],
            ),
        },
        by_day=[(day, t.number(n), t.number(seg_days.get(day, 0))) for day, n in days.items()],
        by_hour=[(hour, t.number(n)) for hour, n in hours.items()],
        held=[(reason.replace("_", " "), t.number(n)) for reason, n in held.items()],
        segments=[
            {
                "kind": kind.replace("_", " "),
                "messages": t.number(row["messages"]),
                "segments": t.number(row["segments"]),
                "cost": _usd(t, row["estimated_cost_usd"]),
            }
            for kind, row in report["segments_by_kind"].items()
        ],
        lanes=lanes,
    )
