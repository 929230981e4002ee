"""Inbound webhook throughput and latency: Parley's signed `POST /webhooks/twilio/sms`
against a bare FastAPI TwiML endpoint, each in its own single uvicorn process
(bench/serve.py), loaded by wrk (Debian's `wrk`; `apt-get install -y wrk`) with 16
keep-alive connections, in the same run.

Per backend (a temp SQLite file; PostgreSQL's own `parley_bench_wh` database when the
server answers at 127.0.0.1:5432): the database is migrated and --debtors debts of
distinct debtors imported (`import_rows`, not timed). The requests are Twilio-shaped,
form-encoded inbound SMS (`inbound_sms_params`) signed for PARLEY_PUBLIC_URL
(`twilio_signature`), each with its own MessageSid, From each debtor in turn, Body
cycled over six replies in three languages; they are written to a file before the clock
starts and wrk's Lua script (bench/wrk_twilio.lua) sends them in order, thread k taking
every k-th line. Order: a short warm-up of both servers, the bare endpoint for
--seconds (the baseline), Parley for --seconds, the bare endpoint again (a drift
check). Whatever the webhook does on this checkout (the whole engine in the request, or
store-then-acknowledge) is what is measured; no worker runs.

Printed: requests/s and wrk's latency p50/p90/p99, the ratios Parley/bare, and a check
that every answer was 2xx and that the database holds one stored text per MessageSid
answered. Timing figures are printed, never asserted.

    .venv/bin/python bench/webhook_bench.py [--seconds 10] [--connections 16]
        [--threads 2] [--debtors 1000] [--backend sqlite|postgres|all]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

if __package__ in (None, ""):  # run as a script: make `app`, `bench`, `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from sqlalchemy import inspect, text

from app.actions.debts import import_debts as import_rows
from app.clock import FixedClock
from app.creditors.service import create_creditor
from app.db import Database
from bench.common import (
    DISTINCT_PHONES,
    check_phone_plan,
    drop_postgres,
    fresh_database,
    phone_for,
    print_machine,
    print_table,
    selected_backends,
)
from bench.serve import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, START_AT, TWILIO_NUMBER, WEBHOOK_PATH
from tests.fake_twilio import inbound_sms_params, twilio_signature

PG_DATABASE = "parley_bench_wh"
ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "wrk_twilio.lua"
# Replies in the three languages: PAY, PLAN, CALL, DISPUTE, UNKNOWN, PROMISE (no STOP,
# which would make the debtor's later texts cheaper).
BODIES = (
    "PAY",
    "quero parcelar",
    "call me tomorrow at 3pm",
    "no reconozco esta deuda",
    "hmm",
    "I'll pay friday",
)
# Inside this helper's port range (18450-18499).
BARE_PORT = int(os.environ.get("PARLEY_BENCH_BARE_PORT", "18471"))
PARLEY_PORT = int(os.environ.get("PARLEY_BENCH_PARLEY_PORT", "18472"))


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


def write_requests(path: Path, phones: list[str], count: int, tag: str) -> None:
    """`count` signed texts, one per line: signature TAB form body."""
    url = f"{PUBLIC_URL}{WEBHOOK_PATH}"
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            params = inbound_sms_params(
                from_=phones[i % len(phones)],
                to=TWILIO_NUMBER,
                body=BODIES[(i // len(phones)) % len(BODIES)],
                message_sid=f"SM{tag}{i:030d}"[:34],
                account_sid=ACCOUNT_SID,
            )
            out.write(f"{twilio_signature(AUTH_TOKEN, url, params)}\t{urlencode(params)}\n")


class Server:
    """A bench/serve.py process, stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(self, kind: str, port: int, *extra: str) -> None:
        self.port = port
        self.args = [sys.executable, "-m", "bench.serve", kind, "--port", str(port), *extra]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.process = subprocess.Popen(self.args, cwd=ROOT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.args[3]} server exited with {self.process.returncode}")
            try:
                httpx.get(self.url + "/", timeout=0.5)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise SystemExit(f"{self.args[3]} server did not start on port {self.port}")

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Load:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int
    wrapped: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def run_wrk(url: str, requests_file: Path, seconds: float, connections: int, threads: int) -> Load:
    env = {
        **os.environ,
        "WRK_REQUESTS": str(requests_file),
        "WRK_THREADS": str(threads),
        "WRK_PATH": WEBHOOK_PATH,
    }
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "30s",
        "-s",
        str(LUA),
        url + WEBHOOK_PATH,
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    line = next((x for x in done.stdout.splitlines() if x.startswith("{")), None)
    if line is None:
        raise SystemExit(f"wrk printed no summary:\n{done.stdout}\n{done.stderr}")
    data: dict[str, Any] = json.loads(line)
    errors = sum(int(data[k]) for k in data if k.startswith("errors_"))
    return Load(
        requests=int(data["requests"]),
        seconds=int(data["duration_us"]) / 1e6,
        p50_ms=int(data["p50_us"]) / 1000,
        p90_ms=int(data["p90_us"]) / 1000,
        p99_ms=int(data["p99_us"]) / 1000,
        errors=errors,
        wrapped=int(data["wrapped"]),
    )


