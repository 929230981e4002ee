"""Per-creditor senders, inbound routing by the number written to, and one daily cap
per number across creditors that share a sender."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.clock import FixedClock
from app.config import Settings
from app.conversations.models import Conversation
from app.db import Database
from app.main import body_renderers, create_app
from app.messaging.gateway import TwilioGateway
from app.messaging.models import Message
from app.worker import OutboxWorker
from tests.conftest import AUTH_TOKEN, PUBLIC_URL, Tenant, make_tenant
from tests.fake_twilio import FakeTwilio, inbound_sms_params, twilio_signature
from tests.helpers import handle_inbound, import_debt

NY = "+12125550123"
A_FROM = "+12025550101"
B_FROM = "+12025550102"
B_SERVICE = "MG" + "b" * 32


@pytest.fixture
def tw_client(
    db: Database, twilio_settings: Settings, clock: FixedClock, twilio_gateway: TwilioGateway
) -> Iterator[TestClient]:
    app = create_app(twilio_settings, clock=clock, gateway=twilio_gateway, database=db)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def tw_worker(
    db: Database, twilio_gateway: TwilioGateway, clock: FixedClock, twilio_settings: Settings
) -> OutboxWorker:
    return OutboxWorker(db, twilio_gateway, clock, twilio_settings, renderers=body_renderers())


_sids = iter(range(10**6))


def sms_to(client: TestClient, to: str, body: str) -> None:
    params = inbound_sms_params(from_=NY, to=to, body=body, message_sid=f"SM{next(_sids):032d}")
    signature = twilio_signature(AUTH_TOKEN, f"{PUBLIC_URL}/webhooks/twilio/sms", params)
    response = client.post(
        "/webhooks/twilio/sms", data=params, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 200, response.text
    handle_inbound(client)


def statement(client: TestClient, tenant: Tenant, debt_id: str) -> dict[str, object]:
    response = client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
    assert response.status_code == 202, response.text
    message: dict[str, object] = response.json()["message"]
    return message


def test_sender_settings_are_checked(client: TestClient, tenant: Tenant) -> None:
    for body, field in (
        ({"twilio_from": "not a number"}, "twilio_from"),
        ({"twilio_messaging_service_sid": "MG123"}, "twilio_messaging_service_sid"),
        ({"send_spread_minutes": -1}, "send_spread_minutes"),
    ):
        response = client.patch("/api/v1/creditor", json=body, headers=tenant.headers)
        assert response.status_code == 422, response.text
        assert field in {f["field"].split(".")[-1] for f in response.json()["error"]["fields"]}
    response = client.patch(
        "/api/v1/creditor",
        json={"twilio_from": "(202) 555-0101", "send_spread_minutes": 60},
        headers=tenant.headers,
    )
    assert response.status_code == 422  # not E.164
    ok = client.patch("/api/v1/creditor", json={"twilio_from": A_FROM}, headers=tenant.headers)
    assert ok.status_code == 200 and ok.json()["twilio_from"] == A_FROM


def test_each_creditor_texts_from_its_own_sender_and_gets_only_its_replies(
    tw_client: TestClient,
    db: Database,
    clock: FixedClock,
    tw_worker: OutboxWorker,
    fake_twilio: FakeTwilio,
) -> None:
    a = make_tenant(db, clock, "Alpha Lending", twilio_from=A_FROM)
    b = make_tenant(db, clock, "Beta Bank", twilio_messaging_service_sid=B_SERVICE)
    global_ = make_tenant(db, clock, "Gamma Utilities")
    debts = {t: import_debt(tw_client, t, debtor_phone=NY) for t in (a, b, global_)}
    statement(tw_client, a, debts[a])
    tw_worker.run_once()
    clock.advance(timedelta(days=1))
    statement(tw_client, b, debts[b])
    statement(tw_client, global_, debts[global_])
    tw_worker.run_once()
    sent = [(m["from"], m["messaging_service_sid"]) for m in fake_twilio.messages]
    assert sent[0] == (A_FROM, None)
    assert sorted(sent[1:], key=str) == sorted([(None, B_SERVICE), ("+15005550006", None)], key=str)
    # Beta and Gamma texted later, but the reply went to Alpha's number: it is Alpha's.
    clock.advance(timedelta(minutes=5))
    sms_to(tw_client, A_FROM, "PAY")
    sms_to(tw_client, "+15005550006", "HELP")
    with db.transaction() as session:
        inbound = session.scalars(select(Message).where(Message.direction == "inbound")).all()
        # Both replies carry the same fixed clock instant, so key them by their words.
        owners = {m.body: m.creditor_id for m in inbound}
        conversations = {c.creditor_id for c in session.scalars(select(Conversation)).all()}
    assert owners == {"PAY": a.creditor_id, "HELP": global_.creditor_id}
    assert conversations == {a.creditor_id, global_.creditor_id}


def test_creditors_sharing_a_sender_share_the_daily_cap_of_a_number(
    client: TestClient, db: Database, clock: FixedClock, worker: OutboxWorker
) -> None:
    first = make_tenant(db, clock, "First Lender")
    second = make_tenant(db, clock, "Second Lender")
    own = make_tenant(db, clock, "Own Sender Co", twilio_from=A_FROM)
    ids = {t: import_debt(client, t, debtor_phone=NY) for t in (first, second, own)}
    assert statement(client, first, ids[first])["held_reason"] is None
    worker.run_once()
    # The same number, the same sender, the same local day: tomorrow.
    assert statement(client, second, ids[second])["held_reason"] == "daily_cap"
    # Another sender is another conversation for the handset: its own cap.
    assert statement(client, own, ids[own])["held_reason"] is None
