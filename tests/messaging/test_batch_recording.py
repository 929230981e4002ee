"""A batch's successful sends are recorded together (OutboxWorker._record_successes):
groups of RECORD_EVERY in one transaction each while the rest still goes out, not one
transaction per message."""

from __future__ import annotations

import itertools
import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
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
from tests.processes import wait_until

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
    # One tick: the lease release, the claim and the next batch's claim (made while the
    # first goes out: nothing left), then the results in groups of at least RECORD_EVERY
    # (16) but the last: at most six commits for 40 sends (one per send before, 42 in
    # all).
    assert 4 <= len(commits) <= 6
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


def outbound(db: Database) -> list[Message]:
    with db.transaction() as session:
        return list(session.scalars(select(Message).where(Message.direction == "outbound")))


def two_at_a_time(
    db: Database,
    tenant: Tenant,
    clock: FixedClock,
    settings: Settings,
    phones: list[str],
    tag: str,
) -> tuple[TwilioGateway, OutboxWorker]:
    """Statements queued to `phones` at midday, and a worker claiming two a tick."""
    clock.set(LA_MIDDAY)
    queue_statements(db, tenant.creditor_id, clock.now(), phones, tag)
    settings = settings.model_copy(update={"worker_batch_size": 2})
    gateway = TwilioGateway(settings)
    return gateway, OutboxWorker(db, gateway, clock, settings)


def test_the_next_batch_is_claimed_while_one_goes_out_and_a_stop_hands_it_back(
    db: Database,
    tenant: Tenant,
    clock: FixedClock,
    twilio_settings: Settings,
    fake_twilio: FakeTwilio,
) -> None:
    phones = [f"+1415555{3200 + i:04d}" for i in range(5)]
    gateway, worker = two_at_a_time(db, tenant, clock, twilio_settings, phones, "N")
    try:
        assert worker.run_once() == 2
        # Two went to the provider; the next two are claimed, not yet sent.
        assert len(fake_twilio.messages) == 2
        with db.transaction() as session:
            statuses = sorted(m.status for m in session.scalars(select(Message)))
        assert statuses == ["queued", "sending", "sending", "submitted", "submitted"]
        # A graceful stop now gives them back as never sent: no look-up needed.
        assert worker.release_held() == 2
        with db.transaction() as session:
            back = [m for m in session.scalars(select(Message)) if m.status == "queued"]
        assert len(back) == 3
        assert not any(m.needs_reconcile for m in back)
        # The handed-back claims are not sent by a later tick: it claims afresh.
        assert [worker.run_once() for _ in range(4)] == [2, 1, 0, 0]
    finally:
        gateway.close()
    assert sorted(m["to"] for m in fake_twilio.messages) == phones


def test_a_claim_made_ahead_that_another_worker_took_over_is_not_sent(
    db: Database,
    tenant: Tenant,
    clock: FixedClock,
    twilio_settings: Settings,
    fake_twilio: FakeTwilio,
) -> None:
    phones = [f"+1415555{3300 + i:04d}" for i in range(4)]
    gateway, worker = two_at_a_time(db, tenant, clock, twilio_settings, phones, "T")
    try:
        assert worker.run_once() == 2
        with db.transaction() as session:
            ahead = list(session.scalars(select(Message).where(Message.status == "sending")))
            assert len(ahead) == 2
            # The next tick comes late: the leases no longer outlast a batch's sends, so
            # they are renewed first; one of them is no longer this worker's (claimed
            # again elsewhere: its attempt moved on).
            taken = ahead[0]
            taken.attempts += 1
            taken_phone = taken.to_phone
        settings = worker.settings
        late = settings.worker_lease_seconds - settings.batch_send_limit_seconds + 1
        clock.set(LA_MIDDAY + timedelta(seconds=late))
        assert worker.run_once() == 1
        assert worker.release_held() == 0
    finally:
        gateway.close()
    assert len(fake_twilio.messages) == 3
    assert taken_phone not in {m["to"] for m in fake_twilio.messages}
    with db.transaction() as session:
        row = session.scalars(select(Message).where(Message.to_phone == taken_phone)).one()
    assert row.status == "sending"  # the other worker's claim, untouched


