"""A batch's successful sends are recorded together (OutboxWorker._record_successes):
groups of RECORD_EVERY in one transaction each while the rest still goes out, not one
transaction per message; a provider id another row already holds is still refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, select

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

COUNT = 40
LA_MIDDAY = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)


def queue_statements(db: Database, tenant: Tenant, clock: FixedClock, count: int) -> None:
    with db.transaction() as session:
        creditor = session.get(Creditor, tenant.creditor_id)
        assert creditor is not None
        rows = [
            {
                "external_id": f"B-{i}",
                "debtor": {"name": f"P{i}", "phone": f"+1415555{3000 + i:04d}"},
                "amount": 1000 + i,
                "currency": "USD",
                "due_date": "2026-11-01",
            }
            for i in range(count)
        ]
        outcomes = list(import_rows(session, creditor, rows, now=clock.now(), actor="t"))
        assert all(o.status == "created" for o in outcomes)
        for debt in session.scalars(select(Debt).where(Debt.creditor_id == creditor.id)):
            queue_statement(session, creditor, debt, now=clock.now(), actor="t")


def test_a_batch_of_sends_is_recorded_in_a_few_transactions(
    db: Database,
    tenant: Tenant,
    clock: FixedClock,
    twilio_settings: Settings,
    fake_twilio: FakeTwilio,
) -> None:
    clock.set(LA_MIDDAY)
    queue_statements(db, tenant, clock, COUNT)
    settings = twilio_settings.model_copy(update={"worker_batch_size": COUNT})
    gateway = TwilioGateway(settings)
    worker = OutboxWorker(db, gateway, clock, settings)
    batch = worker.claim()
    assert len(batch) == COUNT
    commits: list[int] = []

    def committed(_conn: Any) -> None:
        commits.append(1)

    event.listen(db.engine, "commit", committed)
    try:
        worker._send_batch(batch)
    finally:
        event.remove(db.engine, "commit", committed)
        gateway.close()
    # Groups of at least RECORD_EVERY (16) but the last: 40 sends, at most three
    # commits (one per send before: 40).
    assert 1 <= len(commits) <= 3
    with db.transaction() as session:
        rows = list(session.scalars(select(Message).where(Message.direction == "outbound")))
    assert len(rows) == COUNT
    assert {m.status for m in rows} == {"submitted"}
    assert all(m.lease_expires_at is None for m in rows)
    by_sid = {m["sid"]: m["to"] for m in fake_twilio.messages}
    assert {m.provider_sid: m.to_phone for m in rows} == by_sid
    # Nothing is left held: a graceful stop would have nothing to hand back.
    assert worker.release_held() == 0
