"""Statements through the outbox, the worker and the real twilio client against a local
Twilio-compatible server: windows, the daily cap, retries, permanent errors, crashes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.clock import FixedClock
from app.config import Settings
from app.db import Database
from app.debts.models import Debtor
from app.main import create_app
from app.messaging.gateway import TwilioGateway
from app.messaging.models import Message
from app.segments import count_segments
from app.worker import OutboxWorker
from tests.conftest import PUBLIC_URL, Tenant, make_tenant
from tests.fake_twilio import FakeTwilio
from tests.helpers import import_debt, send_sms

# T0 is 07:00 in Los Angeles: before the window.
LA_OPENS = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)


@pytest.fixture
def tenant(db: Database, clock: FixedClock) -> Tenant:
    # About the window and the cap, not pacing: held texts go at the window's opening.
    return make_tenant(
        db, clock, "Acme Finance", contact_phone="+14155550100", send_spread_minutes=0
    )


@pytest.fixture
def tw_client(
    db: Database, twilio_settings: Settings, clock: FixedClock, twilio_gateway: TwilioGateway
) -> Any:
    app = create_app(twilio_settings, clock=clock, gateway=twilio_gateway, database=db)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def tw_worker(
    db: Database, twilio_gateway: TwilioGateway, clock: FixedClock, twilio_settings: Settings
) -> OutboxWorker:
    return OutboxWorker(db, twilio_gateway, clock, twilio_settings)


def messages(db: Database) -> list[Message]:
    with db.transaction() as session:
        return list(session.scalars(select(Message).order_by(Message.created_at, Message.id)))


def queue(client: TestClient, tenant: Tenant, debt_id: str) -> dict[str, Any]:
    response = client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
    assert response.status_code == 202, response.text
    message: dict[str, Any] = response.json()["message"]
    return message


def test_statement_waits_for_the_window_then_goes_through_twilio(
    tw_client: TestClient,
    tenant: Tenant,
    tw_worker: OutboxWorker,
    clock: FixedClock,
    fake_twilio: FakeTwilio,
    db: Database,
) -> None:
    debt_id = import_debt(tw_client, tenant)
    queued = queue(tw_client, tenant, debt_id)
    assert queued["status"] == "scheduled"
    assert queued["send_after"].startswith("2026-11-25T16:00:00")
    assert tw_worker.run_once() == 0
    assert fake_twilio.messages == []

    clock.set(LA_OPENS)
    assert tw_worker.run_once() == 1
    [sent] = fake_twilio.messages
    assert sent["to"] == "+14155550123"
    assert sent["from"] == "+15005550006"
    [request] = [r for r in fake_twilio.requests if r.method == "POST"]
    assert request.form["StatusCallback"] == [
        f"{PUBLIC_URL}/webhooks/twilio/status?mid={queued['id']}"
    ]
    [message] = messages(db)
    assert message.status == "submitted"
    assert message.provider_sid == sent["sid"]
    assert message.attempts == 1
    listed = tw_client.get(f"/api/v1/debts/{debt_id}/messages", headers=tenant.headers).json()
    assert [(m["direction"], m["status"]) for m in listed["items"]] == [("outbound", "submitted")]
    assert listed["items"][0]["body"] == sent["body"]


@pytest.mark.parametrize("collector", [False, True])
def test_statement_text_in_three_languages_fits_two_segments(
    client: TestClient, db: Database, clock: FixedClock, collector: bool
) -> None:
    tenant = make_tenant(
        db,
        clock,
        "Companhia de Cobrança e Recuperação de Créditos do Brasil Ltda",
        collector_disclosure=collector,
    )
    expectations = {
        "en": ["$1,234,567.89", "days ago", "Reply PAY", "STOP"],
        # A Spanish speaker on a US number reads money the US way (es-US).
        "es": ["1,234,567.89", "hace", "PAGAR", "BAJA"],
        "pt-BR": ["1.234.567,89", "venceu", "PAGAR", "SAIR"],
    }
    disclosure = {
        "en": "This is a debt collector.",
        "es": "Le escribe una agencia de cobranza.",
        "pt-BR": "Mensagem de empresa de cobranca.",
    }
    if collector:
        for language, needles in expectations.items():
            needles.append(disclosure[language])
    for i, (language, needles) in enumerate(expectations.items()):
        debt_id = import_debt(
            client,
            tenant,
            external_id=f"L-{i}",
            amount=123456789,
            currency="USD" if language == "en" else "BRL",
            debtor_phone=f"+1415555012{i}",
            debtor_language=language,
        )
        body = queue(client, tenant, debt_id)
        text = body["body"]
        for needle in needles:
            assert needle in text, (language, text)
        assert (disclosure[language] in text) is collector
        info = count_segments(text)
        assert info.encoding == "GSM-7" and info.segments <= 2, (language, text, info)
        assert body["segments"] == info.segments and body["encoding"] == "GSM-7"
        clock.advance(timedelta(days=1))


def test_due_soon_and_due_today_wording(client: TestClient, tenant: Tenant) -> None:
    future = import_debt(client, tenant, external_id="F", due_date="2026-12-05")
    assert "is due Dec 5, 2026" in queue(client, tenant, future)["body"]
    today = import_debt(
        client, tenant, external_id="T", due_date="2026-11-25", debtor_phone="+14155550111"
    )
    assert "is due today" in queue(client, tenant, today)["body"]


def test_one_initiated_message_per_local_day(
    client: TestClient, tenant: Tenant, worker: OutboxWorker, clock: FixedClock, db: Database
) -> None:
    debt_id = import_debt(client, tenant)
    first = queue(client, tenant, debt_id)
    second = queue(client, tenant, debt_id)
    assert first["send_after"].startswith("2026-11-25T16:00")
    assert second["send_after"].startswith("2026-11-26T16:00")
    clock.set(LA_OPENS)
    worker.run_once()
    # A statement queued later that day also waits for tomorrow's window.
    clock.advance(timedelta(hours=3))
    third = queue(client, tenant, debt_id)
    assert third["send_after"] >= "2026-11-26T16:00"
    assert worker.run_once() == 0
    ordered = sorted(messages(db), key=lambda m: (m.send_after or LA_OPENS, m.created_at))
    assert [m.status for m in ordered] == ["delivered", "scheduled", "scheduled"]


def test_cap_is_rechecked_when_sending(
    client: TestClient, tenant: Tenant, worker: OutboxWorker, clock: FixedClock, db: Database
) -> None:
    debt_id = import_debt(client, tenant)
    queue(client, tenant, debt_id)
    clock.set(LA_OPENS)
    queue(client, tenant, debt_id)
    with db.transaction() as session:
        # Both made due now, as if rescheduled by hand: only one may go today.
        for message in session.scalars(select(Message)):
            message.send_after = LA_OPENS
            message.status = "queued"
    assert worker.run_once() == 1
    assert sorted(m.status for m in messages(db)) == ["delivered", "scheduled"]
    later = next(m for m in messages(db) if m.status == "scheduled")
    assert later.send_after == datetime(2026, 11, 26, 16, 0, tzinfo=UTC)


def test_opted_out_debtor_gets_no_statement(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    debt_id = import_debt(client, tenant)
    with db.transaction() as session:
        session.scalars(select(Debtor)).one().contact_status = "opted_out"
    response = client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
    assert response.status_code == 409
    assert "opted_out" in response.json()["error"]["message"]
    assert messages(db) == []


# A 429 pauses the sender's lane instead (tests/messaging/test_lanes.py).
@pytest.mark.parametrize("failure", [{"status": 500}, {"status": 503}])
def test_transient_errors_retry_with_backoff(
    tw_client: TestClient,
    tenant: Tenant,
    tw_worker: OutboxWorker,
    clock: FixedClock,
    fake_twilio: FakeTwilio,
    db: Database,
    failure: dict[str, int],
) -> None:
    debt_id = import_debt(tw_client, tenant)
    queue(tw_client, tenant, debt_id)
    clock.set(LA_OPENS)
    fake_twilio.fail_next(2, **failure)
    tw_worker.run_once()
    [message] = messages(db)
    assert message.status == "queued" and message.attempts == 1
    assert message.error_code == failure.get("code", failure["status"])
    assert message.send_after is not None
    delay = message.send_after - LA_OPENS
    assert timedelta(seconds=15) <= delay <= timedelta(seconds=30)
    clock.set(message.send_after)
    tw_worker.run_once()
    [message] = messages(db)
    second_delay = message.send_after - clock.now() if message.send_after else timedelta(0)
    assert message.attempts == 2 and timedelta(seconds=30) <= second_delay <= timedelta(seconds=60)
    clock.set(message.send_after or clock.now())
    tw_worker.run_once()
    [message] = messages(db)
    assert message.status == "submitted" and message.attempts == 3
    assert len(fake_twilio.messages) == 1


def test_retries_of_one_messages_error_stop_after_the_last_attempt(
    db: Database,
    twilio_gateway: TwilioGateway,
    clock: FixedClock,
    twilio_settings: Settings,
    tw_client: TestClient,
    tenant: Tenant,
    fake_twilio: FakeTwilio,
) -> None:
    worker = OutboxWorker(
        db, twilio_gateway, clock, twilio_settings.model_copy(update={"max_send_attempts": 2})
    )
    queue(tw_client, tenant, import_debt(tw_client, tenant))
    clock.set(LA_OPENS)
    # 30003: the handset is unreachable; that is about this message, not the provider.
    fake_twilio.fail_next(5, status=400, code=30003)
    worker.run_once()
    clock.advance(timedelta(minutes=5))
    worker.run_once()
    [message] = messages(db)
    assert message.status == "failed" and message.attempts == 2
    clock.advance(timedelta(hours=1))
    assert worker.run_once() == 0


def test_provider_errors_retry_until_the_retry_window_ends_then_expire_with_why(
    db: Database,
    twilio_gateway: TwilioGateway,
    clock: FixedClock,
    twilio_settings: Settings,
    tw_client: TestClient,
    tenant: Tenant,
    fake_twilio: FakeTwilio,
) -> None:
    settings = twilio_settings.model_copy(
        update={"max_send_attempts": 2, "retry_window_seconds": 3600.0, "breaker_failures": 100}
    )
    worker = OutboxWorker(db, twilio_gateway, clock, settings)
    queue(tw_client, tenant, import_debt(tw_client, tenant))
    clock.set(LA_OPENS)
    fake_twilio.fail_next(1000, status=500)
    worker.run_once()
    for _ in range(30):  # far more attempts than max_send_attempts
        [message] = messages(db)
        if message.status != "queued":
            break
        assert message.send_after is not None
        assert message.retry_until == LA_OPENS + timedelta(hours=1)
        assert message.send_after <= message.retry_until
        clock.set(message.send_after)
        worker.run_once()
    [message] = messages(db)
    assert message.attempts > 2
    assert message.status == "expired"
    assert message.error_message is not None
    assert "retry deadline" in message.error_message and "Internal Server Error" in (
        message.error_message
    )
    assert fake_twilio.messages == []


@pytest.mark.parametrize(
    ("code", "contact_status"), [(21610, "opted_out"), (21211, "invalid"), (21614, "invalid")]
)
def test_permanent_errors_are_not_retried_and_mark_the_number(
    tw_client: TestClient,
    tenant: Tenant,
    tw_worker: OutboxWorker,
    clock: FixedClock,
    fake_twilio: FakeTwilio,
    db: Database,
    code: int,
    contact_status: str,
) -> None:
    debt_id = import_debt(tw_client, tenant)
    queue(tw_client, tenant, debt_id)
    queue(tw_client, tenant, debt_id)  # tomorrow's: canceled with the number
    clock.set(LA_OPENS)
    fake_twilio.fail_next(1, status=400, code=code)
    tw_worker.run_once()
    first, second = sorted(messages(db), key=lambda m: m.send_after or LA_OPENS)
    assert first.status == "failed" and first.error_code == code and first.attempts == 1
    assert second.status == "canceled"
    debt = tw_client.get(f"/api/v1/debts/{debt_id}", headers=tenant.headers).json()
    assert debt["debtor"]["contact_status"] == contact_status
    clock.advance(timedelta(days=2))
    assert tw_worker.run_once() == 0
    assert fake_twilio.messages == []


def test_other_client_errors_fail_without_retry(
    tw_client: TestClient,
    tenant: Tenant,
    tw_worker: OutboxWorker,
    clock: FixedClock,
    fake_twilio: FakeTwilio,
    db: Database,
) -> None:
    queue(tw_client, tenant, import_debt(tw_client, tenant))
    clock.set(LA_OPENS)
    fake_twilio.fail_next(1, status=400, code=21602)
    tw_worker.run_once()
    [message] = messages(db)
    assert message.status == "failed" and message.error_code == 21602
    debt = tw_client.get("/api/v1/debts", headers=tenant.headers).json()["items"][0]
    assert debt["debtor"]["contact_status"] == "active"


def test_timeout_then_lookup_never_sends_twice(
    db: Database,
    clock: FixedClock,
    twilio_settings: Settings,
    tw_client: TestClient,
    tenant: Tenant,
    fake_twilio: FakeTwilio,
) -> None:
    settings = twilio_settings.model_copy(update={"send_timeout_seconds": 0.3})
    worker = OutboxWorker(db, TwilioGateway(settings), clock, settings)
    queue(tw_client, tenant, import_debt(tw_client, tenant))
    clock.set(LA_OPENS)
    fake_twilio.delay_next(1, 1.0)  # Twilio creates it, but answers too late
    worker.run_once()
    [message] = messages(db)
    assert message.status == "queued" and message.needs_reconcile
    # The server finishes creating it once its delay ends: wait for that event.
    assert fake_twilio.wait_for_messages(1, timeout=5)
    clock.set(message.send_after or clock.now())
    worker.run_once()
    [message] = messages(db)
    assert len(fake_twilio.messages) == 1
    assert message.status == "submitted"
    assert message.provider_sid == fake_twilio.messages[0]["sid"]


def test_worker_killed_before_sending_loses_nothing(
    tw_client: TestClient,
    tenant: Tenant,
    tw_worker: OutboxWorker,
    clock: FixedClock,
    fake_twilio: FakeTwilio,
    db: Database,
) -> None:
    queue(tw_client, tenant, import_debt(tw_client, tenant))
    clock.set(LA_OPENS)
    claimed = tw_worker.claim()  # ... and the process dies here
    assert len(claimed) == 1 and messages(db)[0].status == "sending"
    assert tw_worker.run_once() == 0  # the lease still holds
    clock.advance(timedelta(minutes=6))
    assert tw_worker.run_once() == 1
    assert len(fake_twilio.messages) == 1
    assert messages(db)[0].status == "submitted"


def test_worker_killed_after_sending_sends_nothing_twice(
    tw_client: TestClient,
    tenant: Tenant,
    tw_worker: OutboxWorker,
    clock: FixedClock,
    fake_twilio: FakeTwilio,
    db: Database,
    twilio_gateway: TwilioGateway,
) -> None:
    queue(tw_client, tenant, import_debt(tw_client, tenant))
    clock.set(LA_OPENS)
    [item] = tw_worker.claim()
    twilio_gateway.send(item.sms)  # sent, then the process dies before recording it
    clock.advance(timedelta(minutes=6))
    tw_worker.run_once()
    assert len(fake_twilio.messages) == 1
    [message] = messages(db)
    assert message.status == "submitted"
    assert message.provider_sid == fake_twilio.messages[0]["sid"]


def test_a_late_result_of_an_expired_claim_changes_nothing(
    tw_client: TestClient,
    tenant: Tenant,
    clock: FixedClock,
    fake_twilio: FakeTwilio,
    db: Database,
    twilio_settings: Settings,
) -> None:
    first = OutboxWorker(db, TwilioGateway(twilio_settings), clock, twilio_settings)
    second = OutboxWorker(db, TwilioGateway(twilio_settings), clock, twilio_settings)
    queue(tw_client, tenant, import_debt(tw_client, tenant))
    clock.set(LA_OPENS)
    [stale] = first.claim()
    clock.advance(timedelta(minutes=6))  # the first worker's lease runs out
    assert second.run_once() == 1
    fake_twilio.fail_next(1, status=500)
    first.deliver(stale)  # its send finally happens, and fails
    [message] = messages(db)
    assert message.status == "submitted" and message.attempts == 2
    assert message.provider_sid == fake_twilio.messages[0]["sid"]


def test_lookup_never_takes_another_messages_sid(
    tw_client: TestClient,
    tenant: Tenant,
    tw_worker: OutboxWorker,
    clock: FixedClock,
    fake_twilio: FakeTwilio,
    db: Database,
) -> None:
    phone = "+14155550123"
    import_debt(tw_client, tenant, debtor_phone=phone)
    clock.set(LA_OPENS)
    send_sms(tw_client, phone, "hmm")
    tw_worker.run_once()
    clock.advance(timedelta(minutes=1))
    send_sms(tw_client, phone, "hmm?")
    with db.transaction() as session:
        second = session.scalars(
            select(Message).where(Message.direction == "outbound", Message.provider_sid.is_(None))
        ).one()
        second.needs_reconcile = True  # as after a timeout: the lookup finds the first
    tw_worker.run_once()
    sids = [m.provider_sid for m in messages(db) if m.direction == "outbound"]
    assert len(set(sids)) == 2 and None not in sids
    assert len(fake_twilio.messages) == 2
