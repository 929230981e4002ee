"""Shared plumbing of the benchmarks: fresh databases (a temp SQLite file, or the
benchmark's own PostgreSQL database, `parley_bench` unless a script names another),
test phone numbers, small formatting and statistics helpers.

The PostgreSQL database `test` belongs to the test suite and other processes: the
benchmarks never connect to it.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `tests.fake_twilio` is not an installed package
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402

from app.migrate import upgrade_to_head  # noqa: E402

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
PG_ADMIN_URL = f"{PG_SERVER}/postgres"
BENCH_DATABASE = "parley_bench"
PG_BENCH_URL = f"{PG_SERVER}/{BENCH_DATABASE}"
BACKENDS = ("sqlite", "postgres")

# Area codes with a well-known zone; "+1 NPA 555 XXXX" numbers are valid mobile-or-
# fixed numbers for `phonenumbers`, so they pass Parley's checks. Checked at start-up
# by `check_phone_plan` against app.phones.
AREA_CODES: tuple[tuple[str, str], ...] = (
    ("415", "America/Los_Angeles"),
    ("212", "America/New_York"),
    ("310", "America/Los_Angeles"),
    ("312", "America/Chicago"),
    ("206", "America/Los_Angeles"),
    ("617", "America/New_York"),
    ("305", "America/New_York"),
    ("713", "America/Chicago"),
    ("404", "America/New_York"),
    ("602", "America/Phoenix"),
)
DISTINCT_PHONES = len(AREA_CODES) * 10_000


def phone_for(key: int) -> tuple[str, str]:
    """The E.164 number of debtor `key` and the zone Parley infers for it; distinct for
    0 <= key < DISTINCT_PHONES."""
    area, zone = AREA_CODES[key % len(AREA_CODES)]
    line = (key // len(AREA_CODES)) % 10_000
    return f"+1{area}555{line:04d}", zone


def check_phone_plan() -> None:
    """Fail early if `phonenumbers` stops accepting the generated numbers."""
    from app.phones import infer_timezone, normalize_phone

    for key in range(len(AREA_CODES)):
        for line in (0, 1234, 9999):
            phone, zone = phone_for(key + line * len(AREA_CODES))
            if normalize_phone(phone, "US") != phone or infer_timezone(phone) != zone:
                raise SystemExit(f"bench phone plan broken: {phone} is not a {zone} mobile")


def postgres_reachable() -> bool:
    """Whether the local PostgreSQL server answers (as user postgres, no password)."""
    engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return True
    except OperationalError:
        return False
    finally:
        engine.dispose()


def _admin(statement: str) -> None:
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


def _bench_database_name(database: str) -> str:
    """`database`, refused unless it is one of the benchmarks' own (`parley_bench*`):
    never `test`, never `postgres`."""
    if not database.startswith(BENCH_DATABASE) or not database.replace("_", "").isalnum():
        raise ValueError(f"not a benchmark database: {database!r}")
    return database


def postgres_url(database: str = BENCH_DATABASE) -> str:
    """The SQLAlchemy URL of the benchmark database `database` on the local server."""
    return f"{PG_SERVER}/{_bench_database_name(database)}"


def drop_postgres(database: str = BENCH_DATABASE) -> None:
    """Drop `database` (default `parley_bench`), closing whatever is still connected to
    it."""
    _admin(f'DROP DATABASE IF EXISTS "{_bench_database_name(database)}" WITH (FORCE)')


def fresh_database(
    backend: str, workdir: Path, name: str, *, pg_database: str = BENCH_DATABASE
) -> str:
    """The URL of a new, empty, migrated database: `workdir/name.db` for SQLite, the
    dropped and re-created `pg_database` (default `parley_bench`) for PostgreSQL
    (callers dispose their engines on the previous one first)."""
    if backend == "sqlite":
        path = workdir / f"{name}.db"
        for leftover in workdir.glob(f"{name}.db*"):
            leftover.unlink()
        url = f"sqlite:///{path}"
    elif backend == "postgres":
        drop_postgres(pg_database)
        _admin(f'CREATE DATABASE "{_bench_database_name(pg_database)}"')
        url = postgres_url(pg_database)
    else:
        raise ValueError(f"unknown backend {backend!r}")
    upgrade_to_head(url)
    return url


def selected_backends(choice: str) -> list[str]:
    """The backends to run for --backend, skipping PostgreSQL (with a note) when it does
    not answer."""
    wanted = list(BACKENDS) if choice == "all" else [choice]
    if "postgres" in wanted and not postgres_reachable():
        print(f"PostgreSQL not reachable at {PG_ADMIN_URL}: skipping it", flush=True)
        wanted.remove("postgres")
    return wanted


@dataclass
class Stopwatch:
    """Wall-clock seconds of a block (time.perf_counter)."""

    seconds: float = 0.0


@contextmanager
def timed() -> Iterator[Stopwatch]:
    watch = Stopwatch()
    started = time.perf_counter()
    try:
        yield watch
    finally:
        watch.seconds = time.perf_counter() - started


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` 0.5 is the median) of values already
    sorted in ascending order."""
    if not sorted_values:
        raise ValueError("no values")
    rank = math.ceil(fraction * len(sorted_values))
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    """A Markdown table (pasteable into bench/README.md)."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")


def print_machine() -> None:
    """Cores and load: other processes on the machine skew every figure."""
    cores = os.cpu_count() or 0
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"machine: {cores} cores, load average {load} (1/5/15 min)", flush=True)
