"""Streaming CSV: rows are read in batches, in transactions of their own (the request's
has ended by the time the body is sent), and written out in chunks, so an export of any
size never sits whole in memory.

On PostgreSQL one read transaction streams the rows through a server-side cursor. On
SQLite every transaction takes the write lock (BEGIN IMMEDIATE, see app.db), so each
batch is read in a short transaction of its own and writers get their turn in between;
queries are ordered oldest first, so rows added meanwhile come after the last batch."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select

from app.db import Database

# OWASP "CSV injection": a cell starting with one of these is run as a formula by
# spreadsheet programs; a leading apostrophe makes it text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BATCH_ROWS = 1000
CHUNK_BYTES = 64 * 1024
# Excel reads UTF-8 only with a byte-order mark; Parley's own CSV import skips it.
BOM = "\ufeff"

Cell = str | int | bool | date | datetime | None


def neutralize(value: Cell) -> str | int:
    """The CSV cell for `value`: text that a spreadsheet would run as a formula gets a
    leading apostrophe; numbers stay numbers; None is empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def stream_csv(
    database: Database,
    header: Sequence[str],
    query: Select[*tuple[Any, ...]],
    to_row: Callable[[Any], Sequence[Cell]],
    *,
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[str]:
    """Yield the CSV text of `header` and one row per result of `query`, in chunks of
    about `chunk_bytes` characters."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(BOM)
    writer.writerow(header)
    for row in _rows(database, query):
        writer.writerow([neutralize(cell) for cell in to_row(row)])
        if buffer.tell() >= chunk_bytes:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _rows(database: Database, query: Select[*tuple[Any, ...]]) -> Iterator[Any]:
    if database.is_postgres:
        with database.transaction() as session:
            yield from session.execute(query.execution_options(yield_per=BATCH_ROWS))
        return
    offset = 0
    while True:
        with database.transaction() as session:
            batch = session.execute(query.limit(BATCH_ROWS).offset(offset)).all()
        yield from batch
        if len(batch) < BATCH_ROWS:
            return
        offset += BATCH_ROWS
