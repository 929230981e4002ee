"""Outbox send throughput: Parley's OutboxWorker against the raw capacity of the local
Twilio-compatible server (tests.fake_twilio.FakeTwilio, 127.0.0.1 only).

Measured twice, in the same run:

* **apart** (as deployed: Twilio is not in the worker's process): the stand-in runs in
  this process; its clients run in a process of their own, as a `parley worker` does.
  - baseline: --messages `client.messages.create` calls with the real twilio `Client`
    (keep-alive: the stand-in speaks HTTP/1.1 here, as Twilio does), in tight loops
    from one thread and from PARLEY_SEND_CONCURRENCY threads, in a child process; the
    better of the two is the stand-in's capacity, with no database at all;
  - Parley: --messages statements to as many distinct debtors (debts imported with
    `import_rows`, queued with `queue_statement` at 2026-11-25 19:00 UTC, inside every
    debtor's contact window), then, in a child process, an `OutboxWorker` with the real
    `TwilioGateway` pointed at the stand-in, `run_once()` until it returns 0. Timed:
    the drain only (each child times its own loop, so start-up is not counted).
* **together** (the stand-in, its clients and the worker in one process, sharing one
  interpreter lock): the same two measurements in this process. This is how the
  benchmark measured until 2026-12-03; it charges the stand-in's own CPU to Parley.
* for reference, the same drain with the `SimulatorGateway` (no HTTP): the database
  share of the worker's cost.

Per backend (a temp SQLite file; PostgreSQL's own `parley_bench` database when the
server answers at 127.0.0.1:5432) it prints messages/s and the ratios Parley/baseline;
each baseline is measured again right before its Parley run. Worker settings are
Parley's defaults. Figures are printed, never asserted.

    .venv/bin/python bench/send_bench.py [--messages 2000] [--backend sqlite|postgres|all]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `app`, `bench`, `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select

from app.actions.debts import import_debts as import_rows
from app.actions.debts import queue_statement
from app.clock import FixedClock
from app.config import Settings
from app.creditors.models import Creditor
from app.creditors.service import create_creditor
from app.db import Database
from app.debts.models import Debt
from app.messaging.gateway import SimulatorGateway, SmsGateway, TwilioGateway
from app.messaging.models import Message
from app.worker import OutboxWorker
from bench.common import (
    DISTINCT_PHONES,
    check_phone_plan,
    drop_postgres,
    fresh_database,
    phone_for,
    print_machine,
    print_table,
    rate,
    selected_backends,
    timed,
)
from tests.fake_twilio import FakeTwilio

ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "bench-auth-token"
TWILIO_FROM = "+15005550006"
PUBLIC_URL = "https://parley.example.com"
# Wednesday 2026-11-25 19:00 UTC: 11:00 in Los Angeles, 12:00 in Phoenix, 13:00 in
# Chicago, 14:00 in New York: every bench debtor is inside the 08:00-21:00 window.
SEND_AT = datetime(2026, 11, 25, 19, 0, tzinfo=UTC)
# A statement-sized body for the baseline (Parley's own statements are ~150 chars).
BASELINE_BODY = (
    "Bench Creditor: you owe $1,234.56, due Dec 15, 2026. Reply 1 to pay in full, "
    "2 for a payment plan, 3 if already paid, 4 to dispute. Reply STOP to opt out."
)


def bench_settings(database_url: str, api_base: str) -> Settings:
    """Test-like settings (as tests.conftest.make_settings builds them), Twilio gateway
    aimed at the fake; validated directly so the developer's environment is ignored."""
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "public_url": PUBLIC_URL,
        "sms_gateway": "twilio",
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_from": TWILIO_FROM,
        "twilio_api_base": api_base,
        "log_json": False,
        "retry_base_seconds": 30.0,
        "send_timeout_seconds": 5.0,
    }
    return Settings.model_validate(values)


def run_baseline(fake: FakeTwilio, count: int, threads: int = 1, *, apart: bool) -> float:
    """Seconds for `count` message creations with the real twilio client from `threads`
    threads, in a child process (`apart`) or in this one, beside the stand-in."""
    fake.reset()
    if apart:
        seconds = in_child("client", fake.base_url, str(count), str(threads))
    else:
        seconds = client_loop(fake.base_url, count, threads)
    created = len(fake.messages)
    fake.reset()
    if created != count:
        raise SystemExit(f"baseline: the fake holds {created} messages, expected {count}")
    return seconds


SCRIPT = Path(__file__).resolve()


