"""Several workers over one outbox on PostgreSQL: every message is sent exactly once."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import select

from app.actions.debts import import_debts as import_rows
from app.actions.debts import queue_statement
from app.clock import FixedClock
from app.config import Settings
from app.creditors.models import Creditor
from app.db import Database
from app.debts.models import Debt
from app.messaging.gateway import TwilioGateway
from app.messaging.models import Message
from app.worker import OutboxWorker
from tests.conftest import Tenant
from tests.fake_twilio import FakeTwilio
from tests.helpers import queue_statements

COUNT = 1000


def test_two_workers_send_each_of_1000_messages_once(
    postgres_only: None,
    db: Database,
    tenant: Tenant,
    clock: FixedClock,
    twilio_settings: Settings,
    fake_twilio: FakeTwilio,
) -> None:
    clock.set(datetime(2026, 11, 25, 17, 0, tzinfo=UTC))
    phones = [f"+1415555{i:04d}" for i in range(COUNT)]
    queue_statements(db, tenant.creditor_id, clock.now(), phones, "W")

    settings = twilio_settings.model_copy(update={"worker_batch_size": 25})
    workers = [OutboxWorker(db, TwilioGateway(settings), clock, settings) for _ in range(2)]
    processed = Counter[int]()
    errors: list[BaseException] = []
    start = threading.Barrier(len(workers))

    def drain(index: int) -> None:
        try:
            start.wait()
            while (sent := workers[index].run_once()) > 0:
                processed[index] += sent
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors
    assert sum(processed.values()) == COUNT
    assert all(processed[i] > 0 for i in range(len(workers))), processed

    sent_to = Counter(str(m["to"]) for m in fake_twilio.messages)
    assert len(sent_to) == COUNT and set(sent_to.values()) == {1}
    with db.transaction() as session:
        statuses = Counter(m.status for m in session.scalars(select(Message)))
        attempts = set(session.scalars(select(Message.attempts)))
    assert statuses == {"submitted": COUNT}
    assert attempts == {1}


def test_two_workers_never_spend_one_debtors_daily_cap_twice(
    postgres_only: None,
    db: Database,
    tenant: Tenant,
    clock: FixedClock,
    settings: Settings,
) -> None:
    from app.messaging.gateway import SimulatorGateway

    clock.set(datetime(2026, 11, 25, 17, 0, tzinfo=UTC))
    with db.transaction() as session:
        creditor = session.get(Creditor, tenant.creditor_id)
        assert creditor is not None
        rows = [
            {
                "external_id": f"C-{i}",
                "debtor": {"name": "P", "phone": "+14155550123"},
                "amount": 1000,
                "currency": "USD",
                "due_date": "2026-11-01",
            }
            for i in range(6)
        ]
        list(import_rows(session, creditor, rows, now=clock.now(), actor="t"))
        for debt in session.scalars(select(Debt)):
            queue_statement(session, creditor, debt, now=clock.now(), actor="t")
        # All made due now, as if an operator forced them: only one may go today.
        for message in session.scalars(select(Message)):
            message.status, message.send_after = "queued", clock.now()
    small = settings.model_copy(update={"worker_batch_size": 1})
    workers = [OutboxWorker(db, SimulatorGateway(), clock, small) for _ in range(3)]
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def tick(worker: OutboxWorker) -> None:
        try:
            barrier.wait()
            for _ in range(4):
                worker.run_once()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=tick, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors
    # Messages whose debtor was locked by another worker wait for a later tick (a tick
    # that only reschedules one returns 0, so drain on what is still queued).
    for _ in range(20):
        with db.transaction() as session:
            if not session.scalars(select(Message.id).where(Message.status == "queued")).first():
                break
        workers[0].run_once()
    with db.transaction() as session:
        statuses = Counter(m.status for m in session.scalars(select(Message)))
    assert statuses == {"delivered": 1, "scheduled": 5}
