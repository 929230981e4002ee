"""Fully processed replies: signed texts in -> Parley's answers received by the local
Twilio stand-in, against the stand-in's own capacity for the real twilio client from the
same number of threads, in the same run.

* baseline: `tests.fake_twilio.FakeTwilio(keep_alive=True)` (HTTP/1.1, as Twilio) in
  this process; --threads threads, each with its own `fake.make_client()`, create
  --texts messages between them: the stand-in's capacity, no database. Measured twice:
  with the clients in this process beside the stand-in ("together", as until
  2026-12-03), and in a child process of their own ("apart", as send_bench.py does:
  the stand-in's capacity when its clients do not share its interpreter lock, which
  is higher). Parley's server and worker always run apart from the stand-in.
* Parley: one `parley serve`-like process (bench/serve.py: uvicorn, the real app with
  the real twilio gateway aimed at the stand-in and the in-process worker running, as
  `parley serve` runs it) on a migrated database with --debtors imported debts. From
  --threads threads with keep-alive `httpx` clients, --texts signed inbound texts
  (From each debtor in turn, Body "PAY", "hmm" or "quero parcelar": one answer each)
  go to `POST /webhooks/twilio/sms`. Timed: from the first text sent to the last
  answer the stand-in received. Whatever this checkout does (the engine inside the
  request, or store-then-acknowledge with the worker processing) is what is measured.

With --worker-processes K (PostgreSQL), K more processes run the worker as `parley
worker` does (bench/serve.py worker) beside the server's own, on the same database:
API and worker processes apart, as README.md describes for production.

Printed: texts/s for both and the ratio Parley/baseline. Figures are printed, never
asserted.

    .venv/bin/python bench/reply_bench.py [--texts 1000] [--threads 8] [--debtors 1000]
        [--backend sqlite|postgres|all] [--worker-processes 0]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

if __package__ in (None, ""):  # run as a script: make `app`, `bench`, `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from sqlalchemy import text

from app.db import Database
from bench.common import (
    check_phone_plan,
    drop_postgres,
    fresh_database,
    phone_for,
    print_machine,
    print_table,
    rate,
    selected_backends,
)
from bench.send_bench import in_child
from bench.serve import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, TWILIO_NUMBER, WEBHOOK_PATH
from bench.webhook_bench import PARLEY_PORT, ROOT, Server, seed_debts
from tests.fake_twilio import FakeTwilio, inbound_sms_params, twilio_signature

PG_DATABASE = "parley_bench_reply"
BODIES = ("PAY", "hmm", "quero parcelar")
BODY = "Bench Creditor: your payment code is 12345 67890. Pay at https://pay.example/x"


def run_in_threads(threads: int, count: int, work: object) -> float:
    """Seconds for `threads` threads to run work(thread_index, item) over range(count)."""
    assert callable(work)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            for item in range(index, count, threads):
                work(index, item)
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started


def baseline(fake: FakeTwilio, threads: int, count: int) -> float:
    fake.reset()
    clients = [fake.make_client(timeout=10.0) for _ in range(threads)]

    def send(index: int, item: int) -> None:
        clients[index].messages.create(to=phone_for(item)[0], from_=TWILIO_NUMBER, body=BODY)

    seconds = run_in_threads(threads, count, send)
    for client in clients:
        if client.http_client.session is not None:
            client.http_client.session.close()
    if len(fake.messages) != count:
        raise SystemExit(f"baseline: the stand-in holds {len(fake.messages)} of {count}")
    fake.reset()
    return seconds


def parley(
    fake: FakeTwilio, url: str, phones: list[str], threads: int, count: int
) -> tuple[float, int]:
    target = f"{PUBLIC_URL}{WEBHOOK_PATH}"
    prepared = []
    for i in range(count):
        params = inbound_sms_params(
            from_=phones[i % len(phones)],
            to=TWILIO_NUMBER,
            body=BODIES[i % len(BODIES)],
            message_sid=f"SMreply{i:027d}",
            account_sid=ACCOUNT_SID,
        )
        prepared.append((urlencode(params), twilio_signature(AUTH_TOKEN, target, params)))
    clients = [httpx.Client(base_url=url, timeout=60.0) for _ in range(threads)]
    fake.reset()

    refused = [0]

    def post(index: int, item: int) -> None:
        body, signature = prepared[item]
        for _ in range(20):
            response = clients[index].post(
                WEBHOOK_PATH,
                content=body,
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": signature,
                },
            )
            if response.status_code == 503:  # SQLite busy: sent again, as a fallback would
                refused[0] += 1
                time.sleep(0.05)
                continue
            if response.status_code != 200:
                raise SystemExit(f"webhook answered {response.status_code}: {response.text[:200]}")
            return
        raise SystemExit("webhook answered 503 twenty times in a row")

    started = time.perf_counter()
    run_in_threads(threads, count, post)
    # Every text gets one answer; wait for the last to reach the stand-in.
    fake.wait_for_messages(count, timeout=600)
    seconds = time.perf_counter() - started
    for client in clients:
        client.close()
    if refused[0]:
        print(f"  ({refused[0]} answers were 503 busy and the text was sent again)")
    return seconds, len(fake.messages)


class Workers:
    """`count` bench/serve.py worker processes (as `parley worker`), ready once each has
    its LISTEN in place (seen in pg_stat_activity beside the server's own); SIGTERM on
    exit."""

    def __init__(self, count: int, url: str, api_base: str, *, server_listens: bool = True) -> None:
        self.count = count
        self.server_listens = server_listens
        self.url = url
        self.args = [
            sys.executable, "-m", "bench.serve", "worker",
            "--database-url", url, "--twilio-api-base", api_base,
        ]  # fmt: skip
        self.processes: list[subprocess.Popen[bytes]] = []

    def listeners(self, database: Database) -> int:
        with database.engine.connect() as connection:
            count = connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname ="
                    " current_database() AND query LIKE 'LISTEN %'"
                )
            )
        return int(count or 0)

    def __enter__(self) -> Workers:
        if not self.count:
            return self
        self.processes = [subprocess.Popen(self.args, cwd=ROOT) for _ in range(self.count)]
        deadline = time.monotonic() + 60
        database = Database(self.url)
        try:
            while self.listeners(database) < self.count + int(self.server_listens):
                if time.monotonic() > deadline or any(p.poll() is not None for p in self.processes):
                    self.__exit__()
                    raise SystemExit("the worker processes did not start")
                time.sleep(0.1)
        finally:
            database.dispose()
        where = "beside the server's own worker" if self.server_listens else "none in the server"
        print(f"  ({self.count} worker process(es), {where})")
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class Result:
    backend: str
    texts: int
    baseline_seconds: float
    apart_seconds: float
    parley_seconds: float
    answers: int

    @property
    def ratio(self) -> float:
        return self.baseline_seconds / self.parley_seconds

    @property
    def ratio_apart(self) -> float:
        return self.apart_seconds / self.parley_seconds


def bench_backend(backend: str, fake: FakeTwilio, args: argparse.Namespace) -> Result:
    tag = f"[{backend}]"
    base = baseline(fake, args.threads, args.texts)
    fake.reset()
    apart = in_child(
        "client", fake.base_url, str(args.texts), str(args.threads), ACCOUNT_SID, AUTH_TOKEN
    )
    if len(fake.messages) != args.texts:
        raise SystemExit(f"baseline apart: the stand-in holds {len(fake.messages)}")
    fake.reset()
    print(
        f"{tag} baseline: twilio Client x {args.threads} threads -> stand-in: "
        f"{rate(args.texts, base):,.0f} msg/s together, {rate(args.texts, apart):,.0f} "
        "msg/s apart",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="parley-reply-bench-") as tmp:
        try:
            url = fresh_database(backend, Path(tmp), "reply", pg_database=PG_DATABASE)
            database = Database(url)
            try:
                phones = seed_debts(database, args.debtors)
            finally:
                database.dispose()
            extra = args.worker_processes if backend == "postgres" else 0
            no_worker = args.apart and backend == "postgres"
            with (
                Server(
                    "parley", PARLEY_PORT, "--database-url", url, "--twilio-api-base",
                    fake.base_url, *(["--no-worker"] if no_worker else []),
                ) as server,
                Workers(extra, url, fake.base_url, server_listens=not no_worker),
            ):  # fmt: skip
                seconds, answers = parley(fake, server.url, phones, args.threads, args.texts)
        finally:
            if backend == "postgres":
                drop_postgres(PG_DATABASE)
    result = Result(backend, args.texts, base, apart, seconds, answers)
    print(
        f"{tag} Parley: {args.texts:,} texts -> {answers:,} answers in {seconds:.2f} s = "
        f"{rate(args.texts, seconds):,.0f} replies/s; ratio {result.ratio:.3f} "
        f"(against the baseline apart {result.ratio_apart:.3f})",
        flush=True,
    )
    if answers < args.texts:
        print(f"{tag} !! only {answers} answers of {args.texts} arrived within the timeout")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument(
        "--threads",
        type=int,
        default=8,
        help="client threads, and the baseline's (default 8, Parley's PARLEY_SEND_CONCURRENCY)",
    )
    parser.add_argument("--debtors", type=int, default=1000)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    parser.add_argument(
        "--worker-processes",
        type=int,
        default=0,
        help="PostgreSQL: this many `parley worker`-like processes beside the server's own"
        " worker (default 0)",
    )
    parser.add_argument(
        "--apart",
        action="store_true",
        help="PostgreSQL: the server without its in-process worker (`parley serve"
        " --no-worker`), --worker-processes (default 1) worker processes doing the work",
    )
    args = parser.parse_args(argv)
    if args.worker_processes < 0:
        parser.error("--worker-processes must be 0 or more")
    if args.apart and args.worker_processes == 0:
        args.worker_processes = 1
    check_phone_plan()
    print_machine()
    results = []
    with FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, keep_alive=True) as fake:
        for backend in selected_backends(args.backend):
            results.append(bench_backend(backend, fake, args))
    print_machine()
    print()
    print_table(
        [
            "backend",
            "texts",
            "baseline msg/s (together)",
            "(apart)",
            "Parley replies/s",
            "ratio (together)",
            "(apart)",
        ],
        [
            [
                r.backend,
                f"{r.texts:,}",
                f"{rate(r.texts, r.baseline_seconds):,.0f}",
                f"{rate(r.texts, r.apart_seconds):,.0f}",
                f"{rate(r.texts, r.parley_seconds):,.0f}",
                f"{r.ratio:.3f}",
                f"{r.ratio_apart:.3f}",
            ]
            for r in results
        ],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
