"""The inbound queue's writing side: a text as Twilio delivered it is stored once per
MessageSid (`INSERT ... ON CONFLICT (provider_sid) DO NOTHING`) before the webhook
answers; workers handle it later (app.actions.inbox).

`GroupCommitInbox` is what the async webhook awaits: the texts that arrive while one
batch commits go together into the next multi-row INSERT, one transaction, and each
request is answered only once its own batch has committed (durability is unchanged: a
text is acknowledged only when it is on disk). A batch that stored something wakes the
workers once: on PostgreSQL one NOTIFY inside its transaction (delivered only when it
commits), and the in-process event after the commit."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

import anyio.to_thread
from sqlalchemy import Connection, Table, text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert

from app.conversations.models import InboundText
from app.db import Database, insert_for

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


def _insert_new(session: Session | Connection) -> ReturningInsert[tuple[int]]:
    """INSERT ... ON CONFLICT (provider_sid) DO NOTHING RETURNING id, in the dialect.
    Executed with a list of rows: one statement, compiled once and cached whatever the
    batch's size (SQLAlchemy's "insertmanyvalues" writes the multi-row VALUES)."""
    table = cast(Table, InboundText.__table__)
    statement: ReturningInsert[tuple[int]] = (
        insert_for(session, table)
        .on_conflict_do_nothing(index_elements=["provider_sid"])
        .returning(table.c.id)
    )
    return statement


def store_texts(session: Session | Connection, texts: Sequence[IncomingText]) -> int:
    """Store texts not stored yet (a MessageSid already there, or twice in `texts`,
    changes nothing), in one statement; how many were new."""
    rows: dict[str, dict[str, object]] = {}
    for item in texts:
        rows.setdefault(
            item.provider_sid,
            {
                "provider_sid": item.provider_sid,
                "from_phone": item.from_phone,
                "to_phone": item.to_phone,
                "body": item.body,
                "received_at": item.received_at,
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": item.received_at,
            },
        )
    if not rows:
        return 0
    return len(session.execute(_insert_new(session), list(rows.values())).all())


# PostgreSQL, the webhook's batch: one array per column, so one statement text whatever
# the batch's size (nothing compiled per batch), and the NOTIFY in the same statement
# when anything was new (delivered at the commit, see GroupCommitInbox._commit).
_PG_STORE_AND_NOTIFY = text(
    "WITH new AS ("
    " INSERT INTO inbound_texts (provider_sid, from_phone, to_phone, body, received_at,"
    " state, attempts, next_attempt_at)"
    " SELECT s, f, t, b, r, 'pending', 0, r FROM unnest("
    "CAST(:sids AS text[]), CAST(:froms AS text[]), CAST(:tos AS text[]),"
    " CAST(:bodies AS text[]), CAST(:received AS timestamptz[])) AS x(s, f, t, b, r)"
    " ON CONFLICT (provider_sid) DO NOTHING RETURNING 1)"
    " SELECT count(*), CASE WHEN count(*) > 0 THEN pg_notify(:channel, '') END FROM new"
)


def _store_and_notify(connection: Connection, texts: Sequence[IncomingText]) -> int:
    """store_texts for PostgreSQL in one round trip, with the batch's NOTIFY."""
    first: dict[str, IncomingText] = {}
    for item in texts:
        first.setdefault(item.provider_sid, item)
    batch = list(first.values())
    stored: int = connection.execute(
        _PG_STORE_AND_NOTIFY,
        {
            "sids": [item.provider_sid for item in batch],
            "froms": [item.from_phone for item in batch],
            "tos": [item.to_phone for item in batch],
            "bodies": [item.body for item in batch],
            "received": [item.received_at for item in batch],
            "channel": INBOUND_CHANNEL,
        },
    ).scalar_one()
    return stored


def _whole_batch_error(exc: BaseException) -> bool:
    """An error that is about the database, not about one row: every text of the batch
    gets it (a refused row is tried alone instead)."""
    return not isinstance(exc, DBAPIError) or isinstance(exc, OperationalError | InterfaceError)


@dataclass
class _LoopQueue:
    pending: list[tuple[IncomingText, asyncio.Future[None]]] = field(default_factory=list)
    draining: bool = False
    task: asyncio.Task[None] | None = None


class GroupCommitInbox:
    """Stores webhook texts with group commit (see the module docstring)."""

    def __init__(self, db: Database, wake: Callable[[], None] | None = None) -> None:
        self.db = db
        self.wake = wake
        # One queue per event loop (uvicorn has one; a test client may make several).
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopQueue] = (
            weakref.WeakKeyDictionary()
        )

    async def store(self, text: IncomingText) -> None:
        """Return once `text` is committed (or was already stored); raise what the
        database raised when it could not be stored."""
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = _LoopQueue()
        future: asyncio.Future[None] = loop.create_future()
        queue.pending.append((text, future))
        if not queue.draining:
            queue.draining = True
            queue.task = loop.create_task(self._drain(queue))
        await future

    async def _drain(self, queue: _LoopQueue) -> None:
        try:
            while queue.pending:
                batch = queue.pending[:MAX_BATCH]
                del queue.pending[:MAX_BATCH]
                try:
                    outcomes = await anyio.to_thread.run_sync(
                        self.write, [text for text, _ in batch]
                    )
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

    def write(self, texts: Sequence[IncomingText]) -> list[BaseException | None]:
        """Store one batch in one transaction (blocking); per text, None or the error
        that kept it from being stored. A row the database refuses (a value too long)
        is retried alone, so it does not fail its neighbours."""
        try:
            self._commit(texts)
            return [None] * len(texts)
        except Exception as exc:
            if len(texts) == 1 or _whole_batch_error(exc):
                return [exc] * len(texts)
        outcomes: list[BaseException | None] = []
        for one in texts:
            try:
                self._commit([one])
                outcomes.append(None)
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    def _commit(self, texts: Sequence[IncomingText]) -> None:
        """One transaction on a plain connection (no ORM session: this is the webhook's
        whole cost). On PostgreSQL the batch's one NOTIFY is sent inside it: PostgreSQL
        delivers a notification only once its transaction has committed, and never
        for one rolled back, so the listeners wake after the commit with no second
        transaction."""
        with self.db.engine.begin() as connection:
            if self.db.is_postgres:
                stored = _store_and_notify(connection, texts)
            else:
                stored = store_texts(connection, texts)
        if stored and self.wake is not None:
            self.wake()  # this process's worker, after the commit
