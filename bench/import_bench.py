"""CSV import throughput: Parley's `import_csv` against a plain bulk INSERT.

For each backend (a fresh temp SQLite file; PostgreSQL's own `parley_bench` database
when the server answers at 127.0.0.1:5432) it writes a CSV of --rows rows (about 1%
invalid, about 20% of the debts sharing a debtor's phone with the row before) and
times:

* Parley: `import_csv` over the open file inside one `Database.transaction()`
  (validation, phone normalisation, upserts, one event per created debt, commit);
* baseline: on a second fresh database, one SQLAlchemy Core `INSERT` executemany of
  the same debtors and debts as prepared dicts (values already normalised, nothing
  validated), in one transaction, commit included. The events Parley also writes are
  inserted afterwards in the same transaction and reported separately.

It prints debts stored per second for both and their ratio, plus the growth of the
process's peak RSS during the Parley import (the file is streamed, so it should stay
far below what holding 50,000 rows would take). With --backend all each backend runs
in its own subprocess, so one backend's peak does not hide the next one's.
Timing figures are printed, never asserted.

    .venv/bin/python bench/import_bench.py [--rows 50000] [--backend sqlite|postgres|all]
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `app`, `bench`, `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, insert, select

from app.actions.debts import import_debts_csv as import_csv
from app.clock import SystemClock
from app.creditors.service import create_creditor
from app.db import Base, Database, bulk_insert, new_id
from app.debts.models import Debt
from app.debts.service import CHUNK_SIZE
from app.texts import normalize_language
from bench.common import (
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

HEADER = [
    "external_id",
    "name",
    "phone",
    "language",
    "timezone",
    "amount",
    "currency",
    "due_date",
    "description",
]
LANGUAGES = ("", "en", "es", "", "pt-BR", "en-US", "")
INVALID_EVERY = 100  # row i is invalid when i % 100 == INVALID_AT: 1% of the file
INVALID_AT = 37
FIRST_DUE = date(2026, 9, 1)
TABLES = Base.metadata.tables
# This script's own PostgreSQL database (the send and webhook benchmarks use others).
PG_DATABASE = "parley_bench_import"


@dataclass(frozen=True)
class PlainRow:
    """A valid CSV row as Parley stores it (E.164 phone, language and zone resolved)."""

    external_id: str
    name: str
    phone: str
    language: str
    timezone: str
    amount: int
    currency: str
    due_date: date
    description: str | None


def generate(rows: int) -> Iterator[tuple[list[str], PlainRow | None]]:
    """Deterministic rows: the CSV fields and, for valid rows, the normalised values."""
    for i in range(rows):
        key = i - 1 if i % 5 == 4 else i  # every fifth debt shares the previous phone
        phone, zone = phone_for(key)
        written_phone = phone
        if i % 4 == 1:  # national format, as spreadsheets hold them
            written_phone = f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}"
        language = LANGUAGES[i % len(LANGUAGES)]
        timezone = zone if i % 10 == 3 else ""
        amount = str(1000 + (i * 7919) % 500_000)
        currency = "EUR" if i % 20 == 0 else "USD"
        due = (FIRST_DUE + timedelta(days=i % 120)).isoformat()
        description = f"Invoice {i}" if i % 3 else ""
        valid = i % INVALID_EVERY != INVALID_AT
        if not valid:
            match (i // INVALID_EVERY) % 4:
                case 0:
                    written_phone = phone[:-1]  # one digit short
                case 1:
                    amount = "-500"
                case 2:
                    currency = "ZZZ"
                case _:
                    due = "2026-02-30"
        fields = [
            f"INV-{i:07d}",
            f"Debtor {key}",
            written_phone,
            language,
            timezone,
            amount,
            currency,
            due,
            description,
        ]
        plain = None
        if valid:
            plain = PlainRow(
                external_id=fields[0],
                name=fields[1],
                phone=phone,
                language=normalize_language(language) if language else "en",
                timezone=zone,
                amount=int(amount),
                currency=currency,
                due_date=date.fromisoformat(due),
                description=description or None,
            )
        yield fields, plain


@dataclass
class CsvInfo:
    rows: int
    invalid: int
    phones: int
    size_bytes: int


def write_csv(path: Path, rows: int) -> CsvInfo:
    """Write the file row by row (never the whole file in memory)."""
    invalid = 0
    phones: set[str] = set()
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for fields, plain in generate(rows):
            writer.writerow(fields)
            if plain is None:
                invalid += 1
            else:
                phones.add(plain.phone)
    return CsvInfo(rows, invalid, len(phones), path.stat().st_size)


def max_rss_kib() -> int:
    """Peak resident set size of this process so far (KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def new_creditor(database: Database) -> str:
    with database.transaction() as session:
        return create_creditor(session, SystemClock(), "Bench Creditor").id


@dataclass
class Result:
    backend: str
    rows: int
    invalid: int
    debtors: int
    parley_seconds: float
    parley_created: int
    parley_failed: int
    rss_before_kib: int
    rss_growth_kib: int
    plain_seconds: float
    events_seconds: float
    csv_bytes: int
    multirow_seconds: float
    multirow_events_seconds: float

    @property
    def stored(self) -> int:
        return self.parley_created

    @property
    def parley_rate(self) -> float:
        return rate(self.stored, self.parley_seconds)

    @property
    def plain_rate(self) -> float:
        return rate(self.stored, self.plain_seconds)

    @property
    def ratio(self) -> float:
        return self.parley_rate / self.plain_rate

    @property
    def multirow_rate(self) -> float:
        return rate(self.stored, self.multirow_seconds)

    @property
    def multirow_ratio(self) -> float:
        return self.parley_rate / self.multirow_rate


def run_parley(url: str, csv_path: Path) -> tuple[float, int, int, int, int]:
    """Time import_csv; returns seconds, created, failed, RSS before and its growth."""
    database = Database(url)
    try:
        creditor_id = new_creditor(database)
        rss_before = max_rss_kib()
        with (
            timed() as watch,
            database.transaction() as session,
            csv_path.open(encoding="utf-8", newline="") as handle,
        ):
            summary = import_csv(
                session, creditor_id, handle, now=SystemClock().now(), actor="bench"
            )
        rss_growth = max_rss_kib() - rss_before
        with database.transaction() as session:
            stored = session.scalar(select(func.count(Debt.id))) or 0
        if stored != summary.created:
            raise SystemExit(f"import_csv reported {summary.created} debts, {stored} stored")
        return watch.seconds, summary.created, summary.failed, rss_before, rss_growth
    finally:
        database.dispose()


def run_plain(url: str, rows: int, style: str = "executemany") -> tuple[float, float, int, int]:
    """Time a plain INSERT of the same debtors and debts (then the events) in one
    transaction: SQLAlchemy Core's executemany (`style="executemany"`) or the multi-row
    statement Parley's import uses (`"multirow"`: `bulk_insert`, unnest arrays on
    PostgreSQL, multi-row VALUES on SQLite); returns debts+debtors seconds, events
    seconds, debtors and debts inserted."""
    database = Database(url)
    try:
        creditor_id = new_creditor(database)
        now = datetime.now(UTC)
        debtors: dict[str, dict[str, Any]] = {}
        debts: list[dict[str, Any]] = []
        for _, plain in generate(rows):
            if plain is None:
                continue
            debtor = debtors.get(plain.phone)
            if debtor is None:
                debtor = debtors[plain.phone] = {
                    "id": new_id(),
                    "creditor_id": creditor_id,
                    "name": plain.name,
                    "phone": plain.phone,
                    "language": plain.language,
                    "timezone": plain.timezone,
                    "contact_status": "active",
                    "created_at": now,
                    "updated_at": now,
                }
            debts.append(
                {
                    "id": new_id(),
                    "creditor_id": creditor_id,
                    "debtor_id": debtor["id"],
                    "external_id": plain.external_id,
                    "description": plain.description,
                    "amount": plain.amount,
                    "balance": plain.amount,
                    "currency": plain.currency,
                    "due_date": plain.due_date,
                    "status": "open",
                    "needs_review": False,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        events = [
            {
                "id": new_id(),
                "creditor_id": creditor_id,
                "actor": "bench",
                "kind": "debt.created",
                "debt_id": debt["id"],
                "debtor_id": debt["debtor_id"],
                "from_value": None,
                "to_value": str(debt["balance"]),
                "data": None,
                "created_at": now,
            }
            for debt in debts
        ]
        for debt in debts:  # every column, as bulk_insert wants
            debt.update(tags=None, next_statement_on=None, escalation=None)
        for debtor in debtors.values():
            debtor.update(
                other_timezones=None,
                contact_window_start=None,
                contact_window_end=None,
                contact_weekdays_only=False,
            )
        if style == "multirow":
            with timed() as core, database.transaction() as session:
                for start in range(0, len(debtors), CHUNK_SIZE):
                    part = list(debtors.values())[start : start + CHUNK_SIZE]
                    bulk_insert(session, TABLES["debtors"], part)
                for start in range(0, len(debts), CHUNK_SIZE):
                    bulk_insert(session, TABLES["debts"], debts[start : start + CHUNK_SIZE])
            with timed() as extra, database.transaction() as session:
                for start in range(0, len(events), CHUNK_SIZE):
                    bulk_insert(session, TABLES["events"], events[start : start + CHUNK_SIZE])
            return core.seconds, extra.seconds, len(debtors), len(debts)
        with timed() as core, database.engine.begin() as connection:
            connection.execute(insert(TABLES["debtors"]), list(debtors.values()))
            connection.execute(insert(TABLES["debts"]), debts)
        # The event rows Parley also writes, in a second transaction, timed apart.
        with timed() as extra, database.engine.begin() as connection:
            connection.execute(insert(TABLES["events"]), events)
        return core.seconds, extra.seconds, len(debtors), len(debts)
    finally:
        database.dispose()


def bench_backend(backend: str, rows: int, baselines: bool = True) -> Result:
    with tempfile.TemporaryDirectory(prefix="parley-import-bench-") as tmp:
        workdir = Path(tmp)
        csv_path = workdir / "debts.csv"
        info = write_csv(csv_path, rows)
        print(
            f"[{backend}] CSV: {info.rows:,} rows ({info.invalid:,} invalid), "
            f"{info.phones:,} distinct phones, {info.size_bytes / 1e6:.1f} MB",
            flush=True,
        )
        try:
            url = fresh_database(backend, workdir, "parley", pg_database=PG_DATABASE)
            seconds, created, failed, rss_before, rss_growth = run_parley(url, csv_path)
            print(
                f"[{backend}] Parley import_csv: {created:,} created, {failed:,} failed in "
                f"{seconds:.2f} s = {rate(created, seconds):,.0f} debts/s "
                f"({rate(rows, seconds):,.0f} CSV rows/s); peak RSS grew "
                f"{rss_growth / 1024:.1f} MiB (from {rss_before / 1024:.0f} MiB)",
                flush=True,
            )
            plain_seconds = events_seconds = multirow_seconds = multirow_events_seconds = 0.0
            debtors, debts = info.phones, created
            if baselines:
                url = fresh_database(backend, workdir, "plain", pg_database=PG_DATABASE)
                plain_seconds, events_seconds, debtors, debts = run_plain(url, rows)
                url = fresh_database(backend, workdir, "multirow", pg_database=PG_DATABASE)
                multirow_seconds, multirow_events_seconds, _, _ = run_plain(url, rows, "multirow")
        finally:
            if backend == "postgres":
                drop_postgres(PG_DATABASE)
    if debts != created:
        raise SystemExit(f"baseline inserted {debts} debts, Parley {created}")
    result = Result(
        backend=backend,
        rows=rows,
        invalid=info.invalid,
        debtors=debtors,
        parley_seconds=seconds,
        parley_created=created,
        parley_failed=failed,
        rss_before_kib=rss_before,
        rss_growth_kib=rss_growth,
        plain_seconds=plain_seconds,
        events_seconds=events_seconds,
        csv_bytes=info.size_bytes,
        multirow_seconds=multirow_seconds,
        multirow_events_seconds=multirow_events_seconds,
    )
    if not baselines:
        return result
    print(
        f"[{backend}] plain Core INSERT: {debtors:,} debtors + {debts:,} debts in "
        f"{plain_seconds:.2f} s = {result.plain_rate:,.0f} debts/s "
        f"(+ {debts:,} events: {events_seconds:.2f} s more)",
        flush=True,
    )
    print(
        f"[{backend}] plain multi-row INSERT (Parley's statements, no validation): "
        f"{multirow_seconds:.2f} s = {result.multirow_rate:,.0f} debts/s "
        f"(+ events: {multirow_events_seconds:.2f} s more)",
        flush=True,
    )
    print(
        f"[{backend}] ratio Parley / plain insert (debts/s): {result.ratio:.3f} "
        f"(Parley takes {1 / result.ratio:.1f}x as long); "
        f"Parley / plain multi-row: {result.multirow_ratio:.3f}",
        flush=True,
    )
    return result


def summarise(results: list[Result]) -> None:
    print()
    print_table(
        [
            "backend",
            "CSV rows",
            "Parley s",
            "Parley debts/s",
            "plain s",
            "plain debts/s",
            "ratio",
            "+events s",
            "multi-row s",
            "ratio to multi-row",
            "RSS growth MiB",
        ],
        [
            [
                r.backend,
                f"{r.rows:,}",
                f"{r.parley_seconds:.2f}",
                f"{r.parley_rate:,.0f}",
                *(
                    [
                        f"{r.plain_seconds:.2f}",
                        f"{r.plain_rate:,.0f}",
                        f"{r.ratio:.3f}",
                        f"{r.events_seconds:.2f}",
                        f"{r.multirow_seconds:.2f}",
                        f"{r.multirow_ratio:.3f}",
                    ]
                    if r.plain_seconds
                    else ["-"] * 6
                ),
                f"{r.rss_growth_kib / 1024:.1f}",
            ]
            for r in results
        ],
    )


def main(argv: list[str] | None = None) -> int:
    global PG_DATABASE  # one run of the script, one database
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=50_000, help="CSV rows (default 50000)")
    parser.add_argument(
        "--backend", choices=("sqlite", "postgres", "all"), default="all", help="default all"
    )
    parser.add_argument(
        "--memory-only",
        action="store_true",
        help="time and measure only Parley's import (for --rows 500000: peak RSS growth)",
    )
    parser.add_argument(
        "--pg-database",
        default=PG_DATABASE,
        help=f"PostgreSQL database to drop and re-create (default {PG_DATABASE}; must start "
        "with parley_bench), so that two runs at once do not share one",
    )
    parser.add_argument("--json-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    PG_DATABASE = args.pg_database
    if not 1 <= args.rows <= 1_000_000:
        parser.error("--rows must be between 1 and 1,000,000")
    check_phone_plan()
    backends = selected_backends(args.backend)
    results: list[Result] = []
    if len(backends) == 1:
        print_machine()
        results.append(bench_backend(backends[0], args.rows, not args.memory_only))
        if args.json_out is not None:
            args.json_out.write_text(json.dumps(asdict(results[0])))
            return 0
    else:
        # One fresh process per backend: ru_maxrss is a high-water mark of the process.
        with tempfile.TemporaryDirectory(prefix="parley-import-bench-") as tmp:
            for backend in backends:
                out = Path(tmp) / f"{backend}.json"
                command = [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--rows",
                    str(args.rows),
                    "--backend",
                    backend,
                    "--json-out",
                    str(out),
                    *(["--memory-only"] if args.memory_only else []),
                    "--pg-database",
                    PG_DATABASE,
                ]
                subprocess.run(command, check=True)
                results.append(Result(**json.loads(out.read_text())))
    summarise(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