def test_a_batch_claimed_ahead_goes_to_another_worker_while_this_one_waits_for_the_provider(
    db: Database,
    tenant: Tenant,
    clock: FixedClock,
    twilio_settings: Settings,
    fake_twilio: FakeTwilio,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A send of the batch going out hangs: after a poll interval with no answer the
    batch claimed meanwhile is handed back, its attempt not spent, and an idle worker
    sends it while the first still waits; nothing goes twice."""
    phones = [f"+1415555{3500 + i:04d}" for i in range(4)]
    settings = twilio_settings.model_copy(
        update={"worker_poll_seconds": 0.2, "send_timeout_seconds": 30.0}
    )
    creates = itertools.count()  # the policy's nth counts per number: this counts all
    fake_twilio.set_create_policy(lambda _r, _nth: Fault(hang=True) if next(creates) == 0 else None)
    gateway, slow = two_at_a_time(db, tenant, clock, settings, phones, "H")
    other_gateway = TwilioGateway(slow.settings)
    other = OutboxWorker(db, other_gateway, clock, slow.settings)
    ticked: list[int] = []
    tick = threading.Thread(target=lambda: ticked.append(slow.run_once()))
    try:
        caplog.set_level(logging.INFO, logger="parley.worker")
        tick.start()
        assert fake_twilio.wait_for_hung(1, timeout=30)
        # Waited for by its log line: the rows alone look the same before the claim ahead.
        wait_until(
            lambda: any(r.message == "claimed-ahead batch handed back" for r in caplog.records),
            30,
            "the batch claimed ahead to be handed back",
        )
        back = [m for m in outbound(db) if m.status == "queued"]
        assert len(back) == 2 and all(m.attempts == 0 and m.sent_at is None for m in back)
        assert other.run_once() == 2
        assert tick.is_alive()  # the first batch still waits for its hung send
        assert len(fake_twilio.messages) == 3
        fake_twilio.release_hung()
        tick.join(timeout=30)
        assert ticked == [2]
        assert slow.run_once() == 0 and other.run_once() == 0
    finally:
        fake_twilio.release_hung()
        tick.join(timeout=30)
        gateway.close()
        other_gateway.close()
    assert sorted(m["to"] for m in fake_twilio.messages) == phones
    rows = outbound(db)
    assert {m.status for m in rows} == {"submitted"}
    assert sorted(m.attempts for m in rows) == [1, 1, 1, 1]


def test_a_batch_claimed_ahead_waits_when_the_provider_went_down_meanwhile(
    db: Database,
    tenant: Tenant,
    clock: FixedClock,
    twilio_settings: Settings,
    fake_twilio: FakeTwilio,
) -> None:
    """The batch going out fails with 503s and opens the breaker; the batch claimed
    while it went out is handed back to wait for the breaker, never sent, no look-up
    needed (the provider was not asked)."""
    phones = [f"+1415555{3400 + i:04d}" for i in range(4)]
    settings = twilio_settings.model_copy(update={"breaker_failures": 2})
    gateway, worker = two_at_a_time(db, tenant, clock, settings, phones, "P")
    fake_twilio.fail_next(2, status=503)
    try:
        assert worker.run_once() == 2
        assert worker.breaker.is_paused()
        until = worker.breaker.open_until
        assert worker.run_once() == 2  # the claimed-ahead batch, held back
        assert worker.release_held() == 0
    finally:
        gateway.close()
    creates = [r for r in fake_twilio.requests if r.method == "POST"]
    assert len(creates) == 2
    assert fake_twilio.messages == []
    with db.transaction() as session:
        rows = list(session.scalars(select(Message).where(Message.direction == "outbound")))
    assert len(rows) == 4
    assert {m.status for m in rows} == {"queued"}
    held = [m for m in rows if m.send_after == until]
    assert len(held) == 2
    assert not any(m.needs_reconcile for m in held)
    assert {m.to_phone for m in held}.isdisjoint(r.form["To"][0] for r in creates)


def test_an_answer_that_comes_after_the_claim_was_taken_over_is_recorded_and_said(
    db: Database,
    tenant: Tenant,
    clock: FixedClock,
    twilio_settings: Settings,
    fake_twilio: FakeTwilio,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The provider keeps a message but answers only after another worker claimed it
    again (its attempt moved on): the row is not as this claim left it, so the answer is
    recorded the careful way: the provider id kept (it is this message's copy), and the
    outlived lease said in the log."""
    phone = "+14155553500"
    gateway, worker = two_at_a_time(db, tenant, clock, twilio_settings, [phone], "L")
    fake_twilio.set_create_policy(lambda _r, _nth: Fault(hang=True, keep=True))
    errors: list[BaseException] = []

    def tick() -> None:
        try:
            worker.run_once()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=tick)
    thread.start()
    try:
        assert fake_twilio.wait_for_hung(1, timeout=10)
        with db.transaction() as session:
            row = session.scalars(select(Message).where(Message.to_phone == phone)).one()
            assert row.status == "sending"
            row.attempts += 1  # claimed again elsewhere
        fake_twilio.release_hung()
        thread.join(timeout=30)
    finally:
        fake_twilio.release_hung()
        gateway.close()
    assert not errors and not thread.is_alive()
    [created] = fake_twilio.messages
    with db.transaction() as session:
        row = session.scalars(select(Message).where(Message.to_phone == phone)).one()
    assert row.provider_sid == created["sid"]
    assert row.status == "submitted"
    assert "a send outlived its lease and was claimed again" in caplog.text
