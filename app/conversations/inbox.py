"""The inbound queue's writing side: a text as Twilio delivered it is stored once per
MessageSid (`INSERT ... ON CONFLICT (provider_sid) DO NOTHING`) before the webhook
answers; workers handle it later (app.actions.inbox).

`GroupCommitInbox` is what the async webhook awaits: the texts that arrive while one
batch commits go together into the next multi-row INSERT, one transaction, and each
request is answered only once its own batch has committed (durability is unchanged: a
text is acknowledged only when it is on disk). A batch that stored something wakes the
workers once: on PostgreSQL one NOTIFY inside its transaction (delivered only when it
commits), and the in-process event after the commit.

On PostgreSQL a batch is one statement on a psycopg `AsyncConnection` of the event
loop's own, in autocommit: the INSERT and the NOTIFY in one CTE, awaited in the loop.
Handing each batch to a thread and a SQLAlchemy transaction instead (what SQLite still
does, its driver being blocking) cost a batch about 7 ms under load against 1.5 ms
alone, the thread and the event loop taking turns (bench/webhook_bench.py)."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import anyio.to_thread
import psycopg
from sqlalchemy import Connection, Table
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from app.conversations.models import InboundText
from app.db import Database, bulk_insert, pg_recordset, pg_rows_document

logger = logging.getLogger("parley.inbox")

# The channel workers LISTEN on (PostgreSQL).
INBOUND_CHANNEL = "parley_inbound"
# Texts per INSERT at most (SQLite binds at most 32,766 parameters per statement).
MAX_BATCH = 500


@dataclass(frozen=True)
class IncomingText:
    """One text as the webhook received it."""

    provider_sid: str
    from_phone: str
    to_phone: str
    body: str
    received_at: datetime


def incoming_from_form(form: Mapping[str, str], received_at: datetime) -> IncomingText | None:
    """The text a verified Twilio webhook form carries; None without a MessageSid (or
    its older names) or a From."""
    sid = form.get("MessageSid") or form.get("SmsMessageSid") or form.get("SmsSid")
    sender = form.get("From")
    if not sid or not sender:
        return None
    return IncomingText(
        provider_sid=sid,
        from_phone=sender,
        to_phone=form.get("To", ""),
        body=form.get("Body", ""),
        received_at=received_at,
    )


# The columns a stored text's row sets (the others take their defaults): the keys of
# each row _rows builds.
_ROW_NAMES = (
    "provider_sid",
    "from_phone",
    "to_phone",
    "body",
    "received_at",
    "state",
    "attempts",
    "next_attempt_at",
)


def _rows(texts: Sequence[IncomingText]) -> list[dict[str, Any]]:
    """The inbound_texts rows for `texts`, one per MessageSid (the first)."""
    rows: dict[str, dict[str, Any]] = {}
    for item in texts:
        if item.provider_sid not in rows:
            rows[item.provider_sid] = {
                "provider_sid": item.provider_sid,
                "from_phone": item.from_phone,
                "to_phone": item.to_phone,
                "body": item.body,
                "received_at": item.received_at,
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": item.received_at,
            }
    return list(rows.values())


def store_texts(session: Session | Connection, texts: Sequence[IncomingText]) -> int:
    """Store texts not stored yet (a MessageSid already there, or twice in `texts`,
    changes nothing), in one statement; how many were new."""
    return len(
        bulk_insert(
            session, INBOUND_TEXTS, _rows(texts), conflict=("provider_sid",), returning="id"
        )
    )


# One batch on PostgreSQL, one statement in autocommit (its own transaction): the new
# rows, and the workers' one NOTIFY when there were any (delivered once it commits). The
# rows (`_rows`) go as one JSON document (app.db.pg_rows_document), read as the table's
# columns; strings are unbounded VARCHAR in it, so a value too long is refused by the
# insert rather than cut.
INBOUND_TEXTS = cast(Table, InboundText.__table__)
_PG_NAMES, _PG_ROWS = pg_recordset(INBOUND_TEXTS, _ROW_NAMES, "%s")
_PG_STORE = (
    f"WITH new AS (INSERT INTO inbound_texts ({_PG_NAMES}) {_PG_ROWS} "  # noqa: S608
    "ON CONFLICT (provider_sid) DO NOTHING RETURNING 1), "
    "counted AS (SELECT count(*) AS stored FROM new), "
    "notified AS (SELECT pg_notify(%s, '') FROM counted WHERE stored > 0) "
    "SELECT stored, (SELECT count(*) FROM notified) FROM counted"
)


def _whole_batch_error(exc: BaseException) -> bool:
    """An error that is about the database, not about one row: every text of the batch
    gets it (a refused row is tried alone instead)."""
    return not isinstance(exc, DBAPIError) or isinstance(exc, OperationalError | InterfaceError)


@dataclass
class _LoopQueue:
    pending: list[tuple[IncomingText, asyncio.Future[None]]] = field(default_factory=list)
    draining: bool = False
    task: asyncio.Task[None] | None = None
    # PostgreSQL: this loop's connection, opened by its first batch, dropped on error.
    connection: psycopg.AsyncConnection[Any] | None = None

    def close_now(self) -> None:
        """Close the connection without its loop, which is gone (a test client makes one
        per request): libpq's own close, which needs no loop."""
        if self.connection is not None:
            connection, self.connection = self.connection, None
            connection.pgconn.finish()


