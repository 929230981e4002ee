"""A batch's successful sends are recorded together (OutboxWorker._record_successes):
groups of RECORD_EVERY in one transaction each while the rest still goes out, not one
transaction per message."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, select

from app.clock import FixedClock
from app.config import Settings
from app.db import Database
from app.messaging.gateway import TwilioGateway
from app.messaging.models import Message
from app.worker import OutboxWorker
from tests.conftest import Tenant
from tests.fake_twilio import FakeTwilio, Fault
from tests.helpers import queue_statements

COUNT = 40
LA_MIDDAY = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)


def test_a_batch_of_sends_is_recorded_in_a_few_transactions(
    db: Database,
    tenant: Tenant,
    clock: FixedClock,
    twilio_settings: Settings,
    fake_twilio: FakeTwilio,
) -> None:
    clock.set(LA_MIDDAY)
    queue_statements(
        db, tenant.creditor_id, clock.now(), [f"+1415555{3000 + i:04d}" for i in range(COUNT)], "B"
    )
    settings = twilio_settings.model_copy(update={"worker_batch_size": COUNT})
    gateway = TwilioGateway(settings)
    worker = OutboxWorker(db, gateway, clock, settings)
    commits: list[int] = []

    def committed(_conn: Any) -> None:
        commits.append(1)

    event.listen(db.engine, "commit", committed)
    try:
        assert worker.run_once() == COUNT
    finally:
        event.remove(db.engine, "commit", committed)
        gateway.close()
    # One tick: the lease release and the claim, then the results in groups of at least
    # RECORD_EVERY (16) but the last: at most five commits for 40 sends (one per send
    # before, 42 in all).
    assert 3 <= len(commits) <= 5
    with db.transaction() as session:
        rows = list(session.scalars(select(Message).where(Message.direction == "outbound")))
    assert len(rows) == COUNT
    assert {m.status for m in rows} == {"submitted"}
    assert all(m.lease_expires_at is None for m in rows)
    by_sid = {m["sid"]: m["to"] for m in fake_twilio.messages}
    assert {m.provider_sid: m.to_phone for m in rows} == by_sid
    # Nothing is left held: a graceful stop would have nothing to hand back.
    assert worker.release_held() == 0


def test_two_sends_of_a_batch_answered_with_one_provider_id_are_both_recorded(
    db: Database,
    tenant: Tenant,
    clock: FixedClock,
    twilio_settings: Settings,
    fake_twilio: FakeTwilio,
) -> None:
    """The group's commit hits the unique provider id; its sends are then recorded one
    by one: the first keeps the id, the second is submitted without it (and said in the
    log), none is left sending or held."""
    clock.set(LA_MIDDAY)
    queue_statements(db, tenant.creditor_id, clock.now(), ["+14155553100", "+14155553101"], "D")
    shared = "SM" + "e" * 32
    fake_twilio.set_create_policy(lambda _r, _nth: Fault(sid=shared))
    gateway = TwilioGateway(twilio_settings)
    worker = OutboxWorker(db, gateway, clock, twilio_settings)
    try:
        assert worker.run_once() == 2
    finally:
        gateway.close()
    with db.transaction() as session:
        rows = list(session.scalars(select(Message).where(Message.direction == "outbound")))
    assert {m.status for m in rows} == {"submitted"}
    assert sorted(m.provider_sid or "" for m in rows) == ["", shared]
    assert all(m.lease_expires_at is None for m in rows)
    assert worker.release_held() == 0
