"""Whole journeys through the real paths: the API, the outbox worker with the real twilio
client against the local Twilio-compatible server, signed Twilio webhooks, and the signed
payment webhook."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.clock import FixedClock
from app.config import Settings
from app.db import Database
from app.main import create_app
from app.messaging.gateway import TwilioGateway
from app.messaging.models import Message
from app.worker import OutboxWorker
from tests.conftest import AUTH_TOKEN, PUBLIC_URL, Tenant
from tests.fake_twilio import FakeTwilio, status_callback_params, twilio_signature
from tests.helpers import send_sms
from tests.payments_support import payment_body, post_payment

NY = "+12125550123"


def test_statement_pay_payment_thanks_exactly_once(
    db: Database,
    tenant: Tenant,
    clock: FixedClock,
    twilio_settings: Settings,
    fake_twilio: FakeTwilio,
) -> None:
    gateway = TwilioGateway(twilio_settings)
    app = create_app(twilio_settings, clock=clock, gateway=gateway, database=db)
    worker = OutboxWorker(db, gateway, clock, twilio_settings)
    with TestClient(app) as client:
        # The finance team loads a debt and asks for a statement.
        imported = client.post(
            "/api/v1/debts",
            json={
                "items": [
                    {
                        "external_id": "E2E-1",
                        "debtor": {"name": "Dana Reyes", "phone": NY},
                        "amount": 25000,
                        "currency": "USD",
                        "due_date": "2026-11-01",
                    }
                ]
            },
            headers=tenant.headers,
        ).json()["results"][0]
        debt_id = imported["id"]
        client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
        assert worker.run_once() == 1
        [statement] = fake_twilio.messages
        assert statement["to"] == NY and "$250.00" in str(statement["body"])

        # Twilio reports delivery through the signed status callback.
        params = status_callback_params(str(statement["sid"]), "delivered")
        url = f"{PUBLIC_URL}/webhooks/twilio/status"
        client.post(
            "/webhooks/twilio/status",
            data=params,
            headers={"X-Twilio-Signature": twilio_signature(AUTH_TOKEN, url, params)},
        )

        # The debtor answers PAY; the answer goes out through Twilio with the code.
        clock.advance(timedelta(minutes=3))
        assert send_sms(client, NY, "quero pagar").strip().endswith("<Response />")
        assert worker.run_once() == 1
        pay_answer = str(fake_twilio.messages[-1]["body"])
        link = re.search(r"https://parley\.example\.com/p/([A-Za-z0-9_-]+)", pay_answer)
        assert link is not None, pay_answer
        [code] = client.get(
            f"/api/v1/debts/{debt_id}/payment-codes", headers=tenant.headers
        ).json()["items"]
        assert code["display"] in pay_answer and code["amount"] == 25000
        assert client.get(f"/p/{link.group(1)}").status_code == 200

        # The bank reports the payment; the debt settles and the debtor is thanked once.
        clock.advance(timedelta(hours=1))
        body = payment_body(
            code["reference"], 25000, payment_id="bank-77", paid_at=clock.now().isoformat()
        )
        first = post_payment(client, body)
        replay = post_payment(client, body)
        assert first.status_code == 200 and first.json()["status"] == "applied"
        assert replay.status_code == 200 and replay.json()["replay"] is True
        debt = client.get(f"/api/v1/debts/{debt_id}", headers=tenant.headers).json()
        assert (debt["status"], debt["balance"]) == ("settled", 0)
        assert worker.run_once() == 1
        thanks = str(fake_twilio.messages[-1]["body"])
        # The debtor wrote in Portuguese, so Parley answers in Portuguese from then on.
        assert "Seu saldo esta quitado" in thanks
        assert worker.run_once() == 0
        assert len(fake_twilio.messages) == 3

        # Every word is kept, in order, with its status.
        items = client.get(f"/api/v1/debts/{debt_id}/messages", headers=tenant.headers).json()[
            "items"
        ]
        assert [(m["direction"], m["status"]) for m in items] == [
            ("outbound", "delivered"),
            ("inbound", "received"),
            ("outbound", "submitted"),
            ("outbound", "submitted"),
        ]


def test_plan_then_two_ends_with_an_exact_active_plan(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock, worker: OutboxWorker
) -> None:
    client.post(
        "/api/v1/offer-rules",
        json={
            "name": "standard",
            "priority": 1,
            "lump_sum_discount_pct": "10",
            "lump_sum_valid_days": 7,
            "installment_counts": [3, 6, 12],
            "monthly_interest_pct": "1.5",
            "min_installment": 1000,
            "first_installment_in_days": 30,
        },
        headers=tenant.headers,
    )
    debt_id = client.post(
        "/api/v1/debts",
        json={
            "items": [
                {
                    "external_id": "E2E-2",
                    "debtor": {"name": "Ana", "phone": NY, "language": "es"},
                    "amount": 90000,
                    "currency": "USD",
                    "due_date": "2026-10-01",
                }
            ]
        },
        headers=tenant.headers,
    ).json()["results"][0]["id"]
    send_sms(client, NY, "quiero pagar en cuotas")
    clock.advance(timedelta(seconds=5))
    send_sms(client, NY, "la 2")
    plan: dict[str, Any] = client.get(
        f"/api/v1/debts/{debt_id}/plan", headers=tenant.headers
    ).json()
    assert plan["status"] == "active" and plan["installment_count"] == 6
    assert sum(i["amount"] for i in plan["installments"]) == plan["total"]
    assert all(i["payment_code"] for i in plan["installments"][:1])
    with db.transaction() as session:
        bodies = list(
            session.scalars(
                select(Message.body)
                .where(Message.direction == "outbound")
                .order_by(Message.created_at)
            )
        )
    assert (
        bodies[0].startswith("Acme Finance: opciones de cuotas") and "Responda 1: 3 x" in bodies[0]
    )
    # The uneven last installment is said, not hidden behind "6 x".
    assert "plan acordado: 5 x $157.97 + una ultima de $157.99 mensuales" in bodies[1]


def test_debtor_agrees_a_plan_on_their_own_terms_through_twilio_in_two_texts(
    db: Database,
    tenant: Tenant,
    clock: FixedClock,
    twilio_settings: Settings,
    fake_twilio: FakeTwilio,
) -> None:
    """Issue 14's done-when, with the real twilio client and the outbox worker: statement
    out, the debtor's own terms in (signed webhook), the proposal out, "sim" in, the
    confirmation out, and an exact plan inside the rule."""
    gateway = TwilioGateway(twilio_settings)
    app = create_app(twilio_settings, clock=clock, gateway=gateway, database=db)
    worker = OutboxWorker(db, gateway, clock, twilio_settings)
    brazil = "+5511987654321"
    with TestClient(app) as client:
        client.post(
            "/api/v1/offer-rules",
            json={
                "name": "br",
                "priority": 1,
                "lump_sum_discount_pct": "0",
                "lump_sum_valid_days": 7,
                "installment_counts": [3, 6, 12],
                "monthly_interest_pct": "0",
                "min_installment": 5000,
                "first_installment_in_days": 30,
            },
            headers=tenant.headers,
        )
        debt_id = client.post(
            "/api/v1/debts",
            json={
                "items": [
                    {
                        "external_id": "E2E-N",
                        "debtor": {"name": "Rita", "phone": brazil, "language": "pt-BR"},
                        "amount": 120000,
                        "currency": "BRL",
                        "due_date": "2026-10-01",
                    }
                ]
            },
            headers=tenant.headers,
        ).json()["results"][0]["id"]
        client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
        assert worker.run_once() == 1
        clock.advance(timedelta(minutes=2))
        send_sms(client, brazil, "consigo pagar 200 reais por mes, recebo dia 10")
        assert worker.run_once() == 1
        proposal = str(fake_twilio.messages[-1]["body"])
        assert "6x R$ 200,00 mensais a partir de 10/" in proposal, proposal
        clock.advance(timedelta(minutes=2))
        send_sms(client, brazil, "SIM")
        assert worker.run_once() == 1
        confirmation = str(fake_twilio.messages[-1]["body"])
        assert "parcelamento feito: 6x R$ 200,00" in confirmation, confirmation
        plan = client.get(f"/api/v1/debts/{debt_id}/plan", headers=tenant.headers).json()
        assert [i["amount"] for i in plan["installments"]] == [20000] * 6
        assert all(i["due_date"].endswith("-10") for i in plan["installments"])
        assert [m["to"] for m in fake_twilio.messages] == [brazil] * 3
