"""Builders shared by the payments tests (no tests here): creditors per scheme, signed
payment webhooks, and reading codes, payments and messages back."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select

from app.clock import FixedClock
from app.creditors.models import Creditor
from app.db import Database
from app.debts.models import Debt
from app.messaging.models import Message
from app.offers.service import pay_terms
from app.payments.api import payment_signature
from app.payments.models import Payment, PaymentCode
from app.payments.service import issue_code
from tests.conftest import PAYMENT_SECRET, T0, Tenant, make_tenant
from tests.helpers import import_debt

US_PHONE = "+14155550123"
BR_PHONE = "+5511961234567"
BOLETO_SETTINGS: dict[str, Any] = {
    "country": "BR",
    "default_language": "pt-BR",
    "payment_scheme": "boleto",
    "boleto_bank_code": "341",
    "boleto_agreement": "1234567",
    "contact_phone": "+551130001000",
}
PIX_SETTINGS: dict[str, Any] = {
    "country": "BR",
    "default_language": "pt-BR",
    "payment_scheme": "pix",
    "pix_key": "financeiro@credora.com.br",
    "pix_merchant_city": "São Paulo",
    "contact_phone": "+551130001000",
}


def boleto_tenant(db: Database, clock: FixedClock, name: str = "Credora Cobrança") -> Tenant:
    return make_tenant(db, clock, name, **BOLETO_SETTINGS)


def pix_tenant(db: Database, clock: FixedClock, name: str = "Credora Pix") -> Tenant:
    return make_tenant(db, clock, name, **PIX_SETTINGS)


def import_br_debt(client: TestClient, tenant: Tenant, **overrides: Any) -> str:
    """A BRL debt of R$ 123,60 owed by a Brazilian mobile number, in Portuguese."""
    values: dict[str, Any] = {
        "debtor_phone": BR_PHONE,
        "debtor_name": "Maria da Silva",
        "debtor_language": "pt-BR",
        "currency": "BRL",
    }
    values.update(overrides)
    return import_debt(client, tenant, **values)


def issue_now(db: Database, clock: FixedClock, tenant: Tenant, debt_id: str) -> PaymentCode:
    """Issue (or reuse) the code for what the debt asks for now, as PAY would."""
    with db.transaction() as session:
        creditor = session.get(Creditor, tenant.creditor_id)
        debt = session.get(Debt, debt_id)
        assert creditor is not None and debt is not None
        terms = pay_terms(session, debt, clock.now())
        assert terms is not None
        return issue_code(session, creditor, debt, terms, clock.now())


def codes(db: Database, debt_id: str) -> list[PaymentCode]:
    with db.transaction() as session:
        return list(
            session.scalars(
                select(PaymentCode)
                .where(PaymentCode.debt_id == debt_id)
                .order_by(PaymentCode.created_at, PaymentCode.sequence)
            )
        )


def get_code(db: Database, code_id: str) -> PaymentCode:
    with db.transaction() as session:
        code = session.get(PaymentCode, code_id)
        assert code is not None
        return code


def get_debt_row(db: Database, debt_id: str) -> Debt:
    with db.transaction() as session:
        debt = session.get(Debt, debt_id)
        assert debt is not None
        return debt


def payments(db: Database) -> list[Payment]:
    with db.transaction() as session:
        return list(session.scalars(select(Payment).order_by(Payment.created_at, Payment.id)))


def outbound(db: Database, phone: str, kind: str | None = None) -> list[Message]:
    with db.transaction() as session:
        query = select(Message).where(Message.to_phone == phone, Message.direction == "outbound")
        if kind is not None:
            query = query.where(Message.kind == kind)
        return list(session.scalars(query.order_by(Message.created_at, Message.id)))


def payment_body(
    reference: str,
    amount: int,
    *,
    payment_id: str = "pay_1",
    currency: str = "USD",
    paid_at: str | None = None,
) -> dict[str, Any]:
    return {
        "payment_id": payment_id,
        "reference": reference,
        "amount": amount,
        "currency": currency,
        "paid_at": paid_at or T0.isoformat(),
    }


def post_payment(
    client: TestClient,
    payload: dict[str, Any] | bytes,
    *,
    secret: str | None = PAYMENT_SECRET,
    signature: str | None = None,
) -> Response:
    """POST /webhooks/payments with the raw body signed as the processor signs it."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Parley-Signature"] = signature
    elif secret is not None:
        headers["X-Parley-Signature"] = payment_signature(secret, body)
    return client.post("/webhooks/payments", content=body, headers=headers)


def create_offer_rule(client: TestClient, tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    """An offer rule allowing 10 % off a lump sum for 7 days and 3 or 6 installments."""
    rule: dict[str, Any] = {
        "name": "standard",
        "priority": 10,
        "lump_sum_discount_pct": "10",
        "lump_sum_valid_days": 7,
        "installment_counts": [3, 6],
        "monthly_interest_pct": "0",
        "min_installment": 1000,
        "first_installment_in_days": 3,
    }
    rule.update(overrides)
    response = client.post("/api/v1/offer-rules", json=rule, headers=tenant.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result
