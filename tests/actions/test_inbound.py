"""The inbound webhook and the conversation engine, end to end through signed webhooks."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import UTC, date, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.clock import FixedClock
from app.conversations.api import EMPTY_TWIML
from app.conversations.models import Conversation, Promise
from app.db import Database
from app.debts.models import Debt, Debtor
from app.main import build_inbound_handler
from app.messaging.models import Message
from app.worker import OutboxWorker
from tests.conftest import AUTH_TOKEN, PUBLIC_URL, Tenant
from tests.fake_twilio import inbound_sms_params, twilio_signature
from tests.helpers import handle_inbound, import_debt, outbound_bodies, post_sms, send_sms

NY = "+12125550123"


def debtor_state(db: Database) -> Debtor:
    with db.transaction() as session:
        return session.scalars(select(Debtor).where(Debtor.phone == NY)).one()


def debt_state(db: Database, debt_id: str) -> Debt:
    with db.transaction() as session:
        debt = session.get(Debt, debt_id)
        assert debt is not None
        return debt


def conversation(db: Database) -> Conversation:
    with db.transaction() as session:
        return session.scalars(select(Conversation)).one()


def text(client: TestClient, clock: FixedClock, body: str) -> str:
    clock.advance(timedelta(seconds=1))
    return send_sms(client, NY, body)


def setup_debt(client: TestClient, tenant: Tenant, **overrides: object) -> str:
    return import_debt(client, tenant, debtor_phone=NY, **overrides)  # type: ignore[arg-type]


def test_signature_is_required(client: TestClient, tenant: Tenant, db: Database) -> None:
    setup_debt(client, tenant)
    params = inbound_sms_params(
        from_=NY, to="+15005550006", body="PAY", message_sid="SM" + "1" * 32
    )
    assert client.post("/webhooks/twilio/sms", data=params).status_code == 403
    wrong = twilio_signature("other-token", f"{PUBLIC_URL}/webhooks/twilio/sms", params)
    response = client.post(
        "/webhooks/twilio/sms", data=params, headers={"X-Twilio-Signature": wrong}
    )
    assert response.status_code == 403
    # Signed for another URL (a proxy rewriting the host must not matter, a path must).
    elsewhere = twilio_signature(AUTH_TOKEN, f"{PUBLIC_URL}/webhooks/twilio/status", params)
    assert (
        client.post(
            "/webhooks/twilio/sms", data=params, headers={"X-Twilio-Signature": elsewhere}
        ).status_code
        == 403
    )
    with db.transaction() as session:
        assert (
            session.scalar(select(func.count(Message.id)).where(Message.direction == "inbound"))
            == 0
        )


def test_signature_checked_against_public_url_behind_a_proxy(
    client: TestClient, tenant: Tenant
) -> None:
    setup_debt(client, tenant)
    # The app sees http://testserver/...; Twilio signed https://parley.example.com/...
    twiml = send_sms(client, NY, "HELP")
    assert twiml.startswith("<?xml") and "<Response" in twiml


def test_retried_webhook_is_stored_and_answered_once(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    setup_debt(client, tenant)
    for _ in range(3):
        send_sms(client, NY, "HELP", message_sid="SM" + "7" * 32)
    with db.transaction() as session:
        inbound = session.scalars(select(Message).where(Message.direction == "inbound")).all()
    assert len(inbound) == 1 and inbound[0].intent == "HELP"
    assert len(outbound_bodies(db, NY)) == 1


def test_concurrent_duplicates_store_one(
    postgres_only: None,
    client: TestClient,
    tenant: Tenant,
    db: Database,
    clock: FixedClock,
    settings: object,
) -> None:
    setup_debt(client, tenant)
    engine = build_inbound_handler(settings)  # type: ignore[arg-type]
    barrier = threading.Barrier(4)
    results: list[bool] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            with db.transaction() as session:
                barrier.wait()
                result = engine.handle(
                    session,
                    provider_sid="SM" + "9" * 32,
                    from_phone=NY,
                    to_phone="+15005550006",
                    body="HELP",
                    now=clock.now(),
                )
                results.append(result.duplicate)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors
    assert sorted(results) == [False, True, True, True]
    with db.transaction() as session:
        assert (
            session.scalar(select(func.count(Message.id)).where(Message.direction == "inbound"))
            == 1
        )
        assert (
            session.scalar(select(func.count(Message.id)).where(Message.direction == "outbound"))
            == 1
        )


def test_unknown_sender_gets_a_neutral_answer_once_a_day(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock, worker: OutboxWorker
) -> None:
    setup_debt(client, tenant)
    twiml = send_sms(client, "+14155559999", "who is this? pay what?")
    # Answered through the outbox, like every answer: the webhook only acknowledges.
    assert twiml == EMPTY_TWIML
    (neutral,) = outbound_bodies(db, "+14155559999")
    assert "Acme" not in neutral and "123" not in neutral and "debt" not in neutral.lower()
    clock.advance(timedelta(hours=1))
    send_sms(client, "+14155559999", "hello?")
    assert outbound_bodies(db, "+14155559999") == [neutral]
    send_sms(client, "+14155559998", "no conozco esta deuda")
    (spanish,) = outbound_bodies(db, "+14155559998")
    assert "Disculpe" in spanish
    with db.transaction() as session:
        stored = session.scalars(select(Message).where(Message.debtor_id.is_(None))).all()
    assert sorted(m.direction for m in stored) == [
        "inbound",
        "inbound",
        "inbound",
        "outbound",
        "outbound",
    ]
    # The worker sends them (no window or cap for an answer), from the number written to.
    assert worker.run_once() == 1  # the first one is no longer fresh (an hour ago)
    with db.transaction() as session:
        answers = {
            m.to_phone: m
            for m in session.scalars(
                select(Message).where(Message.debtor_id.is_(None), Message.direction == "outbound")
            )
        }
    assert answers["+14155559998"].status == "delivered"
    assert answers["+14155559998"].provider_sid
    assert answers["+14155559998"].from_phone == "+15005550006"
    assert answers["+14155559999"].status == "canceled"
    assert answers["+14155559999"].error_message == "an answer to an unknown sender no longer fresh"


def test_an_unknown_sender_that_opted_out_gets_no_neutral_answer(
    client: TestClient, tenant: Tenant, db: Database, worker: OutboxWorker
) -> None:
    post = post_sms(client, "+14155559997", "who is this?")
    assert post.status_code == 200
    # STOP arrives before the worker handled the first text: the answer queued for it
    # is not sent.
    post_sms(client, "+14155559997", "STOP")
    assert handle_inbound(client) == 2
    assert worker.run_once() == 0
    with db.transaction() as session:
        (answer,) = session.scalars(
            select(Message).where(
                Message.to_phone == "+14155559997", Message.direction == "outbound"
            )
        ).all()
    assert answer.status == "canceled" and answer.held_reason == "opted_out"


def test_stop_confirms_once_then_silence_until_start(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock, worker: OutboxWorker
) -> None:
    debt_id = setup_debt(client, tenant)
    client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
    text(client, clock, "Stop texting me")
    assert debtor_state(db).contact_status == "opted_out"
    text(client, clock, "STOP")
    text(client, clock, "PAY")
    bodies = outbound_bodies(db, NY)
    assert len(bodies) == 2  # the statement (now canceled) and one confirmation
    assert "unsubscribed" in bodies[1] and "START" in bodies[1]
    with db.transaction() as session:
        statuses = sorted(
            session.scalars(select(Message.status).where(Message.direction == "outbound"))
        )
    assert statuses == ["canceled", "queued"]
    refused = client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
    assert refused.status_code == 409
    text(client, clock, "START")
    assert debtor_state(db).contact_status == "active"
    assert "again" in outbound_bodies(db, NY)[-1]
    assert (
        client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers).status_code
        == 202
    )


def test_stop_applies_to_the_number_for_every_creditor(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    from tests.conftest import make_tenant

    other = make_tenant(db, clock, "Other Lender")
    setup_debt(client, tenant)
    import_debt(client, other, debtor_phone=NY)
    text(client, clock, "UNSUBSCRIBE")
    with db.transaction() as session:
        assert set(session.scalars(select(Debtor.contact_status))) == {"opted_out"}


def test_help_names_the_creditor_and_contact(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    setup_debt(client, tenant)
    text(client, clock, "who is this")
    [body] = outbound_bodies(db, NY)
    assert "Acme Finance" in body and "+14155550100" in body and "STOP" in body


def test_dispute_stops_collection_and_flags(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = setup_debt(client, tenant)
    clock.set(datetime(2026, 11, 25, 12, 0, tzinfo=UTC))  # 07:00 in New York
    client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
    text(client, clock, "this is not my debt")
    debt = debt_state(db, debt_id)
    assert debt.status == "disputed" and debt.needs_review
    assert conversation(db).needs_attention
    with db.transaction() as session:
        statement = session.scalars(select(Message).where(Message.kind == "statement")).one()
    assert statement.status == "canceled"
    assert "dispute" in outbound_bodies(db, NY)[-1]
    queue = client.get("/api/v1/conversations?needs_attention=true", headers=tenant.headers).json()
    assert [c["last_intent"] for c in queue["items"]] == ["DISPUTE"]


def test_paid_pauses_and_asks_for_the_date(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = setup_debt(client, tenant)
    text(client, clock, "I already paid last week")
    debt = debt_state(db, debt_id)
    assert debt.status == "paused" and debt.needs_review
    assert "When did you pay" in outbound_bodies(db, NY)[-1]


def test_wrong_number_apologises_without_disclosing_and_goes_silent(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = setup_debt(client, tenant)
    text(client, clock, "wrong number")
    [apology] = outbound_bodies(db, NY)
    assert "Sorry" in apology
    for secret in ("Acme", "123", "$", "debt", "Alex"):
        assert secret not in apology
    assert debtor_state(db).contact_status == "wrong_number"
    text(client, clock, "PAY")
    text(client, clock, "HELP")
    assert len(outbound_bodies(db, NY)) == 1
    assert (
        client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers).status_code
        == 409
    )


def test_promise_is_stored_confirmed_reminded_and_followed_up(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock, worker: OutboxWorker
) -> None:
    debt_id = setup_debt(client, tenant)
    text(client, clock, "I'll pay on friday")  # Wednesday 25 November
    with db.transaction() as session:
        promise = session.scalars(select(Promise)).one()
    assert promise.promised_date == date(2026, 11, 27) and promise.debt_id == debt_id
    assert "Nov 27, 2026" in outbound_bodies(db, NY)[-1]
    clock.set(datetime(2026, 11, 26, 15, 0, tzinfo=UTC))  # the day before, 10:00 local
    worker.run_once()
    assert "reminder" in outbound_bodies(db, NY)[-1]
    clock.set(datetime(2026, 11, 28, 15, 0, tzinfo=UTC))  # the day after, unpaid
    worker.run_once()
    assert "have not received" in outbound_bodies(db, NY)[-1]
    with db.transaction() as session:
        assert session.scalars(select(Promise.status)).one() == "broken"
        kinds = set(session.scalars(select(Message.kind)))
    assert {"promise_reminder", "promise_followup"} <= kinds


def test_promise_without_a_date_asks_for_one(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    setup_debt(client, tenant)
    text(client, clock, "I will pay soon, I promise")
    with db.transaction() as session:
        assert session.scalar(select(func.count(Promise.id))) == 0
    assert "By what date" in outbound_bodies(db, NY)[-1]


def test_statement_request_resends_even_past_the_daily_cap(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock, worker: OutboxWorker
) -> None:
    debt_id = setup_debt(client, tenant)
    client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
    worker.run_once()
    text(client, clock, "I never got the bill")
    worker.run_once()
    with db.transaction() as session:
        statements = session.scalars(select(Message).where(Message.kind == "statement")).all()
    assert [s.status for s in statements] == ["delivered", "delivered"]


def test_hardship_without_rules_hands_over_with_empathy(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    setup_debt(client, tenant)
    text(client, clock, "I lost my job")
    body = outbound_bodies(db, NY)[-1]
    assert body.startswith("We are sorry to hear that") and "installments" in body
    assert conversation(db).needs_attention


def test_unknown_and_menuless_choice_go_to_the_human_queue(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    setup_debt(client, tenant)
    text(client, clock, "2")
    assert "did not understand" in outbound_bodies(db, NY)[-1]
    with db.transaction() as session:
        assert (
            session.scalars(select(Message.intent).where(Message.direction == "inbound")).one()
            == "UNKNOWN"
        )
    assert conversation(db).attention_reason == "reply not understood"


def test_reply_in_another_language_is_answered_in_it(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    setup_debt(client, tenant)
    text(client, clock, "no reconozco esta deuda")
    assert debtor_state(db).language == "es"
    assert "registramos" in outbound_bodies(db, NY)[-1]


def test_agent_queue_reply_and_handled(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock, worker: OutboxWorker
) -> None:
    setup_debt(client, tenant)
    text(client, clock, "hmm let me think")
    [item] = client.get(
        "/api/v1/conversations?needs_attention=true", headers=tenant.headers
    ).json()["items"]
    clock.advance(timedelta(minutes=5))
    sent = client.post(
        f"/api/v1/conversations/{item['id']}/messages",
        json={"body": "Hi! Take your time."},
        headers=tenant.headers,
    )
    assert sent.status_code == 202 and sent.json()["message"]["status"] == "queued"
    bad = client.post(
        f"/api/v1/conversations/{item['id']}/messages", json={"body": ""}, headers=tenant.headers
    )
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "body"
    handled = client.post(f"/api/v1/conversations/{item['id']}/handled", headers=tenant.headers)
    assert handled.json()["needs_attention"] is False
    assert (
        client.get("/api/v1/conversations?needs_attention=true", headers=tenant.headers).json()[
            "items"
        ]
        == []
    )
    detail = client.get(f"/api/v1/conversations/{item['id']}", headers=tenant.headers).json()
    assert [m["direction"] for m in detail["messages"]] == ["inbound", "outbound", "outbound"]
    # Hours later an agent's text is Parley-initiated: window and cap apply.
    clock.set(datetime(2026, 11, 26, 3, 0, tzinfo=UTC))  # 22:00 in New York
    late = client.post(
        f"/api/v1/conversations/{item['id']}/messages",
        json={"body": "Following up"},
        headers=tenant.headers,
    ).json()["message"]
    assert late["status"] == "scheduled"


def test_other_creditors_cannot_see_conversations(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    from tests.conftest import make_tenant

    setup_debt(client, tenant)
    text(client, clock, "hmm")
    other = make_tenant(db, clock, "Nosy Co")
    conv_id = conversation(db).id
    assert client.get(f"/api/v1/conversations/{conv_id}", headers=other.headers).status_code == 404
    assert (
        client.post(f"/api/v1/conversations/{conv_id}/handled", headers=other.headers).status_code
        == 404
    )
    assert client.get("/api/v1/conversations", headers=other.headers).json()["items"] == []


def test_replies_parse_endpoint(client: TestClient, tenant: Tenant) -> None:
    response = client.post(
        "/api/v1/replies/parse",
        json={"text": "pago dia 10", "today": "2026-11-25"},
        headers=tenant.headers,
    )
    body = response.json()
    assert body["intent"] == "PROMISE" and body["language"] == "pt"
    assert body["promise_date"] == "2026-12-10"
    assert client.post("/api/v1/replies/parse", json={"text": "x"}).status_code == 401
    assert client.post("/api/v1/replies/parse", json={}, headers=tenant.headers).status_code == 422


def test_classify_cli_reads_lines_and_prints_json() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "classify", "--today", "2026-11-25"],
        input="STOP\nquero parcelar\nmañana a las 3 llámame\n",
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["intent"], r["language"]) for r in rows] == [
        ("STOP", "en"),
        ("PLAN", "pt"),
        ("CALL", "es"),
    ]
    assert rows[2]["requested_date"] == "2026-11-26" and rows[2]["requested_time"] == "15:00"


def test_simulator_endpoint_runs_the_same_engine(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    from tests.conftest import make_tenant

    setup_debt(client, tenant)
    assert client.post("/simulator/sms", json={"from": NY, "body": "help"}).status_code == 401
    other = make_tenant(db, clock, "Other Co")
    stranger = client.post(
        "/simulator/sms", json={"from": NY, "body": "help"}, headers=other.headers
    )
    assert stranger.status_code == 404
    response = client.post(
        "/simulator/sms", json={"from": NY, "body": "help"}, headers=tenant.headers
    )
    assert response.status_code == 200
    body = response.json()
    assert body["intent"] == "HELP" and "Acme Finance" in body["replies"][0]


def test_concurrent_first_texts_all_kept(
    postgres_only: None,
    client: TestClient,
    tenant: Tenant,
    db: Database,
    clock: FixedClock,
    settings: object,
) -> None:
    setup_debt(client, tenant)
    engine = build_inbound_handler(settings)  # type: ignore[arg-type]
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def deliver(index: int) -> None:
        try:
            with db.transaction() as session:
                barrier.wait()
                engine.handle(
                    session,
                    provider_sid=f"SM{index:032d}",
                    from_phone=NY,
                    to_phone="+15005550006",
                    body="HELP",
                    now=clock.now(),
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors
    with db.transaction() as session:
        assert (
            session.scalar(select(func.count(Message.id)).where(Message.direction == "inbound"))
            == 6
        )
        assert session.scalar(select(func.count(Conversation.id))) == 1


def test_concurrent_stops_confirm_once(
    postgres_only: None,
    client: TestClient,
    tenant: Tenant,
    db: Database,
    clock: FixedClock,
    settings: object,
) -> None:
    setup_debt(client, tenant)
    engine = build_inbound_handler(settings)  # type: ignore[arg-type]
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def deliver(index: int) -> None:
        try:
            with db.transaction() as session:
                barrier.wait()
                engine.handle(
                    session,
                    provider_sid=f"SMstop{index:028d}",
                    from_phone=NY,
                    to_phone="+15005550006",
                    body="STOP",
                    now=clock.now(),
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors
    with db.transaction() as session:
        kinds = list(session.scalars(select(Message.kind).where(Message.direction == "outbound")))
    assert kinds == ["opt_out_confirmation"]
