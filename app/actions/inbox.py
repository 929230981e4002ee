"""The inbound queue's handling side: what a worker does with the texts the webhook
stored (app.conversations.inbox).

Texts are handled number by number, each number's one at a time in arrival order: a
number's oldest pending text is taken under a lock on the number (PostgreSQL: a
transaction-level advisory lock, so a second worker skips that number instead of
racing it; SQLite: its single writer), handled by `InboundHandler.handle`, and marked
processed in the same transaction as everything the handling wrote. "PLAN" then "2"
therefore never race, and a worker that dies mid-text leaves it pending, untouched.

The oldest texts of up to GROUP_SIZE numbers share one transaction: what handling them
looks up is read once for the group (`InboundHandler.preload`, app.read_ahead), their
writes go in the same flushes, and one commit ends it. Should anything in the group
fail, nothing of it is kept and each of its numbers' texts is handled again in a
transaction of its own (`process_next`), where a failure is counted against that text
alone.

A text whose handling raises is rolled back (a savepoint), its try counted with the
error and a backoff before the next; while it waits, the number's later texts wait
behind it. After PARLEY_INBOUND_MAX_ATTEMPTS tries it goes to the human queue with the
error (`state` failed; the debtor's conversation flagged, the words kept in its
messages) and the number's later texts go on."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.actions.inbound import InboundHandler, InboundResult, Known
from app.clock import Clock
from app.config import Settings
from app.conversations.inbox import INBOUND_TEXTS, IncomingText, store_texts
from app.conversations.models import Conversation, InboundText
from app.conversations.service import find_debtor, flag_conversation, get_conversation
from app.db import (
    Database,
    bulk_update,
    insert_new_in_bulk,
    lock_key,
    try_lock_keys,
    update_dirty_in_bulk,
)
from app.debts.models import Debt, Debtor, Event
from app.messaging.models import Message
from app.payments.service import SequenceBlocks
from app.segments import count_segments

logger = logging.getLogger("parley.inbox")

# pg_try_advisory_xact_lock(class, key): the class of the per-number inbound locks
# (two-int form, apart from the single-key locks of the periodic jobs).
NUMBER_LOCK_CLASS = 0x494E4254  # "INBT"

# Texts (of as many numbers) handled in one transaction by process_batch. A group's own
# statements (the locks, the look-ups, the bulk writes: about fifteen) are shared by its
# texts: 32 cost 14-26% less CPU a text than 16, and 64 another 3-20% (the engine alone,
# bench/README.md). The price: a text that fails sends its whole group one by one.
GROUP_SIZE = 64


def lock_number(session: Session, phone: str, *, wait: bool = False) -> bool:
    """Hold `phone`'s inbound lock for this transaction (PostgreSQL); False when another
    transaction holds it and `wait` is not asked. Always True on SQLite (one writer)."""
    return lock_key(session, NUMBER_LOCK_CLASS, phone, wait=wait)


@dataclass(frozen=True, slots=True)
class _Due:
    """A pending text as a group reads it (the columns, in this order)."""

    id: int
    provider_sid: str
    from_phone: str
    to_phone: str
    body: str
    attempts: int
    next_attempt_at: datetime


def _processed_values(result: InboundResult, now: datetime) -> dict[str, object]:
    """What a handled text's row holds afterwards (its try counted apart)."""
    return {
        "state": "processed",
        "processed_at": now,
        "message_id": result.message_id,
        "last_error": None,
    }


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