def in_child(*args: str) -> float:
    """Run this script with `args` in a child process; the seconds it reports."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"child {args[0]} failed:\n{done.stderr}")
    return float(json.loads(done.stdout.splitlines()[-1])["seconds"])


def client_loop(
    base_url: str,
    count: int,
    threads: int,
    account_sid: str = ACCOUNT_SID,
    auth_token: str = AUTH_TOKEN,
) -> float:
    """Seconds for `count` creations from `threads` threads, each with its own real
    twilio client (one keep-alive connection each), aimed at `base_url`."""
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    clients = []
    for _ in range(threads):
        http_client = TwilioHttpClient(timeout=5.0)
        assert http_client.session is not None
        http_client.session.trust_env = False
        client = Client(account_sid, auth_token, http_client=http_client)
        client.edge = None
        client.region = None
        client.api.base_url = base_url
        clients.append(client)
    errors: list[BaseException] = []

    def send(index: int) -> None:
        client = clients[index]
        try:
            for i in range(index, count, threads):
                client.messages.create(
                    to=phone_for(i)[0],
                    from_=TWILIO_FROM,
                    body=BASELINE_BODY,
                    status_callback=f"{PUBLIC_URL}/webhooks/twilio/status?mid={i}",
                )
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=send, args=(n,)) for n in range(threads)]
    try:
        with timed() as watch:
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join()
    finally:
        for client in clients:
            if client.http_client.session is not None:
                client.http_client.session.close()
    if errors:
        raise errors[0]
    return watch.seconds


def fill_outbox(database: Database, clock: FixedClock, count: int) -> float:
    """Import `count` debts of distinct debtors and queue one statement each; returns
    the seconds the queueing took (for information, not part of the drain)."""
    now = clock.now()
    with database.transaction() as session:
        creditor = create_creditor(session, clock, "Bench Creditor")
        creditor_id = creditor.id
        rows = [
            {
                "external_id": f"S-{i:07d}",
                "debtor": {"name": f"Debtor {i}", "phone": phone_for(i)[0]},
                "amount": 1000 + (i * 7919) % 500_000,
                "currency": "USD",
                # a third overdue, the rest due later: all three statement texts
                "due_date": "2026-11-01" if i % 3 == 0 else "2026-12-15",
            }
            for i in range(count)
        ]
        outcomes = list(import_rows(session, creditor, rows, now=now, actor="bench"))
        created = sum(1 for outcome in outcomes if outcome.status == "created")
        if created != count:
            raise SystemExit(f"import_rows created {created} debts of {count}")
    with timed() as watch, database.transaction() as session:
        owner = session.get(Creditor, creditor_id)
        assert owner is not None
        debts = session.scalars(
            select(Debt).where(Debt.creditor_id == creditor_id).order_by(Debt.external_id)
        ).all()
        for debt in debts:
            message = queue_statement(session, owner, debt, now=now, actor="bench")
            if message.status != "queued":
                raise SystemExit(f"statement {message.status}, not queued: {message.error_message}")
    return watch.seconds


def drain(database: Database, gateway: SmsGateway, settings: Settings, count: int) -> float:
    """Seconds for an OutboxWorker to empty the outbox with run_once()."""
    clock = FixedClock(SEND_AT)
    worker = OutboxWorker(database, gateway, clock, settings)
    max_ticks = count // settings.worker_batch_size + 10
    with timed() as watch:
        for _ in range(max_ticks):
            if worker.run_once() == 0:
                break
        else:
            raise SystemExit(f"the outbox did not drain in {max_ticks} ticks")
    with database.transaction() as session:
        pending = session.scalar(
            select(func.count(Message.id)).where(Message.status.in_(("queued", "scheduled")))
        )
        sent = session.scalar(
            select(func.count(Message.id)).where(Message.status.in_(("submitted", "delivered")))
        )
    if pending or sent != count:
        raise SystemExit(f"after the drain: {sent} sent, {pending} still pending of {count}")
    return watch.seconds


@dataclass
class Pair:
    """One way of placing the processes: the baseline and Parley, measured together."""

    baseline_seconds: float
    parley_seconds: float


@dataclass
class Result:
    backend: str
    messages: int
    apart: Pair
    together: Pair
    enqueue_seconds: float
    simulator_seconds: float

    def rate(self, seconds: float) -> float:
        return rate(self.messages, seconds)

    def ratio(self, pair: Pair) -> float:
        return pair.baseline_seconds / pair.parley_seconds


def measure(backend: str, fake: FakeTwilio, count: int, tmp: Path, *, apart: bool) -> Pair:
    """The stand-in's capacity (the better of one thread and as many as the worker sends
    from), then Parley's drain of `count` statements, placed `apart` or together."""
    tag = f"[{backend}, {'apart' if apart else 'together'}]"
    threads = bench_settings("sqlite://", fake.base_url).send_concurrency
    one = run_baseline(fake, count, apart=apart)
    many = run_baseline(fake, count, threads, apart=apart)
    print(
        f"{tag} baseline, twilio Client -> stand-in (keep-alive): {rate(count, one):,.0f} "
        f"msg/s from 1 thread, {rate(count, many):,.0f} msg/s from {threads} threads",
        flush=True,
    )
    url = fresh_database(backend, tmp, "apart" if apart else "together")
    database = Database(url)
    try:
        fill_outbox(database, FixedClock(SEND_AT), count)
        if apart:
            database.dispose()
            parley_seconds = in_child("drain", url, fake.base_url, str(count))
        else:
            settings = bench_settings(url, fake.base_url)
            gateway = TwilioGateway(settings)
            try:
                parley_seconds = drain(database, gateway, settings, count)
            finally:
                gateway.close()
    finally:
        database.dispose()
    received = len(fake.messages)
    fake.reset()
    if received != count:
        raise SystemExit(f"the fake received {received} messages, expected {count}")
    print(
        f"{tag} Parley OutboxWorker + TwilioGateway: {count:,} messages in "
        f"{parley_seconds:.2f} s = {rate(count, parley_seconds):,.0f} msg/s; ratio "
        f"{min(one, many) / parley_seconds:.3f}",
        flush=True,
    )
    return Pair(min(one, many), parley_seconds)


