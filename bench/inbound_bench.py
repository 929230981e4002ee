"""The inbound engine alone: stored texts handled by `InboundProcessor` in groups (one
transaction per group of numbers, their context read ahead), against the same texts
handled one per transaction (`process_next`, the path a failing group falls back to),
in the same run.

* Setup (not timed): a fresh migrated database with --debtors imported debts of
  distinct debtors (bench.webhook_bench.seed_debts) and one stored inbound text each
  (`store_texts`), Body cycling over "PAY", "hmm" and "quero parcelar" (a payment code,
  a text not understood, a plan menu: one answer each).
* Timed: `process_pending()` (groups; --concurrency groups at once on PostgreSQL), then
  on a second fresh database the same texts through `process_next(phone)` for each
  number, one transaction each. Wall seconds and this process's CPU seconds.
* Checked: every text processed and one answer queued per text.

Printed: texts/s and CPU ms per text for both, and the ratio grouped/one-by-one.
Figures are printed, never asserted.

    .venv/bin/python bench/inbound_bench.py [--debtors 1000] [--concurrency 4]
        [--backend sqlite|postgres|all]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `app`, `bench`, `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select

from app.actions.inbox import InboundProcessor
from app.clock import FixedClock
from app.config import Settings
from app.conversations.inbox import IncomingText, store_texts
from app.conversations.models import InboundText
from app.db import Database
from app.main import build_inbound_handler
from app.messaging.models import Message
from bench.common import (
    check_phone_plan,
    drop_postgres,
    fresh_database,
    print_machine,
    print_table,
    rate,
    selected_backends,
)
from bench.serve import START_AT, TWILIO_NUMBER
from bench.webhook_bench import seed_debts

PG_DATABASE = "parley_bench_inbound"
BODIES = ("PAY", "hmm", "quero parcelar")


def prepare(backend: str, workdir: Path, name: str, debtors: int) -> tuple[Database, list[str]]:
    url = fresh_database(backend, workdir, name, pg_database=PG_DATABASE)
    database = Database(url)
    phones = seed_debts(database, debtors)
    with database.transaction() as session:
        store_texts(
            session,
            [
                IncomingText(
                    provider_sid=f"SMinbound{i:025d}",
                    from_phone=phone,
                    to_phone=TWILIO_NUMBER,
                    body=BODIES[i % len(BODIES)],
                    received_at=START_AT,
                )
                for i, phone in enumerate(phones)
            ],
        )
    return database, phones


def timed(work: Callable[[], int]) -> tuple[int, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    done = work()
    return done, time.perf_counter() - wall, time.process_time() - cpu


def check(database: Database, count: int, tag: str) -> None:
    with database.transaction() as session:
        processed = session.scalar(
            select(func.count(InboundText.id)).where(InboundText.state == "processed")
        )
        answers = session.scalar(
            select(func.count(Message.id)).where(Message.direction == "outbound")
        )
    if processed != count or answers != count:
        raise SystemExit(f"{tag}: {processed} processed and {answers} answers of {count}")


def bench_backend(backend: str, args: argparse.Namespace) -> list[str]:
    tag = f"[{backend}]"
    figures: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="parley-inbound-bench-") as tmp:
        for mode in ("grouped", "one by one"):
            database, phones = prepare(backend, Path(tmp), mode.replace(" ", ""), args.debtors)
            try:
                settings = Settings(
                    database_url=str(database.engine.url.render_as_string(hide_password=False)),
                    inbound_concurrency=args.concurrency,
                )
                processor = InboundProcessor(
                    database, build_inbound_handler(settings), FixedClock(START_AT), settings
                )
                if mode == "grouped":
                    done, wall, cpu = timed(processor.process_pending)
                else:
                    done, wall, cpu = timed(
                        lambda: sum(processor.process_next(phone) for phone in phones)  # noqa: B023
                    )
                check(database, len(phones), f"{tag} {mode}")
            finally:
                database.dispose()
                if backend == "postgres":
                    drop_postgres(PG_DATABASE)
            figures[mode] = (rate(done, wall), cpu / done * 1000)
            print(
                f"{tag} {mode}: {done:,} texts in {wall:.2f} s = {rate(done, wall):,.0f}/s, "
                f"CPU {cpu / done * 1000:.1f} ms a text",
                flush=True,
            )
    grouped, single = figures["grouped"], figures["one by one"]
    return [
        backend,
        f"{args.debtors:,}",
        f"{single[0]:,.0f} ({single[1]:.1f} ms)",
        f"{grouped[0]:,.0f} ({grouped[1]:.1f} ms)",
        f"{grouped[0] / single[0]:.2f}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--debtors", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    args = parser.parse_args(argv)
    check_phone_plan()
    print_machine()
    rows = [bench_backend(backend, args) for backend in selected_backends(args.backend)]
    print_machine()
    print()
    print_table(
        [
            "backend",
            "texts",
            "one by one texts/s (CPU a text)",
            "grouped texts/s (CPU a text)",
            "ratio",
        ],
        rows,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
