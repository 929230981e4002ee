"""The outbox under faults, in-process (the real twilio client against the local
Twilio-compatible server): answers claimed first, an undecidable look-up parked for a
person, two rows recording one provider id at once (PostgreSQL, real threads)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from app.clock import FixedClock
from app.config import Settings
from app.db import Database
from app.main import create_app
from app.messaging.gateway import TwilioGateway
from app.messaging.models import Message, SendPriority
from app.worker import OutboxWorker
from tests.conftest import Tenant, make_tenant
from tests.fake_twilio import FakeTwilio, Fault, RecordedRequest
from tests.helpers import import_debt, send_sms

# 08:00 in Los Angeles: the window opens.
LA_OPENS = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)


@pytest.fixture
def tw_settings(twilio_settings: Settings) -> Settings:
    return twilio_settings.model_copy(update={"send_timeout_seconds": 0.3})


@pytest.fixture
def tw_client(db: Database, tw_settings: Settings, clock: FixedClock) -> Iterator[TestClient]:
    app = create_app(tw_settings, clock=clock, gateway=TwilioGateway(tw_settings), database=db)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def tw_worker(db: Database, tw_settings: Settings, clock: FixedClock) -> OutboxWorker:
    return OutboxWorker(db, TwilioGateway(tw_settings), clock, tw_settings)


def outbound(db: Database) -> list[Message]:
    with db.transaction() as session:
        return list(
            session.scalars(
                select(Message)
                .where(Message.direction == "outbound")
                .order_by(Message.created_at, Message.id)
            )
        )


def test_answers_are_claimed_before_a_wave_of_statements(
    tw_client: TestClient, tenant: Tenant, tw_worker: OutboxWorker, clock: FixedClock, db: Database
) -> None:
    debts = [
        import_debt(tw_client, tenant, external_id=f"W-{i}", debtor_phone=f"+1415555{i:04d}")
        for i in range(12)
    ]
    clock.set(LA_OPENS)
    for debt_id in debts:
        response = tw_client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
        assert response.status_code == 202
    clock.advance(timedelta(seconds=5))
    send_sms(tw_client, "+14155550007", "PAY")  # queued last, due last
    rows = outbound(db)
    answer = next(r for r in rows if r.is_reply)
    assert answer.priority == SendPriority.ANSWER
    assert {r.priority for r in rows if r.kind == "statement"} == {SendPriority.BULK}
    assert max(r.send_after for r in rows if r.send_after) == answer.send_after
    [first, *_] = tw_worker.claim(limit=3)
    assert first.sms.message_id == answer.id


def test_a_look_up_that_cannot_decide_parks_both_messages_for_a_person(
    tw_client: TestClient,
    tenant: Tenant,
    tw_worker: OutboxWorker,
    clock: FixedClock,
    db: Database,
    fake_twilio: FakeTwilio,
) -> None:
    phone = "+14155550123"
    debt_id = import_debt(tw_client, tenant, debtor_phone=phone)
    clock.set(LA_OPENS)

    def policy(_request: RecordedRequest, nth: int) -> Fault | None:
        if nth == 0:
            return Fault.kept_timeout(2.0)  # the first went, its answer lost
        if nth == 1:
            return Fault(delay=2.0, status=500)  # the second did not, nobody can tell
        return None

    fake_twilio.set_create_policy(policy)
    send_sms(tw_client, phone, "HELP")
    tw_worker.run_once()
    send_sms(tw_client, phone, "HELP")
    tw_worker.run_once()
    first, second = outbound(db)
    assert first.body == second.body
    assert first.needs_reconcile and second.needs_reconcile
    assert len(fake_twilio.messages) == 1
    # The look-ups wait for callbacks and the other's outcome...
    clock.advance(timedelta(minutes=1))
    tw_worker.run_once()
    assert {r.status for r in outbound(db)} == {"queued"}
    # ... then give the decision to a person, saying why.
    clock.advance(timedelta(minutes=20))
    for _ in range(3):
        tw_worker.run_once()
        clock.advance(timedelta(minutes=1))
    rows = outbound(db)
    assert {r.status for r in rows} == {"needs_review"}
    for row in rows:
        assert row.error_message is not None and "cannot be told" in row.error_message
    listed = tw_client.get(f"/api/v1/debts/{debt_id}/messages", headers=tenant.headers).json()
    parked = [m for m in listed["items"] if m["status"] == "needs_review"]
    assert len(parked) == 2 and all("1 unrecorded copies" in m["error_message"] for m in parked)
    clock.advance(timedelta(hours=2))
    assert tw_worker.run_once() == 0
    assert len(fake_twilio.messages) == 1  # nothing guessed, nothing resent

    # A person checks the Twilio console: the first went, the second did not.
    first, second = rows
    url = "/api/v1/messages/{}/review"
    bad = tw_client.post(url.format(first.id), json={"outcome": "maybe"}, headers=tenant.headers)
    assert bad.status_code == 422 and "outcome" in bad.text
    done = tw_client.post(url.format(first.id), json={"outcome": "sent"}, headers=tenant.headers)
    assert done.status_code == 200 and done.json()["status"] == "submitted"
    again = tw_client.post(url.format(first.id), json={"outcome": "sent"}, headers=tenant.headers)
    assert again.status_code == 409
    resend = tw_client.post(
        url.format(second.id), json={"outcome": "resend"}, headers=tenant.headers
    )
    assert resend.status_code == 200 and resend.json()["status"] == "queued"
    other = make_tenant(db, clock, "Other Co")
    hidden = tw_client.post(
        url.format(second.id), json={"outcome": "cancel"}, headers=other.headers
    )
    assert hidden.status_code == 404
    assert tw_worker.run_once() == 1
    assert len(fake_twilio.messages) == 2
    assert {r.status for r in outbound(db)} == {"submitted"}


def test_a_status_callback_settles_a_parked_message(
    tw_client: TestClient,
    tenant: Tenant,
    tw_worker: OutboxWorker,
    clock: FixedClock,
    db: Database,
    fake_twilio: FakeTwilio,
) -> None:
    from tests.conftest import AUTH_TOKEN, PUBLIC_URL
    from tests.fake_twilio import status_callback_params, twilio_signature

    phone = "+14155550123"
    import_debt(tw_client, tenant, debtor_phone=phone)
    clock.set(LA_OPENS)
    fake_twilio.set_create_policy(lambda _r, nth: Fault.kept_timeout(2.0) if nth == 0 else None)
    send_sms(tw_client, phone, "HELP")
    tw_worker.run_once()
    [row] = outbound(db)
    with db.transaction() as session:
        message = session.get(Message, row.id)
        assert message is not None
        message.status = "needs_review"  # as a person found it
    [copy] = fake_twilio.messages
    url = f"{PUBLIC_URL}/webhooks/twilio/status?mid={row.id}"
    params = status_callback_params(str(copy["sid"]), "delivered", to=phone)
    response = tw_client.post(
        f"/webhooks/twilio/status?mid={row.id}",
        data=params,
        headers={"X-Twilio-Signature": twilio_signature(AUTH_TOKEN, url, params)},
    )
    assert response.status_code == 204
    [row] = outbound(db)
    assert row.status == "delivered" and row.provider_sid == copy["sid"]
    assert not row.needs_reconcile


def _waiting_on_a_lock(db: Database) -> bool:
    with db.engine.connect() as connection:
        waiting = connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return bool(waiting)


def test_two_rows_recording_one_provider_id_at_once_are_retried_not_left_sending(
    postgres_only: None,
    tw_client: TestClient,
    tenant: Tenant,
    tw_worker: OutboxWorker,
    clock: FixedClock,
    db: Database,
    fake_twilio: FakeTwilio,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first_phone, second_phone = "+14155550123", "+14155550124"
    import_debt(tw_client, tenant, external_id="A", debtor_phone=first_phone)
    import_debt(tw_client, tenant, external_id="B", debtor_phone=second_phone)
    clock.set(LA_OPENS)
    shared = "SM" + "d" * 32
    # The provider answers the first row's send with an id another row is recording.
    fake_twilio.set_create_policy(lambda _r, _nth: Fault(sid=shared))
    send_sms(tw_client, second_phone, "HELP")
    send_sms(tw_client, first_phone, "HELP")
    other = next(r for r in outbound(db) if r.to_phone == second_phone)
    with db.engine.connect() as connection:
        transaction = connection.begin()
        connection.execute(
            text("UPDATE messages SET provider_sid = :sid, status = 'submitted' WHERE id = :id"),
            {"sid": shared, "id": other.id},
        )
        [item] = [c for c in tw_worker.claim() if c.sms.to == first_phone]
        errors: list[BaseException] = []

        def deliver() -> None:
            try:
                tw_worker.deliver(item)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        thread = threading.Thread(target=deliver)
        thread.start()
        pause = threading.Event()
        for _ in range(200):  # until the recording waits on the unique index
            if _waiting_on_a_lock(db):
                break
            pause.wait(0.05)
        else:
            raise AssertionError("the recording never reached the unique index")
        transaction.commit()
        thread.join(timeout=30)
    assert not errors and not thread.is_alive()
    row = next(r for r in outbound(db) if r.to_phone == first_phone)
    assert row.status == "submitted" and row.lease_expires_at is None
    assert row.provider_sid is None  # the id is the other row's; nothing sent twice
    assert "provider id recorded twice at once" in caplog.text
    creates = [r for r in fake_twilio.requests if r.method == "POST"]
    assert [r.form["To"] for r in creates] == [[first_phone]]
