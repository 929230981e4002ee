"""Inbound webhook throughput and latency: Parley's signed `POST /webhooks/twilio/sms`
against a bare FastAPI endpoint on the same server, in the same run.

Per backend (a temp SQLite file; PostgreSQL's own `parley_bench_wh` database when the
server answers at 127.0.0.1:5432):

* server: the real app (`create_app`, simulator gateway, no outbox worker), with a
  creditor and --debtors imported debts of distinct debtors (`import_rows`), plus one
  extra route on the same app object, `POST /bench/empty`, an `async def` that returns
  an empty TwiML `<Response />` without reading the body, touching the database or
  checking a signature. Served by uvicorn (`log_level="warning"`, no access log, as
  `parley serve`) in a background thread of this process, on 127.0.0.1.
* load: a separate process (spawned, so the client does not share this process's
  GIL) with --workers threads, each with its own keep-alive `httpx.Client`. Every
  request is a Twilio-shaped, form-encoded, signed inbound SMS (`inbound_sms_params`,
  `twilio_signature`): unique MessageSid, From one of the debtors (in turn), Body
  cycled over six replies in English, Spanish and Portuguese. The bare endpoint gets
  exactly the same requests. Requests are built and signed before the clock starts.
* order: warm-up of both endpoints, then --requests to the bare endpoint (the
  baseline), --requests to the webhook, and the bare endpoint once more (a drift check,
  not part of the ratio).

It prints requests/s and latency p50/p90/p99 (client-side, nearest rank) for both, and
the ratios Parley/bare. It checks that every webhook answer is 200 text/xml and that
the database holds exactly one stored inbound text (`inbound_texts`, which workers
handle later) per request sent. Timing figures are
printed, never asserted.

    .venv/bin/python bench/webhook_bench.py [--requests 2000] [--debtors 1000]
        [--workers 8] [--backend sqlite|postgres|all]
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `app`, `bench`, `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import uvicorn
from fastapi import FastAPI, Response
from sqlalchemy import func, select

from app.actions.debts import import_debts as import_rows
from app.clock import FixedClock
from app.config import Settings
from app.conversations.models import InboundText
from app.creditors.service import create_creditor
from app.db import Database
from app.main import create_app
from app.messaging.gateway import SimulatorGateway
from bench.common import (
    DISTINCT_PHONES,
    check_phone_plan,
    drop_postgres,
    fresh_database,
    percentile,
    phone_for,
    print_machine,
    print_table,
    rate,
    selected_backends,
    timed,
)
from tests.fake_twilio import inbound_sms_params, twilio_signature

PG_DATABASE = "parley_bench_wh"
ACCOUNT_SID = "AC" + "c" * 32
AUTH_TOKEN = "bench-webhook-auth-token"
TWILIO_NUMBER = "+15005550006"
# What Twilio signs is PARLEY_PUBLIC_URL + path; the requests themselves go to 127.0.0.1.
PUBLIC_URL = "https://parley.example.com"
WEBHOOK_PATH = "/webhooks/twilio/sms"
EMPTY_PATH = "/bench/empty"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'
# Replies in the three languages, intents PAY, PLAN, CALL, DISPUTE, UNKNOWN, PROMISE.
# No STOP: it would opt the debtor out and make the following replies cheaper.
BODIES = (
    "PAY",
    "quero parcelar",
    "call me tomorrow at 3pm",
    "no reconozco esta deuda",
    "hmm",
    "I'll pay friday",
)
# Wednesday 2026-11-25 19:00 UTC: 11:00 in Los Angeles, 14:00 in New York, inside every
# bench debtor's contact window.
START_AT = datetime(2026, 11, 25, 19, 0, tzinfo=UTC)
WARMUP_REQUESTS = 100
SERVER_START_TIMEOUT = 10.0
LOAD_TIMEOUT = 900.0


class BenchClock:
    """The wall clock, moved to START_AT when created: timestamps still advance (so the
    order of a debtor's messages is real) and every run sees the same contact windows."""

    def __init__(self, start: datetime) -> None:
        self._offset = start - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset


def bench_settings(database_url: str) -> Settings:
    """Settings like tests.conftest.make_settings: simulator gateway, an auth token so
    signatures validate against PUBLIC_URL; validated directly so the developer's
    environment is ignored."""
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "public_url": PUBLIC_URL,
        "sms_gateway": "simulator",
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_from": TWILIO_NUMBER,
        "log_json": False,
    }
    return Settings.model_validate(values)