def bench_backend(backend: str, fake: FakeTwilio, count: int) -> Result:
    tag = f"[{backend}]"
    with tempfile.TemporaryDirectory(prefix="parley-send-bench-") as tmp:
        try:
            apart = measure(backend, fake, count, Path(tmp), apart=True)
            together = measure(backend, fake, count, Path(tmp), apart=False)
            url = fresh_database(backend, Path(tmp), "simulator")
            database = Database(url)
            try:
                enqueue_seconds = fill_outbox(database, FixedClock(SEND_AT), count)
                settings = bench_settings(url, fake.base_url)
                simulator_seconds = drain(database, SimulatorGateway(), settings, count)
            finally:
                database.dispose()
        finally:
            if backend == "postgres":
                drop_postgres()
    print(
        f"{tag} queue_statement x {count:,}: {enqueue_seconds:.2f} s = "
        f"{rate(count, enqueue_seconds):,.0f} msg/s (not part of the ratio)",
        flush=True,
    )
    print(
        f"{tag} (reference) OutboxWorker + SimulatorGateway, no HTTP: "
        f"{simulator_seconds:.2f} s = {rate(count, simulator_seconds):,.0f} msg/s",
        flush=True,
    )
    return Result(backend, count, apart, together, enqueue_seconds, simulator_seconds)


def child(argv: list[str]) -> int:
    """The child processes' side: `client BASE COUNT THREADS [SID TOKEN]` or `drain URL
    BASE COUNT`; prints {"seconds": …}."""
    if argv[0] == "client":
        seconds = client_loop(argv[1], int(argv[2]), int(argv[3]), *argv[4:6])
    else:
        url, base_url, count = argv[1], argv[2], int(argv[3])
        settings = bench_settings(url, base_url)
        database = Database(url)
        gateway = TwilioGateway(settings)
        try:
            seconds = drain(database, gateway, settings, count)
        finally:
            gateway.close()
            database.dispose()
    print(json.dumps({"seconds": seconds}))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("client", "drain"):
        return child(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--messages", type=int, default=2000, help="messages per run (default 2000)"
    )
    parser.add_argument(
        "--backend", choices=("sqlite", "postgres", "all"), default="all", help="default all"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.messages <= DISTINCT_PHONES:
        parser.error(f"--messages must be between 1 and {DISTINCT_PHONES:,}")
    check_phone_plan()
    print_machine()
    backends = selected_backends(args.backend)
    results: list[Result] = []
    with FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, keep_alive=True) as fake:
        for backend in backends:
            results.append(bench_backend(backend, fake, args.messages))
    print()
    print_table(
        [
            "backend",
            "messages",
            "apart: baseline msg/s",
            "Parley msg/s",
            "ratio",
            "together: baseline msg/s",
            "Parley msg/s",
            "ratio",
            "simulator msg/s",
            "enqueue msg/s",
        ],
        [
            [
                r.backend,
                f"{r.messages:,}",
                f"{r.rate(r.apart.baseline_seconds):,.0f}",
                f"{r.rate(r.apart.parley_seconds):,.0f}",
                f"{r.ratio(r.apart):.3f}",
                f"{r.rate(r.together.baseline_seconds):,.0f}",
                f"{r.rate(r.together.parley_seconds):,.0f}",
                f"{r.ratio(r.together):.3f}",
                f"{r.rate(r.simulator_seconds):,.0f}",
                f"{r.rate(r.enqueue_seconds):,.0f}",
            ]
            for r in results
        ],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