class InboundProcessor:
    """Handles stored inbound texts (see the module docstring). Safe to run in several
    threads and processes at once."""

    def __init__(
        self, db: Database, handler: InboundHandler, clock: Clock, settings: Settings
    ) -> None:
        self.db = db
        self.handler = handler
        self.clock = clock
        self.settings = settings
        self._rng = random.Random()
        # A group's codes take their sequences from blocks reserved ahead (PostgreSQL):
        # groups issuing codes for one creditor at once do not queue on its row.
        self._sequences = SequenceBlocks(db) if db.is_postgres else None

    # ------------------------------------------------------------------ the worker's step
    def process_batch(
        self, limit: int | None = None, *, stop: Callable[[], bool] | None = None
    ) -> int:
        """Handle up to `limit` due texts (the worker batch size by default), the numbers
        whose texts waited longest first, until `stop()` says so; how many were handled
        (or given up). The oldest text of up to GROUP_SIZE numbers is handled in one
        transaction (_process_group), up to PARLEY_INBOUND_CONCURRENCY such groups at
        once on PostgreSQL (SQLite has one writer: one group at a time); a number with
        more texts comes round again."""
        limit = limit or self.settings.worker_batch_size
        done = 0
        numbers = self._due_numbers(limit)
        while numbers and done < limit and not (stop and stop()):
            room = limit - done
            parallel = self.settings.inbound_concurrency if self.db.is_postgres else 1
            size = min(GROUP_SIZE, -(-min(room, len(numbers)) // parallel))
            groups: list[list[str]] = []
            while numbers and room > 0 and len(groups) < parallel:
                group, numbers = numbers[: min(size, room)], numbers[min(size, room) :]
                groups.append(group)
                room -= len(group)
            for handled, again in self._run_groups(groups, stop):
                done += handled
                numbers.extend(again)
        return done

    def _run_groups(
        self, groups: list[list[str]], stop: Callable[[], bool] | None
    ) -> list[tuple[int, list[str]]]:
        """_process_group for each group, the groups at once in threads of their own
        (each its own transaction and connection: a text's handling mostly waits for
        the database, so the waits overlap). One group runs in the caller's thread."""
        if len(groups) == 1:
            return [self._process_group(groups[0], stop)]
        outcomes: list[tuple[int, list[str]]] = [(0, []) for _ in groups]

        def run(index: int) -> None:
            try:
                outcomes[index] = self._process_group(groups[index], stop)
            except Exception:  # _process_group keeps its own failures; this is a bug
                logger.exception("inbound group failed")

        threads = [
            threading.Thread(target=run, args=(index,), name="parley-inbound", daemon=True)
            for index in range(len(groups))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return outcomes

    def process_pending(self) -> int:
        """Handle every text that is due now (batch after batch); how many."""
        total = 0
        while True:
            done = self.process_batch()
            if done == 0:
                return total
            total += done

    def _process_group(
        self, phones: list[str], stop: Callable[[], bool] | None
    ) -> tuple[int, list[str]]:
        """Handle the oldest due text of each of `phones` that no other worker holds, in
        one transaction: the numbers locked and their first two pending texts read in one
        statement each, the senders' context read once for all (InboundHandler.preload),
        every text handled and marked processed, one commit. Returns how many were
        handled and the numbers that have another text waiting.

        Should any of it fail (a text whose handling raises, a write refused at the
        flush, a deadlock, the commit), nothing of the group is kept and each number's
        text is handled again on its own (process_next: its own transaction, a failure
        counted against that text alone)."""
        handled = 0
        again: list[str] = []
        try:
            with self.db.transaction() as session:
                if self._sequences is not None:
                    self._sequences.use_in(session)
                held = try_lock_keys(session, NUMBER_LOCK_CLASS, phones)
                if not held:
                    return 0, []
                now = self.clock.now()
                firsts, again = self._first_texts(session, held, now)
                if not firsts:
                    return 0, []
                known = self.handler.preload(
                    session, [(text.provider_sid, text.from_phone) for text in firsts], now
                )
                marks: list[dict[str, object]] = []
                for text in firsts:
                    if stop and stop():
                        again = [phone for phone in again if phone != text.from_phone]
                        break
                    result = self._run(session, text, now, known=known)
                    # The try counted with the mark (a failure keeps nothing of the group).
                    marks.append(
                        {"id": text.id, "attempts": text.attempts + 1}
                        | _processed_values(result, now)
                    )
                    handled += 1
                # The group's new rows in one statement per table, not a bound row
                # each (they reference only rows stored before; the flush does the rest),
                # its changed rows in one per table and shape of change, and the texts
                # marked processed in one more.
                insert_new_in_bulk(session, (Conversation, Message, Event))
                update_dirty_in_bulk(session, (Conversation, Debtor, Debt))
                bulk_update(session, INBOUND_TEXTS, marks)
            return handled, again
        except Exception:
            logger.warning(
                "a group of inbound texts failed; each is handled on its own",
                extra={"numbers": len(phones)},
                exc_info=True,
            )
        handled = 0
        for phone in phones:
            if stop and stop():
                break
            if self.process_next(phone):
                handled += 1
        return handled, [phone for phone in phones if phone in again]

    def _first_texts(
        self, session: Session, phones: set[str], now: datetime
    ) -> tuple[list[_Due], list[str]]:
        """The oldest pending text of each number, when it is due (locked on
        PostgreSQL), in arrival order; and the numbers with another pending text. Read
        as plain rows: the group marks them with one statement (bulk_update)."""
        ranked = (
            select(
                INBOUND_TEXTS.c.id,
                func.row_number()
                .over(partition_by=INBOUND_TEXTS.c.from_phone, order_by=INBOUND_TEXTS.c.id)
                .label("rank"),
            )
            .where(
                INBOUND_TEXTS.c.from_phone.in_(sorted(phones)), INBOUND_TEXTS.c.state == "pending"
            )
            .subquery()
        )
        query = (
            select(*(INBOUND_TEXTS.c[name] for name in _Due.__dataclass_fields__))
            .where(INBOUND_TEXTS.c.id.in_(select(ranked.c.id).where(ranked.c.rank <= 2)))
            .order_by(INBOUND_TEXTS.c.id)
        )
        if self.db.is_postgres:
            query = query.with_for_update()
        firsts: dict[str, _Due] = {}
        again: list[str] = []
        for row in session.execute(query):
            text = _Due(**row._asdict())
            if text.from_phone in firsts:
                again.append(text.from_phone)
            else:
                firsts[text.from_phone] = text
        due = [text for text in firsts.values() if text.next_attempt_at <= now]
        waiting = {text.from_phone for text in firsts.values() if text.next_attempt_at > now}
        # A number whose oldest text waits for its retry: so do the rest.
        return due, [phone for phone in again if phone not in waiting]

    def _due_numbers(self, limit: int) -> list[str]:
        now = self.clock.now()
        with self.db.transaction() as session:
            return list(
                session.scalars(
                    select(InboundText.from_phone)
                    .where(InboundText.state == "pending", InboundText.next_attempt_at <= now)
                    .group_by(InboundText.from_phone)
                    .order_by(func.min(InboundText.id))
                    .limit(limit)
                )
            )

    def process_next(self, phone: str) -> bool:
        """Handle `phone`'s oldest pending text if it is due and no one else holds the
        number; whether one was handled (or given up)."""
        try:
            with self.db.transaction() as session:
                if not lock_number(session, phone):
                    return False  # another worker is on this number: it goes on with it
                now = self.clock.now()
                query = (
                    select(InboundText)
                    .where(InboundText.from_phone == phone, InboundText.state == "pending")
                    .order_by(InboundText.id)
                    .limit(1)
                )
                if self.db.is_postgres:
                    query = query.with_for_update()
                text = session.scalars(query).first()
                if text is None or text.next_attempt_at > now:
                    return False  # done, or the oldest waits for its retry: so do the rest
                self._handle(session, text, now)
                return True
        except Exception as exc:
            # The transaction itself failed (a lost connection, a failed commit): nothing
            # of it is kept; count the try in a transaction of its own.
            logger.exception("inbound text handling failed outside its savepoint")
            self._count_outer_failure(phone, exc)
            return False

    # ------------------------------------------------------------------ one text
    def _handle(self, session: Session, text: InboundText, now: datetime) -> InboundResult | None:
        """Handle `text` in the caller's transaction: its effects and its `processed`
        mark commit together; a failure is rolled back and counted instead."""
        text.attempts += 1
        try:
            with session.begin_nested():
                result = self._run(session, text, now)
        except Exception as exc:
            logger.warning(
                "inbound text failed; will retry",
                extra={"inbound_id": text.id, "attempt": text.attempts},
                exc_info=True,
            )
            self._failed_try(session, text, _error_text(exc), now)
            return None
        self._processed(text, result, now)
        return result

    def _run(
        self,
        session: Session,
        text: InboundText | _Due,
        now: datetime,
        *,
        known: Known | None = None,
        creditor_id: str | None = None,
    ) -> InboundResult:
        return self.handler.handle(
            session,
            provider_sid=text.provider_sid,
            from_phone=text.from_phone,
            to_phone=text.to_phone,
            body=text.body,
            now=now,
            creditor_id=creditor_id,
            known=known,
        )

    @staticmethod
    def _processed(text: InboundText, result: InboundResult, now: datetime) -> None:
        for name, value in _processed_values(result, now).items():
            setattr(text, name, value)

    def handle_now(
        self, session: Session, incoming: IncomingText, *, creditor_id: str | None = None
    ) -> InboundResult | None:
        """Store and handle one text in the caller's transaction, waiting for its
        number's lock (the development simulator answers with what it queued). None
        when that MessageSid was stored before (then a worker handles or handled it)."""
        lock_number(session, incoming.from_phone, wait=True)
        if not store_texts(session, [incoming]):
            return None
        text = session.scalars(
            select(InboundText).where(InboundText.provider_sid == incoming.provider_sid)
        ).one()
        now = self.clock.now()
        text.attempts += 1
        result = self._run(session, text, now, creditor_id=creditor_id)
        self._processed(text, result, now)
        return result

    # ------------------------------------------------------------------ failures
    def backoff(self, attempt: int) -> timedelta:
        """base * 2^(attempt-1) up to the ceiling, jittered between half and the whole."""
        ceiling = self.settings.inbound_retry_base_seconds * (2 ** min(max(attempt - 1, 0), 30))
        ceiling = min(ceiling, self.settings.inbound_retry_max_delay_seconds)
        return timedelta(seconds=self._rng.uniform(ceiling / 2, ceiling))

    def _failed_try(self, session: Session, text: InboundText, error: str, now: datetime) -> None:
        text.last_error = error
        if text.attempts < self.settings.inbound_max_attempts:
            text.next_attempt_at = now + self.backoff(text.attempts)
            return
        text.state = "failed"
        logger.error(
            "inbound text given up: to the human queue",
            extra={"inbound_id": text.id, "attempts": text.attempts},
        )
        self._to_human_queue(session, text, error, now)

    def _to_human_queue(
        self, session: Session, text: InboundText, error: str, now: datetime
    ) -> None:
        """A person takes over: the sender's conversation is flagged with the error and
        the words are kept with its messages (each in a savepoint: what failed may fail
        again, and the text stays in the queue table with its error either way)."""
        phone = self.handler.sender_phone(text.from_phone)
        to_number = self.handler.sender_phone(text.to_phone)
        try:
            with session.begin_nested():
                debtor = find_debtor(session, phone, to_phone=to_number)
                if debtor is None:
                    return
                conversation = get_conversation(session, debtor, now)
                flag_conversation(
                    session,
                    conversation,
                    f"a text could not be handled: {error}",
                    now=now,
                    actor="worker",
                )
        except Exception:
            logger.exception("could not flag the conversation of a failed inbound text")
            return
        try:
            with session.begin_nested():
                stored = session.scalars(
                    select(Message.id).where(Message.provider_sid == text.provider_sid)
                ).first()
                if stored is None:
                    info = count_segments(text.body)
                    message = Message(
                        creditor_id=debtor.creditor_id,
                        debtor_id=debtor.id,
                        direction="inbound",
                        kind="inbound",
                        initiated=False,
                        body=text.body,
                        to_phone=text.to_phone,
                        from_phone=phone,
                        status="received",
                        provider_sid=text.provider_sid,
                        segments=info.segments,
                        encoding=info.encoding,
                        attempts=0,
                        needs_reconcile=False,
                        error_message=error,
                        created_at=now,
                        updated_at=now,
                    )
                    session.add(message)
                    session.flush()
                    text.message_id = message.id
        except Exception:
            logger.exception("could not keep the words of a failed inbound text")

    def _count_outer_failure(self, phone: str, exc: BaseException) -> None:
        try:
            with self.db.transaction() as session:
                if not lock_number(session, phone):
                    return
                now = self.clock.now()
                text = session.scalars(
                    select(InboundText)
                    .where(InboundText.from_phone == phone, InboundText.state == "pending")
                    .order_by(InboundText.id)
                    .limit(1)
                ).first()
                if text is None or text.next_attempt_at > now:
                    return
                text.attempts += 1
                self._failed_try(session, text, _error_text(exc), now)
        except Exception:
            logger.exception("could not count a failed inbound try; it is retried as it is")
