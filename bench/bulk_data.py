"""A synthetic portfolio written with bulk SQL (PostgreSQL `generate_series`, a recursive
CTE on SQLite): N debtors of one creditor with one debt and one conversation each, M
messages spread over them (statements out, replies in, half and half, over 90 days),
some promises, plans and installments, a wave of statements scheduled for tomorrow, and
`ANALYZE` at the end. Used by growth_bench.py (1,000 against 1,000,000 messages) to
check that the hot queries cost the same whatever the size.

Everything is deterministic; ids are readable strings (`dbt-00000042`), phones are
`bench.common.phone_for(i)` (distinct for up to 100,000 debtors).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

from bench.common import AREA_CODES, DISTINCT_PHONES

BASE_TIME = datetime(2026, 8, 27, 12, 0, tzinfo=UTC)  # 90 days before the bench's "now"
TWILIO_FROM = "+15005550006"


@dataclass(frozen=True)
class Size:
    debtors: int
    messages: int

    def __post_init__(self) -> None:
        if not 1 <= self.debtors <= DISTINCT_PHONES:
            raise ValueError(f"debtors must be 1..{DISTINCT_PHONES}")


class _Dialect:
    """The few SQL fragments that differ between PostgreSQL and SQLite."""

    def __init__(self, name: str) -> None:
        self.pg = name == "postgresql"

    def series(self, alias: str, count: int) -> str:
        """A FROM-clause source of integers 0..count-1 named `alias`(i)."""
        if self.pg:
            return f"generate_series(0, {count - 1}) AS {alias}(i)"
        return f"{alias}"

    def with_series(self, alias: str, count: int) -> str:
        """The WITH clause SQLite needs for `series` (nothing on PostgreSQL)."""
        if self.pg:
            return ""
        return (
            f"WITH RECURSIVE {alias}(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM {alias} "
            f"WHERE i < {count - 1}) "
        )

    def pad(self, expr: str, width: int = 8) -> str:
        if self.pg:
            return f"lpad(({expr})::text, {width}, '0')"
        return f"printf('%0{width}d', {expr})"

    def ts(self, seconds_expr: str) -> str:
        """BASE_TIME plus an integer number of seconds, as the backend stores it."""
        if self.pg:
            return (
                f"(TIMESTAMPTZ '2026-08-27 12:00:00+00' + ({seconds_expr}) * INTERVAL '1 second')"
            )
        return f"datetime('2026-08-27 12:00:00', '+' || ({seconds_expr}) || ' seconds')"

    def date(self, days_expr: str) -> str:
        if self.pg:
            return f"(DATE '2026-08-27' + ({days_expr})::int)"
        return f"date('2026-08-27', '+' || ({days_expr}) || ' days')"

    def pick(self, values: list[str], index_expr: str) -> str:
        """values[index_expr] as a CASE (works on both)."""
        arms = " ".join(f"WHEN {n} THEN '{v}'" for n, v in enumerate(values))
        return f"(CASE ({index_expr}) {arms} END)"

    def true(self) -> str:
        return "TRUE" if self.pg else "1"

    def false(self) -> str:
        return "FALSE" if self.pg else "0"


def _phone(d: _Dialect, i: str) -> str:
    areas = [a for a, _ in AREA_CODES]
    return (
        f"('+1' || {d.pick(areas, f'({i}) % {len(AREA_CODES)}')} || '555' || "
        f"{d.pad(f'(({i}) / {len(AREA_CODES)}) % 10000', 4)})"
    )


def _zone(d: _Dialect, i: str) -> str:
    return d.pick([z for _, z in AREA_CODES], f"({i}) % {len(AREA_CODES)}")


def populate(connection: Connection, creditor_id: str, size: Size) -> dict[str, int]:
    """Write the portfolio for `creditor_id` (which must exist) and ANALYZE; returns the
    row counts written per table."""
    d = _Dialect(connection.dialect.name)
    n, m = size.debtors, size.messages
    t, f = d.true(), d.false()
    counts: dict[str, int] = {}

    def run(table: str, sql: str, count: int) -> None:
        connection.execute(text(sql))
        counts[table] = count

    run(
        "debtors",
        f"""{d.with_series("g", n)}
        INSERT INTO debtors (id, creditor_id, name, phone, language, timezone, contact_status,
                             created_at, updated_at, contact_weekdays_only)
        SELECT 'dbt-' || {d.pad("i")}, '{creditor_id}', 'Debtor ' || i, {_phone(d, "i")},
               'en', {_zone(d, "i")}, 'active', {d.ts("i % 86400")}, {d.ts("i % 86400")}, {f}
        FROM {d.series("g", n)}""",
        n,
    )
    # 85% open, 5% in a plan, 10% settled (the settled ones are not "active").
    debt_status = (
        "(CASE WHEN i % 20 = 0 THEN 'in_plan' WHEN i % 10 = 1 THEN 'settled' ELSE 'open' END)"
    )
    run(
        "debts",
        f"""{d.with_series("g", n)}
        INSERT INTO debts (id, creditor_id, debtor_id, external_id, description, amount, balance,
                           currency, due_date, status, needs_review, created_at, updated_at)
        SELECT 'debt-' || {d.pad("i")}, '{creditor_id}', 'dbt-' || {d.pad("i")},
               'EXT-' || {d.pad("i")}, 'Invoice ' || i, 10000 + i % 90000,
               CASE WHEN i % 10 = 1 THEN 0 ELSE 10000 + i % 90000 END, 'USD',
               {d.date("30 + i % 60")}, {debt_status}, {f}, {d.ts("i % 86400")},
               {d.ts("i % 86400")}
        FROM {d.series("g", n)}""",
        n,
    )
    run(
        "conversations",
        f"""{d.with_series("g", n)}
        INSERT INTO conversations (id, creditor_id, debtor_id, needs_attention, created_at,
                                   updated_at, last_intent)
        SELECT 'conv-' || {d.pad("i")}, '{creditor_id}', 'dbt-' || {d.pad("i")},
               CASE WHEN i % 50 = 0 THEN {t} ELSE {f} END, {d.ts("i % 86400")},
               {d.ts("i % 86400")}, 'PAY'
        FROM {d.series("g", n)}""",
        n,
    )
    # Messages: even i an outbound statement (delivered), odd i the debtor's reply;
    # debtor i % n, spread evenly over the 90 days before now.
    step = max(1, (90 * 86400) // max(m, 1))
    outbound = "(i % 2 = 0)"
    run(
        "messages",
        f"""{d.with_series("g", m)}
        INSERT INTO messages (id, creditor_id, debtor_id, debt_id, direction, kind, initiated,
                              is_reply, body, to_phone, from_phone, status, provider_sid,
                              segments, encoding, attempts, needs_reconcile, priority,
                              created_at, updated_at, sent_at, delivered_at, send_after, intent)
        SELECT 'msg-' || {d.pad("i", 9)}, '{creditor_id}', 'dbt-' || {d.pad(f"i % {n}")},
               'debt-' || {d.pad(f"i % {n}")},
               CASE WHEN {outbound} THEN 'outbound' ELSE 'inbound' END,
               CASE WHEN {outbound} THEN 'statement' ELSE 'inbound' END,
               CASE WHEN {outbound} THEN {t} ELSE {f} END, {f},
               CASE WHEN {outbound} THEN 'Bench Creditor: you owe $123.45. Reply PAY, PLAN or CALL.'
                    ELSE 'PAY' END,
               CASE WHEN {outbound} THEN {_phone(d, f"i % {n}")} ELSE '{TWILIO_FROM}' END,
               CASE WHEN {outbound} THEN '{TWILIO_FROM}' ELSE {_phone(d, f"i % {n}")} END,
               CASE WHEN {outbound} THEN 'delivered' ELSE 'received' END,
               'SMbench' || {d.pad("i", 12)}, 1, 'GSM-7', CASE WHEN {outbound} THEN 1 ELSE 0 END,
               {f}, 2, {d.ts(f"i * {step}")}, {d.ts(f"i * {step}")},
               CASE WHEN {outbound} THEN {d.ts(f"i * {step}")} END,
               CASE WHEN {outbound} THEN {d.ts(f"i * {step} + 5")} END,
               CASE WHEN {outbound} THEN {d.ts(f"i * {step}")} END,
               CASE WHEN {outbound} THEN NULL ELSE 'PAY' END
        FROM {d.series("g", m)}""",
        m,
    )
    # A wave of statements held for tomorrow's window: 1% of the messages (at most
    # 10,000), the rows an outbox claim must step over.
    wave = max(1, min(m // 100, 10_000))
    run(
        "messages (scheduled)",
        f"""{d.with_series("g", wave)}
        INSERT INTO messages (id, creditor_id, debtor_id, debt_id, direction, kind, initiated,
                              is_reply, body, to_phone, from_phone, status, segments, encoding,
                              attempts, needs_reconcile, priority, created_at, updated_at,
                              send_after, held_reason)
        SELECT 'sched-' || {d.pad("i", 9)}, '{creditor_id}', 'dbt-' || {d.pad(f"i % {n}")},
               'debt-' || {d.pad(f"i % {n}")}, 'outbound', 'statement', {t}, {f},
               'Bench Creditor: you owe $123.45.', {_phone(d, f"i % {n}")}, NULL, 'scheduled',
               1, 'GSM-7', 0, {f}, 2, {d.ts(f"{90 * 86400}")}, {d.ts(f"{90 * 86400}")},
               {d.ts(f"{91 * 86400} + i")}, 'outside_window'
        FROM {d.series("g", wave)}""",
        wave,
    )
    # Promises: one per 5 debtors, 1 in 20 of them still open.
    promises = max(1, n // 5)
    run(
        "promises",
        f"""{d.with_series("g", promises)}
        INSERT INTO promises (id, creditor_id, debtor_id, debt_id, promised_date,
                              balance_at_promise, status, created_at, updated_at)
        SELECT 'prm-' || {d.pad("i")}, '{creditor_id}', 'dbt-' || {d.pad(f"(i * 5) % {n}")},
               'debt-' || {d.pad(f"(i * 5) % {n}")}, {d.date("i % 120")}, 10000,
               CASE WHEN i % 20 = 0 THEN 'open' WHEN i % 2 = 0 THEN 'kept' ELSE 'broken' END,
               {d.ts("i % 86400")}, {d.ts("i % 86400")}
        FROM {d.series("g", promises)}""",
        promises,
    )
    # Plans for the in_plan debts (every 20th debtor; other plans ended), 3 installments.
    plans = max(1, n // 20)
    connection.execute(
        text(
            f"""INSERT INTO offer_rules (id, creditor_id, name, priority, lump_sum_discount_pct,
                    lump_sum_valid_days, installment_counts, monthly_interest_pct,
                    min_installment, first_installment_in_days, grace_days, break_after_days,
                    reminder_days_before, active, version, created_at, updated_at,
                    down_payment_allowed, down_payment_min_pct, periodicities,
                    hardship_pause_days)
                VALUES ('rule-bench', '{creditor_id}', 'bench', 1, 0, 7, '[3]', 0, 1000, 7, 5, 30,
                    3, {t}, 1, {d.ts("0")}, {d.ts("0")}, {t}, 0, '["monthly"]', 0)"""
        )
    )
    connection.execute(
        text(
            f"""INSERT INTO offer_rule_versions (id, rule_id, version, terms, created_at)
                VALUES ('rule-bench-v1', 'rule-bench', 1, '{{}}', {d.ts("0")})"""
        )
    )
    run(
        "plans",
        f"""{d.with_series("g", plans)}
        INSERT INTO plans (id, creditor_id, debt_id, debtor_id, rule_version_id, status,
                           principal, total, currency, installment_count, monthly_interest_pct,
                           grace_days, break_after_days, reminder_days_before, created_at,
                           updated_at)
        SELECT 'plan-' || {d.pad("i")}, '{creditor_id}', 'debt-' || {d.pad(f"(i * 20) % {n}")},
               'dbt-' || {d.pad(f"(i * 20) % {n}")}, 'rule-bench-v1', 'active', 30000, 30000,
               'USD', 3, 0, 5, 30, 3, {d.ts("0")}, {d.ts("0")}
        FROM {d.series("g", plans)}""",
        plans,
    )
    installments = plans * 3
    run(
        "installments",
        f"""{d.with_series("g", installments)}
        INSERT INTO installments (id, plan_id, debt_id, number, amount, paid_amount, due_date,
                                  status)
        SELECT 'inst-' || {d.pad("i", 9)}, 'plan-' || {d.pad("i / 3")},
               'debt-' || {d.pad(f"((i / 3) * 20) % {n}")}, 1 + i % 3, 10000,
               CASE WHEN i % 3 = 0 THEN 10000 ELSE 0 END, {d.date("60 + 30 * (i % 3)")},
               CASE WHEN i % 3 = 0 THEN 'paid' ELSE 'pending' END
        FROM {d.series("g", installments)}""",
        installments,
    )
    connection.execute(text("ANALYZE"))
    return counts
