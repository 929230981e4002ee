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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

import anyio.to_thread
from sqlalchemy import Connection, Table, text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from app.conversations.models import InboundText
from app.db import Database, bulk_insert

logger = logging.getLogger("parley.inbox")

# The channel workers LISTEN on (PostgreSQL).
INBOUND_CHANNEL = "parley_inbound"
NOTIFY = text("SELECT pg_notify(:channel, '')")
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
    table = cast(Table, InboundText.__table__)
    return len(
        bulk_insert(session, table, list(rows.values()), conflict=("provider_sid",), returning="id")
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
            stored = store_texts(connection, texts)
            if stored and self.db.is_postgres:
                connection.execute(NOTIFY, {"channel": INBOUND_CHANNEL})
        if stored and self.wake is not None:
            self.wake()  # this process's worker, after the commit
