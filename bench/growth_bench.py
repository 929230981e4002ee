"""Cost as data grows: the inbound webhook, the outbox claim and (when main has it) the
inbound claim, timed on a small database (1,000 debtors, 1,000 messages) and a large one
(100,000 debtors, 1,000,000 messages), in the same run. Target: large / small <= 1.2.

Per backend and size: a fresh database (PostgreSQL's own `parley_bench_growth`; a temp
SQLite file), migrated, one creditor (`create_creditor`), the portfolio of
bench/bulk_data.py written with bulk SQL (not timed), `ANALYZE`. Then, timed:

* webhook: --texts signed inbound texts through `POST /webhooks/twilio/sms` of the real
  app (`create_app`, simulator gateway, no worker; fastapi's TestClient, one at a
  time), half from known debtors picked across the whole portfolio, half from numbers
  no creditor knows (the unknown-sender path); the median and p90 of each kind.
* outbox claim: 1,000 answers queued due now (bulk SQL), then `OutboxWorker.claim(50)`
  20 times: the median claim.
* periodic jobs: one tick of every scheduled job (`app.main.periodic_jobs`: cadence,
  promises, plans, codes, callback reminders) after a first, untimed one (which does the
  day's real work), 5 times: the median.
* inbound claim: the inbound worker's claim of due texts, if the app has one
  (`app.actions.inbox.InboundProcessor`); skipped with a note otherwise.

`--explain` (PostgreSQL) also records every statement those operations ran on the large
database and prints its `EXPLAIN ANALYZE` plan (abridged), flagging sequential scans of
the big tables. Figures are printed, never asserted.

    .venv/bin/python bench/growth_bench.py [--backend sqlite|postgres|all] [--texts 200]
        [--large-messages 1000000] [--large-debtors 100000] [--explain]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `app`, `bench`, `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient
from sqlalchemy import event, inspect, text

from app.clock import FixedClock
from app.config import Settings
from app.creditors.service import create_creditor
from app.db import Database
from app.main import create_app, periodic_jobs
from app.messaging.gateway import SimulatorGateway
from app.worker import OutboxWorker
from bench.bulk_data import TWILIO_FROM, Size, populate
from bench.common import (
    drop_postgres,
    fresh_database,
    percentile,
    phone_for,
    print_machine,
    print_table,
    selected_backends,
    timed,
)
from tests.fake_twilio import inbound_sms_params, twilio_signature

PG_DATABASE = "parley_bench_growth"
ACCOUNT_SID = "AC" + "d" * 32
AUTH_TOKEN = "bench-auth-token"
PUBLIC_URL = "https://parley.example.com"
# Wednesday 2026-11-25 19:00 UTC, 90 days after bulk_data.BASE_TIME: inside every
# bench debtor's window.
NOW = datetime(2026, 11, 25, 19, 0, tzinfo=UTC)
BODIES = ("PAY", "hmm", "I'll pay friday", "quero parcelar")
BIG_TABLES = (
    "messages",
    "debtors",
    "debts",
    "conversations",
    "promises",
    "installments",
    "plans",
    "inbound_texts",
    "events",
)


def bench_settings(database_url: str) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "public_url": PUBLIC_URL,
        "sms_gateway": "simulator",
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_from": TWILIO_FROM,
        "log_json": False,
        "log_level": "WARNING",
    }
    return Settings.model_validate(values)


# ----------------------------------------------------------------- statement capture
@dataclass
class Captured:
    """Statements run while capturing, first parameters of each, in order."""

    statements: dict[str, tuple[str, Any]] = field(default_factory=dict)
    active: str | None = None

    def listen(self, database: Database) -> None:
        def before(
            conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
        ) -> None:
            if self.active is None or many:
                return
            key = f"{self.active}: {statement}"
            self.statements.setdefault(key, (self.active, (statement, params)))

        event.listen(database.engine, "before_cursor_execute", before)

    @contextmanager
    def capturing(self, label: str) -> Iterator[None]:
        self.active = label
        try:
            yield
        finally:
            self.active = None


def explain_all(database: Database, captured: Captured) -> list[str]:
    """EXPLAIN ANALYZE each captured statement (in a transaction rolled back), abridged."""
    out: list[str] = []
    seen: set[str] = set()
    for label, (statement, params) in captured.statements.values():
        head = statement.split()[0].upper()
        if head in ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE") or statement in seen:
            continue
        if "pg_try_advisory" in statement or "pg_notify" in statement.lower() or head == "LISTEN":
            continue
        seen.add(statement)
        with database.engine.connect() as conn:
            trans = conn.begin()
            try:
                rows = conn.exec_driver_sql(
                    "EXPLAIN (ANALYZE, COSTS OFF, TIMING ON, SUMMARY ON) " + statement, params
                ).all()
            except Exception as exc:
                rows = [(f"(could not explain: {type(exc).__name__}: {str(exc).splitlines()[0]})",)]
            finally:
                trans.rollback()
        plan = [str(r[0]) for r in rows]
        seq = [
            line.strip()
            for line in plan
            if "Seq Scan on" in line and any(f"Seq Scan on {t} " in line + " " for t in BIG_TABLES)
        ]
        flat = " ".join(statement.split())
        out.append(f"-- [{label}] {flat[:300]}{'...' if len(flat) > 300 else ''}")
        for line in plan:
            if "Planning Time" in line:
                continue
            out.append("   " + line)
        if seq:
            out.append(f"   !! sequential scan of a big table: {seq}")
    return out


# ------------------------------------------------------------------------ operations
def queue_answers(database: Database, creditor_id: str, size: Size, count: int) -> None:
    """`count` answers due now to distinct debtors (bulk SQL, not timed)."""
    pg = database.is_postgres
    now = "TIMESTAMPTZ '2026-11-25 18:59:00+00'" if pg else "'2026-11-25 18:59:00.000000'"
    t, f = ("TRUE", "FALSE") if pg else ("1", "0")
    with database.transaction() as session:
        for i in range(count):
            debtor = (i * 7) % size.debtors
            phone = phone_for(debtor)[0]
            session.execute(
                text(
                    "INSERT INTO messages (id, creditor_id, debtor_id, debt_id, direction, kind,"
                    " initiated, is_reply, body, to_phone, status, segments, encoding, attempts,"
                    " needs_reconcile, priority, created_at, updated_at, send_after) VALUES"
                    f" (:id, :c, :d, :debt, 'outbound', 'reply', {f}, {t}, 'Your code: 123',"
                    f" :phone, 'queued', 1, 'GSM-7', 0, {f}, 0, {now}, {now}, {now})"
                ),
                {
                    "id": f"ans-{i:08d}",
                    "c": creditor_id,
                    "d": f"dbt-{debtor:08d}",
                    "debt": f"debt-{debtor:08d}",
                    "phone": phone,
                },
            )


def time_outbox_claims(database: Database, settings: Settings, claims: int) -> list[float]:
    worker = OutboxWorker(database, SimulatorGateway(), FixedClock(NOW), settings)
    seconds = []
    for _ in range(claims):
        with timed() as watch:
            got = worker.claim(50)
        if len(got) != 50:
            raise SystemExit(f"outbox claim got {len(got)} messages, expected 50")
        seconds.append(watch.seconds)
    return seconds


def inbound_claim_timer(
    database: Database, settings: Settings, size: Size
) -> Callable[[], float] | None:
    """A timed call of the inbound worker's claim (the query that picks the numbers with
    due texts), if this checkout has the inbound queue (`app.actions.inbox`, table
    `inbound_texts`): the table gets one processed row per inbound message of the
    portfolio (its history) and 1,000 pending texts; None when there is no queue."""
    try:
        from app.actions import inbox
    except ImportError:
        return None
    processor_type = getattr(inbox, "InboundProcessor", None)
    if processor_type is None or not hasattr(processor_type, "_due_numbers"):
        return None
    pg = database.is_postgres
    with database.engine.begin() as connection:
        if "inbound_texts" not in inspect(connection).get_table_names():
            return None
        history = size.messages // 2
        series = f"generate_series(0, {history - 1}) AS g(i)" if pg else "g"
        prefix = (
            ""
            if pg
            else "WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g "
            f"WHERE i < {history - 1}) "
        )
        stamp = "TIMESTAMPTZ '2026-11-01 12:00:00+00'" if pg else "'2026-11-01 12:00:00.000000'"
        due = "TIMESTAMPTZ '2026-11-25 18:59:00+00'" if pg else "'2026-11-25 18:59:00.000000'"
        connection.execute(
            text(
                f"{prefix}INSERT INTO inbound_texts (provider_sid, from_phone, to_phone, body, "
                "received_at, state, attempts, next_attempt_at, processed_at) "
                f"SELECT 'SMhist' || i, '+16465550000', '{TWILIO_FROM}', 'PAY', {stamp}, "
                f"'processed', 1, {stamp}, {stamp} FROM {series}"
            )
        )
        for i in range(1000):
            connection.execute(
                text(
                    "INSERT INTO inbound_texts (provider_sid, from_phone, to_phone, body, "
                    "received_at, state, attempts, next_attempt_at) VALUES "
                    f"(:sid, :phone, '{TWILIO_FROM}', 'PAY', {due}, 'pending', 0, {due})"
                ),
                {"sid": f"SMpend{i:08d}", "phone": phone_for((i * 13) % size.debtors)[0]},
            )
        if pg:
            connection.execute(text("ANALYZE inbound_texts"))
    processor = processor_type(database, None, FixedClock(NOW), settings)

    def claim() -> float:
        with timed() as watch:
            numbers = processor._due_numbers(50)
        if len(numbers) != 50:
            raise SystemExit(f"inbound claim got {len(numbers)} numbers, expected 50")
        return watch.seconds

    return claim


def signed_texts(size: Size, count: int, run: str) -> list[tuple[str, dict[str, str], str]]:
    """(kind, form, signature): alternately a known debtor (spread over the portfolio)
    and an unknown number."""
    url = f"{PUBLIC_URL}/webhooks/twilio/sms"
    out = []
    for i in range(count):
        if i % 2 == 0:
            kind = "known"
            phone = phone_for((i * 7919) % size.debtors)[0]
        else:
            kind = "unknown"
            phone = f"+1646555{i:04d}"  # no bench debtor has a 646 number
        params = inbound_sms_params(
            from_=phone,
            to=TWILIO_FROM,
            body=BODIES[(i // 2) % len(BODIES)],
            message_sid=f"SMgrowth{run}{i:024d}",
            account_sid=ACCOUNT_SID,
        )
        out.append((kind, params, twilio_signature(AUTH_TOKEN, url, params)))
    return out


def time_webhook(
    client: TestClient, texts: list[tuple[str, dict[str, str], str]]
) -> dict[str, list[float]]:
    by_kind: dict[str, list[float]] = {"known": [], "unknown": []}
    for kind, params, signature in texts:
        started = time.perf_counter()
        response = client.post(
            "/webhooks/twilio/sms", data=params, headers={"X-Twilio-Signature": signature}
        )
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(f"webhook answered {response.status_code}: {response.text[:200]}")
        by_kind[kind].append(elapsed)
    return by_kind


@dataclass
class SizeResult:
    size: Size
    webhook: dict[str, list[float]]
    outbox_claim: list[float]
    inbound_claim: list[float] | None
    jobs: list[float]
    populate_seconds: float

    def median_ms(self, values: list[float]) -> float:
        return statistics.median(values) * 1000


def bench_size(
    backend: str, workdir: Path, size: Size, texts: int, explain: bool
) -> tuple[SizeResult, list[str]]:
    tag = f"[{backend} {size.messages:,} msgs]"
    url = fresh_database(backend, workdir, f"growth{size.messages}", pg_database=PG_DATABASE)
    settings = bench_settings(url)
    database = Database(url)
    plans: list[str] = []
    try:
        clock = FixedClock(NOW)
        with database.transaction() as session:
            creditor_id = create_creditor(session, clock, "Bench Creditor").id
        with timed() as fill, database.engine.begin() as connection:
            counts = populate(connection, creditor_id, size)
        print(f"{tag} populated in {fill.seconds:.1f} s: {counts}", flush=True)
        captured = Captured()
        if explain and database.is_postgres:
            captured.listen(database)
        app = create_app(settings, clock=clock, gateway=SimulatorGateway(), database=database)
        with TestClient(app) as client:
            time_webhook(client, signed_texts(size, 20, "warm"))  # warm-up, not counted
            with captured.capturing("webhook"):
                webhook = time_webhook(client, signed_texts(size, texts, "run"))
        queue_answers(database, creditor_id, size, 1000)
        if database.is_postgres:
            with database.engine.begin() as connection:
                connection.execute(text("ANALYZE messages"))
        with captured.capturing("outbox claim"):
            claims = time_outbox_claims(database, settings, 20)
        worker = OutboxWorker(
            database, SimulatorGateway(), FixedClock(NOW), settings, jobs=periodic_jobs()
        )
        # The first tick does the portfolio's real work of the day (reminders, broken
        # promises); the timed ones are the ticks after it, as every minute after.
        worker.run_jobs()
        jobs = []
        for _ in range(5):
            with captured.capturing("periodic jobs"), timed() as watch:
                worker.run_jobs()
            jobs.append(watch.seconds)
        timer = inbound_claim_timer(database, settings, size)
        inbound = None
        if timer is not None:
            with captured.capturing("inbound claim"):
                inbound = [timer() for _ in range(20)]
        if explain and database.is_postgres:
            plans = explain_all(database, captured)
    finally:
        database.dispose()
    result = SizeResult(size, webhook, claims, inbound, jobs, fill.seconds)
    print(
        f"{tag} webhook known p50 {result.median_ms(webhook['known']):.1f} ms, unknown p50 "
        f"{result.median_ms(webhook['unknown']):.1f} ms; outbox claim(50) p50 "
        f"{result.median_ms(claims):.1f} ms; periodic jobs p50 {result.median_ms(jobs):.1f} ms"
        + (
            f"; inbound claim p50 {result.median_ms(inbound):.1f} ms"
            if inbound
            else "; inbound claim: not in this app yet"
        ),
        flush=True,
    )
    return result, plans


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    parser.add_argument("--texts", type=int, default=200, help="timed texts per size (default 200)")
    parser.add_argument("--small-messages", type=int, default=1000)
    parser.add_argument("--small-debtors", type=int, default=1000)
    parser.add_argument("--large-messages", type=int, default=1_000_000)
    parser.add_argument("--large-debtors", type=int, default=100_000)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE plans")
    args = parser.parse_args(argv)
    print_machine()
    rows = []
    for backend in selected_backends(args.backend):
        with tempfile.TemporaryDirectory(prefix="parley-growth-") as tmp:
            try:
                small, _ = bench_size(
                    backend,
                    Path(tmp),
                    Size(args.small_debtors, args.small_messages),
                    args.texts,
                    False,
                )
                large, plans = bench_size(
                    backend,
                    Path(tmp),
                    Size(args.large_debtors, args.large_messages),
                    args.texts,
                    args.explain,
                )
            finally:
                if backend == "postgres":
                    drop_postgres(PG_DATABASE)
        if plans:
            print(f"\n[{backend}] EXPLAIN ANALYZE on the large database:")
            print("\n".join(plans))
        print_machine()
        ops: list[tuple[str, list[float], list[float]]] = [
            ("webhook, known sender (p50)", small.webhook["known"], large.webhook["known"]),
            ("webhook, unknown sender (p50)", small.webhook["unknown"], large.webhook["unknown"]),
            ("outbox claim of 50 (p50)", small.outbox_claim, large.outbox_claim),
            ("periodic jobs, one tick (p50)", small.jobs, large.jobs),
        ]
        if small.inbound_claim and large.inbound_claim:
            ops.append(("inbound claim (p50)", small.inbound_claim, large.inbound_claim))
        for name, a, b in ops:
            ma, mb = statistics.median(a) * 1000, statistics.median(b) * 1000
            p90a, p90b = percentile(sorted(a), 0.9) * 1000, percentile(sorted(b), 0.9) * 1000
            rows.append(
                [
                    backend,
                    name,
                    f"{ma:.2f}",
                    f"{mb:.2f}",
                    f"{mb / ma:.2f}",
                    f"{p90a:.2f}",
                    f"{p90b:.2f}",
                ]
            )
        if not (small.inbound_claim and large.inbound_claim):
            rows.append([backend, "inbound claim", "-", "-", "-", "-", "-"])
    print()
    print_table(
        [
            "backend",
            "operation",
            "small ms",
            "large ms",
            "ratio large/small",
            "small p90",
            "large p90",
        ],
        rows,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