class GroupCommitInbox:
    """Stores webhook texts with group commit (see the module docstring)."""

    def __init__(self, db: Database, wake: Callable[[], None] | None = None) -> None:
        self.db = db
        self.wake = wake
        # One queue per event loop (uvicorn has one; a test client may make several).
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopQueue] = (
            weakref.WeakKeyDictionary()
        )

    def _queue(self) -> _LoopQueue:
        """The running event loop's queue."""
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = _LoopQueue()
            # uvicorn's one loop closes it at shutdown (aclose); any other on its way out.
            weakref.finalize(loop, queue.close_now)
        return queue

    async def store(self, text: IncomingText) -> None:
        """Return once `text` is committed (or was already stored); raise what the
        database raised when it could not be stored."""
        queue = self._queue()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.pending.append((text, future))
        if not queue.draining:
            queue.draining = True
            queue.task = asyncio.create_task(self._drain(queue))
        await future

    async def _drain(self, queue: _LoopQueue) -> None:
        try:
            while queue.pending:
                batch = queue.pending[:MAX_BATCH]
                del queue.pending[:MAX_BATCH]
                try:
                    outcomes = await self.write([text for text, _ in batch])
                except BaseException as exc:
                    outcomes = [exc] * len(batch)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():
                        continue  # the request went away meanwhile
                    if outcome is None:
                        future.set_result(None)
                    else:
                        future.set_exception(outcome)
        finally:
            queue.draining = False
            queue.task = None

    async def aclose(self) -> None:
        """Close the running event loop's PostgreSQL connection (the app's shutdown)."""
        queue = self._queues.get(asyncio.get_running_loop())
        if queue is not None and queue.connection is not None:
            connection, queue.connection = queue.connection, None
            await connection.close()

    async def write(self, texts: Sequence[IncomingText]) -> list[BaseException | None]:
        """Store one batch in one transaction; per text, None or the error that kept it
        from being stored. A row the database refuses (a value too long) is retried
        alone, so it does not fail its neighbours."""
        try:
            await self._commit(texts)
            return [None] * len(texts)
        except Exception as exc:
            if len(texts) == 1 or _whole_batch_error(exc):
                return [exc] * len(texts)
        outcomes: list[BaseException | None] = []
        for one in texts:
            try:
                await self._commit([one])
                outcomes.append(None)
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    async def _commit(self, texts: Sequence[IncomingText]) -> None:
        """One transaction, then this process's worker woken if anything was new."""
        if self.db.is_postgres:
            stored = await self._commit_pg(self._queue(), texts)
        else:
            stored = await anyio.to_thread.run_sync(self._commit_sqlite, texts)
        if stored and self.wake is not None:
            self.wake()

    async def _commit_pg(self, queue: _LoopQueue, texts: Sequence[IncomingText]) -> int:
        """One autocommit statement (`_PG_STORE`) on the loop's connection; how many
        texts were new. psycopg's errors are raised as SQLAlchemy's (DataError,
        OperationalError, ...), as from SQLite's path, so the webhook answers them alike;
        a connection that failed is not used again."""
        try:
            if queue.connection is None or queue.connection.closed:
                queue.connection = await psycopg.AsyncConnection.connect(
                    self.db.conninfo, autocommit=True
                )
            document = pg_rows_document(_rows(texts), INBOUND_TEXTS)
            cursor = await queue.connection.execute(
                _PG_STORE, (document, INBOUND_CHANNEL), prepare=True
            )
            row = await cursor.fetchone()
        except psycopg.Error as exc:
            if queue.connection is not None and (
                queue.connection.broken or isinstance(exc, psycopg.OperationalError)
            ):
                connection, queue.connection = queue.connection, None
                await connection.close()
            raise DBAPIError.instance(
                "INSERT INTO inbound_texts", None, exc, psycopg.Error, hide_parameters=True
            ) from exc
        return int(row[0]) if row is not None else 0

    def _commit_sqlite(self, texts: Sequence[IncomingText]) -> int:
        """One transaction on a plain connection (no ORM session: this is the webhook's
        whole cost), blocking (it runs in a thread); how many texts were new."""
        with self.db.engine.begin() as connection:
            return store_texts(connection, texts)
