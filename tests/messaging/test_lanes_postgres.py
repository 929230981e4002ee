"""Lanes under load on PostgreSQL, with several worker threads over one outbox: answers
and reminders overtake a statement wave, and two creditors sharing a sender never both
spend one number's daily cap (real threads, the real twilio client, the local Twilio
stand-in; its received order is the evidence, nothing waits on wall-clock timing)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.actions.debts import import_debts as import_rows
from app.clock import FixedClock
from app.config import Settings
from app.creditors.models import Creditor
from app.db import Database
from app.debts.models import Debtor
from app.messaging.gateway import TwilioGateway
from app.messaging.models import Message
from app.messaging.service import enqueue_message
from app.worker import OutboxWorker
from tests.conftest import Tenant, make_tenant
from tests.fake_twilio import FakeTwilio, Fault, RecordedRequest
from tests.helpers import queue_statements

# 09:00 in Los Angeles.
NOW = datetime(2026, 11, 25, 17, 0, tzinfo=UTC)


def creates(requests: list[RecordedRequest]) -> list[RecordedRequest]:
    return [r for r in requests if r.method == "POST" and r.path.endswith("/Messages.json")]


def run_workers(workers: list[OutboxWorker], finished: Callable[[], bool]) -> None:
    """Each worker ticks in its own thread until `finished()`."""
    errors: list[BaseException] = []
    start = threading.Barrier(len(workers))

    def loop(worker: OutboxWorker) -> None:
        try:
            start.wait()
            while not finished():
                if worker.run_once() == 0:
                    worker.wakeup.wait(0.02)  # idle poll, as run_forever does
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=loop, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors


def test_answers_and_reminders_overtake_a_statement_wave_with_three_workers(
    postgres_only: None,
    db: Database,
    tenant: Tenant,
    clock: FixedClock,
    twilio_settings: Settings,
    fake_twilio: FakeTwilio,
) -> None:
    clock.set(NOW)
    wave = [f"+1415555{i:04d}" for i in range(150)]
    queue_statements(db, tenant.creditor_id, NOW, wave, "W")
    # Debtors who will answer or get a reminder, with nothing queued yet.
    others = [f"+1415555{9000 + i}" for i in range(6)]
    with db.transaction() as session:
        creditor = session.get(Creditor, tenant.creditor_id)
        assert creditor is not None
        rows = [
            {
                "external_id": f"O-{i}",
                "debtor": {"name": f"O{i}", "phone": phone},
                "amount": 500,
                "currency": "USD",
                "due_date": "2026-11-01",
            }
            for i, phone in enumerate(others)
        ]
        outcomes = import_rows(session, creditor, rows, now=NOW, actor="t")
        assert all(o.status == "created" for o in outcomes), outcomes
    batch, workers_count = 5, 3
    settings = twilio_settings.model_copy(
        update={"worker_batch_size": batch, "send_concurrency": 2}
    )
    workers = [
        OutboxWorker(db, TwilioGateway(settings), clock, settings) for _ in range(workers_count)
    ]
    # Each create takes a moment, so the wave is still going when the others arrive.
    fake_twilio.set_create_policy(lambda _r, _n: Fault(delay=0.01))
    total = len(wave) + len(others)
    marks: dict[str, int] = {}

    def queue_the_others() -> None:
        assert fake_twilio.wait_for_requests(lambda rs: len(creates(rs)) >= 20, timeout=60)
        for index, phone in enumerate(others):
            with db.transaction() as session:
                creditor = session.get(Creditor, tenant.creditor_id)
                debtor = session.scalars(select(Debtor).where(Debtor.phone == phone)).one()
                assert creditor is not None
                if index % 2 == 0:
                    enqueue_message(
                        session,
                        creditor=creditor,
                        debtor=debtor,
                        body=f"Answer {index}",
                        kind="reply",
                        now=clock.now(),
                        actor="t",
                        initiated=False,
                        is_reply=True,
                    )
                else:
                    enqueue_message(
                        session,
                        creditor=creditor,
                        debtor=debtor,
                        body=f"Promise reminder {index}",
                        kind="promise_reminder",
                        now=clock.now(),
                        actor="t",
                    )
            # Committed: statements sent from here on were claimed before it or beside it.
            marks[phone] = len(creates(fake_twilio.requests))

    feeder_errors: list[BaseException] = []

    def feed() -> None:
        try:
            queue_the_others()
        except BaseException as exc:  # surfaced below
            feeder_errors.append(exc)

    feeder = threading.Thread(target=feed)
    feeder.start()
    run_workers(workers, lambda: bool(feeder_errors) or len(fake_twilio.messages) >= total)
    feeder.join(timeout=60)
    assert not feeder_errors, feeder_errors
    order = [r.form["To"][0] for r in creates(fake_twilio.requests)]
    assert len(order) == total and len(set(order)) == total
    statements_after = {
        phone: sum(1 for to in order[order.index(phone) :] if to in set(wave)) for phone in others
    }
    for phone in others:
        position = order.index(phone)
        behind = position - marks[phone]
        # At most what the workers held in hand or were claiming when it was queued
        # (and the answers and reminders queued after it, which may rank before it)...
        assert behind <= 2 * workers_count * batch + len(others), (phone, behind)
        # ... while most of the wave was still waiting.
        assert statements_after[phone] > len(wave) // 3, (phone, statements_after)


def test_two_creditors_sharing_a_sender_never_both_spend_one_numbers_cap(
    postgres_only: None,
    db: Database,
    clock: FixedClock,
    twilio_settings: Settings,
    fake_twilio: FakeTwilio,
) -> None:
    clock.set(NOW)
    # Both on the global sender: one daily cap (1) per number across them.
    first = make_tenant(db, clock, "First Lender", send_spread_minutes=0)
    second = make_tenant(db, clock, "Second Lender", send_spread_minutes=0)
    phones = [f"+1415555{8000 + i}" for i in range(40)]
    queue_statements(db, first.creditor_id, NOW, phones, "A")
    queue_statements(db, second.creditor_id, NOW, phones, "B")
    with db.transaction() as session:
        rows = list(session.scalars(select(Message)))
        # Both due now, each number's pair side by side in the claim order (as if
        # rescheduled by hand): concurrent claims meet on every number.
        for message in rows:
            message.status = "queued"
            message.held_reason = None
            message.send_after = NOW - timedelta(
                seconds=len(phones) - phones.index(message.to_phone)
            )
    settings = twilio_settings.model_copy(update={"worker_batch_size": 1, "send_concurrency": 1})
    workers = [OutboxWorker(db, TwilioGateway(settings), clock, settings) for _ in range(3)]

    def settled() -> bool:
        with db.transaction() as session:
            return not session.scalars(
                select(Message.id).where(
                    Message.status.in_(("queued", "sending")), Message.send_after <= NOW
                )
            ).first()

    run_workers(workers, settled)
    sent = Counter(str(m["to"]) for m in fake_twilio.messages)
    assert set(sent) == set(phones)
    assert max(sent.values()) == 1, [p for p, n in sent.items() if n > 1]
    with db.transaction() as session:
        held = list(session.scalars(select(Message).where(Message.status == "scheduled")))
    assert len(held) == len(phones) and {m.held_reason for m in held} == {"daily_cap"}