def seed_debts(database: Database, count: int) -> list[str]:
    """A creditor and `count` debts of distinct debtors; returns the debtors' phones."""
    clock = FixedClock(START_AT - timedelta(days=3))
    with database.transaction() as session:
        creditor = create_creditor(session, clock, "Bench Creditor")
        rows = [
            {
                "external_id": f"W-{i:07d}",
                "debtor": {"name": f"Debtor {i}", "phone": phone_for(i)[0]},
                "amount": 1000 + (i * 7919) % 500_000,
                "currency": "USD",
                "due_date": "2026-11-01" if i % 3 == 0 else "2026-12-15",
            }
            for i in range(count)
        ]
        outcomes = list(import_rows(session, creditor, rows, now=clock.now(), actor="bench"))
    created = sum(1 for outcome in outcomes if outcome.status == "created")
    if created != count:
        raise SystemExit(f"import_rows created {created} debts of {count}")
    return [phone_for(i)[0] for i in range(count)]


def bench_app(settings: Settings, database: Database) -> FastAPI:
    """The Parley app plus the bare baseline route, on the same object."""
    app = create_app(
        settings, clock=BenchClock(START_AT), gateway=SimulatorGateway(), database=database
    )

    @app.post(EMPTY_PATH, include_in_schema=False)
    async def bench_empty() -> Response:
        return Response(EMPTY_TWIML, media_type="text/xml")

    return app


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class BackgroundServer:
    """uvicorn serving `app` on 127.0.0.1 from a daemon thread of this process."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="bench-uvicorn", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.server.should_exit = True
                raise SystemExit("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=SERVER_START_TIMEOUT)
        if self.thread.is_alive():
            raise SystemExit("uvicorn did not stop")


# ------------------------------------------------------------------ load process
@dataclass(frozen=True)
class LoadJob:
    """What the load process sends: `count` signed inbound SMS to `path`."""

    base_url: str
    path: str
    count: int
    workers: int
    phones: tuple[str, ...]
    sid_tag: int  # makes MessageSids unique across jobs
    first: int = 0  # index of the first request, for the From and Body rotation


@dataclass
class LoadResult:
    count: int
    seconds: float
    latencies: list[float] = field(default_factory=list)  # seconds, sorted
    failures: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return rate(self.count, self.seconds)

    def latency_ms(self, fraction: float) -> float:
        return percentile(self.latencies, fraction) * 1000


def build_requests(job: LoadJob) -> list[tuple[dict[str, str], dict[str, str]]]:
    """(form, headers) per request, signed as Twilio signs the webhook URL."""
    signed_url = PUBLIC_URL + WEBHOOK_PATH
    built = []
    for n in range(job.first, job.first + job.count):
        params = inbound_sms_params(
            from_=job.phones[n % len(job.phones)],
            to=TWILIO_NUMBER,
            body=BODIES[n % len(BODIES)],
            message_sid=f"SM{job.sid_tag:08x}{n:024x}",
            account_sid=ACCOUNT_SID,
        )
        headers = {"X-Twilio-Signature": twilio_signature(AUTH_TOKEN, signed_url, params)}
        built.append((params, headers))
    return built


def run_load(job: LoadJob) -> LoadResult:
    """Send the job's requests from `job.workers` threads with keep-alive clients; runs
    in the load process."""
    requests = build_requests(job)
    url = job.base_url + job.path
    lock = threading.Lock()
    next_index = iter(range(len(requests)))
    latencies: list[float] = []
    failures: list[str] = []
    start = threading.Barrier(job.workers + 1)

    def worker() -> None:
        mine: list[float] = []
        with httpx.Client(timeout=30.0, trust_env=False) as client:
            start.wait()
            while True:
                with lock:
                    index = next(next_index, None)
                if index is None:
                    break
                form, headers = requests[index]
                began = time.perf_counter()
                try:
                    answer = client.post(url, data=form, headers=headers)
                except httpx.HTTPError as exc:
                    with lock:
                        failures.append(f"request {index}: {exc!r}")
                    continue
                mine.append(time.perf_counter() - began)
                kind = answer.headers.get("content-type", "")
                if answer.status_code != 200 or not kind.startswith("text/xml"):
                    with lock:
                        failures.append(f"request {index}: {answer.status_code} {kind}")
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(job.workers)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join(timeout=LOAD_TIMEOUT)
    seconds = time.perf_counter() - began
    if any(thread.is_alive() for thread in threads):
        failures.append("load workers did not finish in time")
    return LoadResult(job.count, seconds, sorted(latencies), failures)


# ------------------------------------------------------------------------ driver
@dataclass
class Result:
    backend: str
    requests: int
    bare: LoadResult
    parley: LoadResult
    bare_after: LoadResult
    intents: Counter[str]

    @property
    def throughput_ratio(self) -> float:
        return self.parley.throughput / self.bare.throughput

    def latency_ratio(self, fraction: float) -> float:
        return self.parley.latency_ms(fraction) / self.bare.latency_ms(fraction)


class Loader:
    """Submits jobs to the load process and checks what comes back."""

    def __init__(self, pool: ProcessPoolExecutor, base_url: str, args: argparse.Namespace):
        self.pool = pool
        self.base_url = base_url
        self.workers: int = args.workers
        self.jobs = 0

    def send(self, path: str, count: int, phones: list[str], first: int = 0) -> LoadResult:
        self.jobs += 1
        job = LoadJob(self.base_url, path, count, self.workers, tuple(phones), self.jobs, first)
        result = self.pool.submit(run_load, job).result(timeout=LOAD_TIMEOUT)
        if result.failures:
            shown = "; ".join(result.failures[:5])
            raise SystemExit(f"{path}: {len(result.failures)} failed requests: {shown}")
        if len(result.latencies) != count:
            raise SystemExit(f"{path}: {len(result.latencies)} answers for {count} requests")
        return result


def describe(tag: str, label: str, result: LoadResult) -> None:
    print(
        f"{tag} {label}: {result.count:,} requests in {result.seconds:.2f} s = "
        f"{result.throughput:,.0f} req/s; latency p50 {result.latency_ms(0.5):.1f} ms, "
        f"p90 {result.latency_ms(0.9):.1f} ms, p99 {result.latency_ms(0.99):.1f} ms",
        flush=True,
    )


def bench_backend(backend: str, pool: ProcessPoolExecutor, args: argparse.Namespace) -> Result:
    tag = f"[{backend}]"
    with tempfile.TemporaryDirectory(prefix="parley-webhook-bench-") as tmp:
        try:
            url = fresh_database(backend, Path(tmp), "webhook", pg_database=PG_DATABASE)
            database = Database(url)
            try:
                with timed() as seeding:
                    phones = seed_debts(database, args.debtors)
                print(
                    f"{tag} seeded {args.debtors:,} debts of distinct debtors in "
                    f"{seeding.seconds:.1f} s (not timed)",
                    flush=True,
                )
                app = bench_app(bench_settings(url), database)
                with BackgroundServer(app) as server:
                    loader = Loader(pool, server.base_url, args)
                    loader.send(EMPTY_PATH, WARMUP_REQUESTS, phones)
                    loader.send(WEBHOOK_PATH, WARMUP_REQUESTS, phones)
                    bare = loader.send(EMPTY_PATH, args.requests, phones)
                    describe(tag, "bare endpoint", bare)
                    parley = loader.send(WEBHOOK_PATH, args.requests, phones, first=WARMUP_REQUESTS)
                    describe(tag, "Parley webhook", parley)
                    bare_after = loader.send(EMPTY_PATH, args.requests, phones)
                    describe(tag, "bare endpoint again (drift check)", bare_after)
                intents = check_stored(database, WARMUP_REQUESTS + args.requests)
            finally:
                database.dispose()
        finally:
            if backend == "postgres":
                drop_postgres(PG_DATABASE)
    result = Result(backend, args.requests, bare, parley, bare_after, intents)
    print(
        f"{tag} inbound rows stored: {sum(intents.values()):,} "
        f"({WARMUP_REQUESTS} warm-up + {args.requests:,}); by queue state: "
        + ", ".join(f"{name} {n}" for name, n in sorted(intents.items())),
        flush=True,
    )
    print(
        f"{tag} ratio Parley/bare: throughput {result.throughput_ratio:.3f}, latency "
        f"p50 {result.latency_ratio(0.5):.1f}x, p99 {result.latency_ratio(0.99):.1f}x",
        flush=True,
    )
    return result


def check_stored(database: Database, expected: int) -> Counter[str]:
    """Every webhook request stored exactly one inbound text (the webhook stores and
    acknowledges; workers handle them later); returns the texts by queue state."""
    with database.transaction() as session:
        rows = session.execute(
            select(InboundText.state, func.count(InboundText.id)).group_by(InboundText.state)
        ).all()
        distinct = session.scalar(select(func.count(func.distinct(InboundText.provider_sid))))
    intents: Counter[str] = Counter({str(state): int(n) for state, n in rows})
    stored = sum(intents.values())
    if stored != expected or distinct != expected:
        raise SystemExit(
            f"{stored} inbound rows ({distinct} distinct MessageSids), expected {expected}"
        )
    return intents


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000, help="per endpoint (default 2000)")
    parser.add_argument(
        "--debtors", type=int, default=1000, help="debtors sending them, in turn (default 1000)"
    )
    parser.add_argument("--workers", type=int, default=8, help="client threads (default 8)")
    parser.add_argument(
        "--backend", choices=("sqlite", "postgres", "all"), default="all", help="default all"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= 100_000:
        parser.error("--requests must be between 1 and 100,000")
    if not 1 <= args.debtors <= DISTINCT_PHONES:
        parser.error(f"--debtors must be between 1 and {DISTINCT_PHONES:,}")
    if not 1 <= args.workers <= 64:
        parser.error("--workers must be between 1 and 64")
    check_phone_plan()
    print_machine()
    print(
        f"load: {args.workers} client threads in a separate process, keep-alive, "
        f"{args.requests:,} requests per endpoint after {WARMUP_REQUESTS} warm-up each; "
        f"{args.debtors:,} debtors",
        flush=True,
    )
    results: list[Result] = []
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        for backend in selected_backends(args.backend):
            results.append(bench_backend(backend, pool, args))
    print()
    print_table(
        [
            "backend",
            "bare req/s",
            "bare p50/p90/p99 ms",
            "Parley req/s",
            "Parley p50/p90/p99 ms",
            "ratio req/s",
            "ratio p50",
            "ratio p99",
            "bare again req/s",
        ],
        [
            [
                r.backend,
                f"{r.bare.throughput:,.0f}",
                "/".join(f"{r.bare.latency_ms(q):.1f}" for q in (0.5, 0.9, 0.99)),
                f"{r.parley.throughput:,.0f}",
                "/".join(f"{r.parley.latency_ms(q):.1f}" for q in (0.5, 0.9, 0.99)),
                f"{r.throughput_ratio:.3f}",
                f"{r.latency_ratio(0.5):.1f}x",
                f"{r.latency_ratio(0.99):.1f}x",
                f"{r.bare_after.throughput:,.0f}",
            ]
            for r in results
        ],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
