"""Cost as data grows: the inbound webhook, the outbox claim and (when main has it) the
inbound claim, timed on a small database (1,000 debtors, 1,000 messages) and a large one
(100,000 debtors, 1,000,000 messages), in the same run. Target: large / small <= 1.2.

Per backend, both sizes are built first, each in its own database (PostgreSQL's
`parley_bench_growth_small` and `_large`; temp SQLite files), not timed: migrated, one
creditor (`create_creditor`), the portfolio of bench/bulk_data.py written with bulk SQL
and `ANALYZE`d, 1,000 answers queued due now, the inbound queue's history, then on
PostgreSQL `VACUUM` and `CHECKPOINT` (a database in use, not one just bulk-loaded), the
app (`create_app`, simulator gateway, no worker; fastapi's TestClient) and a first,
untimed periodic tick (the day's real work). Then ROUNDS (5) timed rounds alternate
between the sizes, the first size changing every round, so that the drift of this
shared machine falls on both alike. A round on one size times:

* webhook: its share of --texts signed inbound texts through `POST
  /webhooks/twilio/sms`, one at a time, half from known debtors picked across the whole
  portfolio, half from numbers no creditor knows (the unknown-sender path);
* outbox claim: `OutboxWorker.claim(50)` 4 times (20 in all, of the 1,000 answers);
* periodic jobs: one tick of every scheduled job (`app.main.periodic_jobs`: cadence,
  promises, plans, codes, callback reminders);
* inbound claim: the inbound worker's claim of due texts 4 times, if the app has one
  (`app.actions.inbox.InboundProcessor`); skipped with a note otherwise.

Printed: the median and p90 of each operation per size, and large / small.

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
from contextlib import ExitStack, contextmanager
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
# Timed rounds per size, alternating which size goes first; per round each size takes
# its share of --texts, CLAIMS_PER_ROUND outbox and inbound claims (1,000 answers are
# queued: 20 claims of 50) and one periodic tick.
ROUNDS = 5
CLAIMS_PER_ROUND = 4
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


def settle(database: Database) -> None:
    """A database in use is not one just bulk-loaded: on PostgreSQL, VACUUM (hint bits
    and the visibility map, so no timed statement rewrites the pages it reads) and a
    CHECKPOINT (the load's dirty pages and WAL written out), so the timed commits do not
    wait behind the load's own writes. Not timed."""
    if not database.is_postgres:
        return
    with database.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.execute(text("VACUUM"))
        connection.execute(text("CHECKPOINT"))


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


def time_outbox_claims(worker: OutboxWorker, claims: int) -> list[float]:
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
    webhook: dict[str, list[float]] = field(default_factory=lambda: {"known": [], "unknown": []})
    outbox_claim: list[float] = field(default_factory=list)
    inbound_claim: list[float] | None = None
    jobs: list[float] = field(default_factory=list)
    populate_seconds: float = 0.0

    def median_ms(self, values: list[float]) -> float:
        return statistics.median(values) * 1000


@dataclass
class Stage:
    """One size's database, app and workers, open for the whole run."""

    tag: str
    database: Database
    client: TestClient
    outbox: OutboxWorker
    jobs: OutboxWorker
    inbound: Callable[[], float] | None
    result: SizeResult
    captured: Captured
    texts: list[tuple[str, dict[str, str], str]]


def open_stage(
    stack: ExitStack,
    backend: str,
    workdir: Path,
    size: Size,
    name: str,
    texts_count: int,
    explain: bool,
) -> Stage:
    """A fresh database of `size` (not timed): the portfolio, settled; the app; 1,000
    answers queued for the claims; a first periodic tick (the day's real work, as every
    minute after it is not); the inbound queue's history and due texts."""
    tag = f"[{backend} {size.messages:,} msgs]"
    url = fresh_database(backend, workdir, name, pg_database=name)
    if backend == "postgres":
        stack.callback(drop_postgres, name)
    settings = bench_settings(url)
    database = Database(url)
    stack.callback(database.dispose)
    clock = FixedClock(NOW)
    with database.transaction() as session:
        creditor_id = create_creditor(session, clock, "Bench Creditor").id
    with timed() as fill, database.engine.begin() as connection:
        counts = populate(connection, creditor_id, size)
    print(f"{tag} populated in {fill.seconds:.1f} s: {counts}", flush=True)
    queue_answers(database, creditor_id, size, 1000)
    inbound = inbound_claim_timer(database, settings, size)
    settle(database)
    captured = Captured()
    if explain and database.is_postgres:
        captured.listen(database)
    app = create_app(settings, clock=clock, gateway=SimulatorGateway(), database=database)
    client = stack.enter_context(TestClient(app))
    time_webhook(client, signed_texts(size, 20, "warm"))  # warm-up, not counted
    jobs = OutboxWorker(
        database, SimulatorGateway(), FixedClock(NOW), settings, jobs=periodic_jobs()
    )
    jobs.run_jobs()
    outbox = OutboxWorker(database, SimulatorGateway(), FixedClock(NOW), settings)
    result = SizeResult(size, inbound_claim=[] if inbound else None, populate_seconds=fill.seconds)
    texts = signed_texts(size, texts_count, "run")
    return Stage(tag, database, client, outbox, jobs, inbound, result, captured, texts)


def time_round(stage: Stage, texts: list[tuple[str, dict[str, str], str]], claims: int) -> None:
    """One round on one size: its share of the texts, `claims` outbox claims of 50 and
    as many inbound claims, one periodic tick."""
    result = stage.result
    with stage.captured.capturing("webhook"):
        for kind, seconds in time_webhook(stage.client, texts).items():
            result.webhook[kind].extend(seconds)
    with stage.captured.capturing("outbox claim"):
        result.outbox_claim.extend(time_outbox_claims(stage.outbox, claims))
    with stage.captured.capturing("periodic jobs"), timed() as watch:
        stage.jobs.run_jobs()
    result.jobs.append(watch.seconds)
    if stage.inbound is not None and result.inbound_claim is not None:
        with stage.captured.capturing("inbound claim"):
            result.inbound_claim.extend(stage.inbound() for _ in range(claims))


def bench_backend(
    backend: str, small: Size, large: Size, texts: int, explain: bool
) -> tuple[SizeResult, SizeResult, list[str]]:
    """Both sizes built first, then timed in ROUNDS rounds that alternate which goes
    first, so that the machine's drift (it is shared) falls on both alike."""
    with tempfile.TemporaryDirectory(prefix="parley-growth-") as tmp, ExitStack() as stack:
        stages = [
            open_stage(stack, backend, Path(tmp), small, f"{PG_DATABASE}_small", texts, False),
            open_stage(stack, backend, Path(tmp), large, f"{PG_DATABASE}_large", texts, explain),
        ]
        share = -(-texts // ROUNDS)
        for number in range(ROUNDS):
            for stage in stages if number % 2 == 0 else reversed(stages):
                batch = stage.texts[number * share : (number + 1) * share]
                time_round(stage, batch, CLAIMS_PER_ROUND)
        plans = explain_all(stages[1].database, stages[1].captured) if explain else []
        for stage in stages:
            result = stage.result
            print(
                f"{stage.tag} webhook known p50 {result.median_ms(result.webhook['known']):.1f}"
                f" ms, unknown p50 {result.median_ms(result.webhook['unknown']):.1f} ms; outbox"
                f" claim(50) p50 {result.median_ms(result.outbox_claim):.1f} ms; periodic jobs"
                f" p50 {result.median_ms(result.jobs):.1f} ms"
                + (
                    f"; inbound claim p50 {result.median_ms(result.inbound_claim):.1f} ms"
                    if result.inbound_claim
                    else "; inbound claim: not in this app yet"
                ),
                flush=True,
            )
        return stages[0].result, stages[1].result, plans


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
        small, large, plans = bench_backend(
            backend,
            Size(args.small_debtors, args.small_messages),
            Size(args.large_debtors, args.large_messages),
            args.texts,
            args.explain and backend == "postgres",
        )
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