def stored_texts(database: Database) -> int:
    """Distinct MessageSids stored, wherever this checkout stores inbound texts."""
    with database.engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        sids: set[str] = set(
            connection.execute(
                text("SELECT provider_sid FROM messages WHERE direction = 'inbound'")
            ).scalars()
        )
        if "inbound_texts" in tables:
            sids |= set(
                connection.execute(text("SELECT provider_sid FROM inbound_texts")).scalars()
            )
    return len(sids)


@dataclass
class Result:
    backend: str
    bare: Load
    parley: Load
    bare_again: Load
    stored: int


def bench_backend(backend: str, args: argparse.Namespace) -> Result:
    tag = f"[{backend}]"
    with tempfile.TemporaryDirectory(prefix="parley-webhook-bench-") as tmp:
        workdir = Path(tmp)
        try:
            url = fresh_database(backend, workdir, "webhook", pg_database=PG_DATABASE)
            database = Database(url)
            try:
                phones = seed_debts(database, args.debtors)
            finally:
                database.dispose()
            warm_file, run_file = workdir / "warm.txt", workdir / "run.txt"
            write_requests(warm_file, phones, 2000, "W")
            write_requests(run_file, phones, args.max_requests, "R")
            with (
                Server("bare", BARE_PORT) as bare,
                Server("parley", PARLEY_PORT, "--database-url", url) as parley,
            ):
                run_wrk(bare.url, warm_file, 2, args.connections, args.threads)
                warm = run_wrk(parley.url, warm_file, 2, args.connections, args.threads)
                if warm.wrapped:
                    print(f"{tag} (warm-up wrapped around: some warm-up texts were repeats)")
                baseline = run_wrk(bare.url, run_file, args.seconds, args.connections, args.threads)
                print(
                    f"{tag} bare: {baseline.rate:,.0f} req/s, p50 {baseline.p50_ms:.2f} ms, "
                    f"p99 {baseline.p99_ms:.2f} ms",
                    flush=True,
                )
                result_parley = run_wrk(
                    parley.url, run_file, args.seconds, args.connections, args.threads
                )
                print(
                    f"{tag} Parley: {result_parley.rate:,.0f} req/s, p50 "
                    f"{result_parley.p50_ms:.2f} ms, p99 {result_parley.p99_ms:.2f} ms",
                    flush=True,
                )
                again = run_wrk(bare.url, run_file, args.seconds, args.connections, args.threads)
            database = Database(url)
            try:
                stored = stored_texts(database)
            finally:
                database.dispose()
        finally:
            if backend == "postgres":
                drop_postgres(PG_DATABASE)
    expected = min(warm.requests, 2000) + min(result_parley.requests, args.max_requests)
    if result_parley.errors or warm.errors:
        print(f"{tag} !! Parley answered {result_parley.errors + warm.errors} requests with errors")
    if result_parley.wrapped:
        print(
            f"{tag} !! the run wrapped around its {args.max_requests:,} prepared texts "
            "(repeats were answered as duplicates): raise --max-requests"
        )
    print(
        f"{tag} stored texts: {stored:,} (texts wrk saw answered: {expected:,}; a few more "
        "were in flight when its clock stopped)"
    )
    return Result(backend, baseline, result_parley, again, stored)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--debtors", type=int, default=1000)
    parser.add_argument(
        "--max-requests",
        type=int,
        default=40_000,
        help="signed texts prepared for the timed Parley run",
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    args = parser.parse_args(argv)
    if not 1 <= args.debtors <= DISTINCT_PHONES:
        parser.error(f"--debtors must be between 1 and {DISTINCT_PHONES:,}")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install -y wrk)")
    check_phone_plan()
    print_machine()
    results = [bench_backend(backend, args) for backend in selected_backends(args.backend)]
    print_machine()
    print()
    print_table(
        [
            "backend",
            "bare req/s",
            "bare p50/p90/p99 ms",
            "Parley req/s",
            "Parley p50/p90/p99 ms",
            "ratio req/s",
            "ratio p99",
            "bare again req/s",
        ],
        [
            [
                r.backend,
                f"{r.bare.rate:,.0f}",
                f"{r.bare.p50_ms:.1f}/{r.bare.p90_ms:.1f}/{r.bare.p99_ms:.1f}",
                f"{r.parley.rate:,.0f}",
                f"{r.parley.p50_ms:.1f}/{r.parley.p90_ms:.1f}/{r.parley.p99_ms:.1f}",
                f"{r.parley.rate / r.bare.rate:.3f}",
                f"{r.parley.p99_ms / r.bare.p99_ms:.1f}x",
                f"{r.bare_again.rate:,.0f}",
            ]
            for r in results
        ],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
