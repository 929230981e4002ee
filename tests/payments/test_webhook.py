"""The payment webhook: signatures, validation, exact/partial/over payments, plans,
settling, lump sums, replays, and payments kept for review."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.clock import FixedClock
from app.conversations.models import Promise
from app.db import Database
from app.debts.models import Debt, Event
from app.main import create_app
from app.messaging.models import Message
from app.offers.models import Installment
from app.offers.queries import active_plan, plan_installments
from app.payments.api import payment_signature
from app.payments.schemes import boleto_typed_line
from tests.conftest import PAYMENT_SECRET, T0, Tenant, make_settings
from tests.helpers import import_debt, send_sms
from tests.payments_support import (
    BR_PHONE,
    US_PHONE,
    boleto_tenant,
    codes,
    create_offer_rule,
    get_code,
    get_debt_row,
    import_br_debt,
    issue_now,
    outbound,
    payment_body,
    payments,
    post_payment,
)


def debt_events(db: Database, debt_id: str, kind: str) -> list[Event]:
    with db.transaction() as session:
        return list(
            session.scalars(
                select(Event)
                .where(Event.debt_id == debt_id, Event.kind == kind)
                .order_by(Event.created_at)
            )
        )


def installments(db: Database, debt_id: str) -> list[Installment]:
    with db.transaction() as session:
        plan = active_plan(session, debt_id)
        if plan is None:
            return list(
                session.scalars(
                    select(Installment)
                    .where(Installment.debt_id == debt_id)
                    .order_by(Installment.number)
                )
            )
        return plan_installments(session, plan.id)


# ------------------------------------------------------------------- signatures


@pytest.mark.parametrize(
    "signature",
    [None, b"", b"sha256=" + b"0" * 64, b"sha1=abc", b"not-a-signature", "sha256=é".encode()],
)
def test_missing_or_wrong_signature_is_401(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock, signature: bytes | None
) -> None:
    debt_id = import_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)
    body = json.dumps(payment_body(code.reference, 12360)).encode()
    headers: dict[bytes, bytes] = {b"Content-Type": b"application/json"}
    if signature is not None:
        headers[b"X-Parley-Signature"] = signature
    response = client.post("/webhooks/payments", content=body, headers=headers)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert payments(db) == []
    assert get_debt_row(db, debt_id).balance == 12360


def test_signature_over_another_body_is_401(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)
    signed = json.dumps(payment_body(code.reference, 100)).encode()
    sent = json.dumps(payment_body(code.reference, 12360)).encode()
    response = client.post(
        "/webhooks/payments",
        content=sent,
        headers={"X-Parley-Signature": payment_signature(PAYMENT_SECRET, signed)},
    )
    assert response.status_code == 401


def test_webhook_is_refused_when_no_secret_is_configured(db: Database, clock: FixedClock) -> None:
    settings = make_settings(str(db.engine.url), payment_webhook_secret=None)
    app = create_app(settings, clock=clock, database=db)
    with TestClient(app) as client:
        response = post_payment(client, payment_body("ANY", 100), secret="")
    assert response.status_code == 401
    assert payments(db) == []


def test_upper_case_hex_signature_is_accepted(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)
    body = json.dumps(payment_body(code.reference, 100)).encode()
    signature = "sha256=" + payment_signature(PAYMENT_SECRET, body).split("=", 1)[1].upper()
    response = post_payment(client, body, signature=signature)
    assert response.status_code == 200, response.text


# ------------------------------------------------------------------- validation


VALID: dict[str, Any] = {
    "payment_id": "p",
    "reference": "R",
    "amount": 1,
    "currency": "USD",
    "paid_at": T0.isoformat(),
}


def without(key: str) -> dict[str, Any]:
    return {k: v for k, v in VALID.items() if k != key}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b"{not json", "body"),
        (b"[1, 2]", "body"),
        (b'{"payment_id": "p", "reference": "R", "amount": NaN, "currency": "USD"}', "body"),
        (without("payment_id"), "payment_id"),
        (without("reference"), "reference"),
        (without("amount"), "amount"),
        (without("currency"), "currency"),
        (without("paid_at"), "paid_at"),
        ({**VALID, "amount": 1.5}, "amount"),
        ({**VALID, "amount": "100"}, "amount"),
        ({**VALID, "amount": 0}, "amount"),
        ({**VALID, "amount": -5}, "amount"),
        ({**VALID, "currency": "US"}, "currency"),
        ({**VALID, "paid_at": "yesterday"}, "paid_at"),
        ({**VALID, "payment_id": ""}, "payment_id"),
    ],
)
def test_malformed_bodies_are_422_json_errors(
    client: TestClient, payload: dict[str, Any] | bytes, field: str
) -> None:
    response = post_payment(client, payload)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in [f["field"] for f in error["fields"]]


# -------------------------------------------------------------------- applying


def test_exact_payment_settles_the_debt_and_stops_everything(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant)
    statement = client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
    assert statement.status_code == 202
    code = issue_now(db, clock, tenant, debt_id)
    with db.transaction() as session:
        debt = session.get(Debt, debt_id)
        assert debt is not None
        session.add(
            Promise(
                creditor_id=debt.creditor_id,
                debtor_id=debt.debtor_id,
                debt_id=debt_id,
                promised_date=T0.date() + timedelta(days=2),
                balance_at_promise=debt.balance,
                status="open",
                created_at=T0,
                updated_at=T0,
            )
        )

    response = post_payment(client, payment_body(code.reference, 12360, payment_id="pay_exact"))
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "applied"
    assert (result["applied_amount"], result["excess_amount"], result["replay"]) == (
        12360,
        0,
        False,
    )
    assert result["debt"] == {"id": debt_id, "status": "settled", "balance": 0, "currency": "USD"}

    debt = get_debt_row(db, debt_id)
    assert (debt.status, debt.balance) == ("settled", 0)
    assert get_code(db, code.id).status == "paid"
    [statement_row] = outbound(db, US_PHONE, kind="statement")
    assert statement_row.status == "canceled"
    [thanks] = outbound(db, US_PHONE, kind="payment_thanks")
    # 07:00 in Los Angeles: the thanks waits for the debtor's window (not capped, though).
    assert thanks.status == "scheduled" and not thanks.initiated
    assert thanks.send_after == datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
    assert "$123.60" in thanks.body and "paid in full" in thanks.body
    with db.transaction() as session:
        [promise] = session.scalars(select(Promise).where(Promise.debt_id == debt_id))
        assert promise.status == "kept"
    [status_event] = debt_events(db, debt_id, "debt.status")
    assert (status_event.from_value, status_event.to_value) == ("open", "settled")
    assert len(debt_events(db, debt_id, "payment.applied")) == 1
    [balance_event] = debt_events(db, debt_id, "debt.balance")
    assert (balance_event.from_value, balance_event.to_value) == ("12360", "0")
    [payment] = payments(db)
    assert (payment.status, payment.needs_review, payment.debt_id) == ("applied", False, debt_id)


def test_partial_payment_lowers_the_balance_and_thanks_with_what_is_left(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)

    response = post_payment(client, payment_body(code.reference, 2360))
    assert response.status_code == 200, response.text
    assert response.json()["debt"]["balance"] == 10000

    debt = get_debt_row(db, debt_id)
    assert (debt.status, debt.balance) == ("open", 10000)
    assert get_code(db, code.id).status == "superseded"
    [thanks] = outbound(db, US_PHONE, kind="payment_thanks")
    assert "$23.60" in thanks.body and "$100.00" in thanks.body
    # The next PAY asks for exactly what is left.
    send_sms(client, US_PHONE, "PAY")
    live = [c for c in codes(db, debt_id) if c.status == "active"]
    assert [c.amount for c in live] == [10000]


def test_a_partial_payment_keeps_an_open_promise_at_once(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    """Kept as the payment lands, not when the promise job next reads it: the job reads
    only promises due within a day or two."""
    debt_id = import_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)
    with db.transaction() as session:
        debt = session.get(Debt, debt_id)
        assert debt is not None
        for days, balance in ((20, debt.balance), (25, 1000)):
            session.add(
                Promise(
                    creditor_id=debt.creditor_id,
                    debtor_id=debt.debtor_id,
                    debt_id=debt_id,
                    promised_date=T0.date() + timedelta(days=days),
                    balance_at_promise=balance,
                    status="open",
                    created_at=T0,
                    updated_at=T0,
                )
            )
    response = post_payment(client, payment_body(code.reference, 2360))
    assert response.status_code == 200, response.text
    with db.transaction() as session:
        promises = session.scalars(
            select(Promise).where(Promise.debt_id == debt_id).order_by(Promise.promised_date)
        ).all()
        # The second was made when $10.00 was owed: $100.00 left has not kept it.
        assert [p.status for p in promises] == ["kept", "open"]


def test_overpayment_settles_and_keeps_the_excess_for_review(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)

    response = post_payment(client, payment_body(code.reference, 15000))
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["applied_amount"], result["excess_amount"]) == (12360, 2640)
    assert result["needs_review"] is True

    debt = get_debt_row(db, debt_id)
    assert (debt.status, debt.balance, debt.needs_review) == ("settled", 0, True)
    [excess] = debt_events(db, debt_id, "payment.excess")
    assert excess.to_value == "2640"


def test_payment_by_typed_line_matches_the_boleto(
    client: TestClient, db: Database, clock: FixedClock
) -> None:
    tenant = boleto_tenant(db, clock)
    debt_id = import_br_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)

    typed = boleto_typed_line(code.reference)
    response = post_payment(client, payment_body(typed, 12360, currency="BRL"))
    assert response.status_code == 200, response.text
    assert get_debt_row(db, debt_id).status == "settled"
    [thanks] = outbound(db, BR_PHONE, kind="payment_thanks")
    assert "R$ 123,60" in thanks.body and "obrigado" in thanks.body.lower()


def test_installment_payments_go_to_the_code_then_in_order_and_complete_the_plan(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    create_offer_rule(client, tenant, lump_sum_discount_pct="0")
    debt_id = import_debt(client, tenant)
    send_sms(client, US_PHONE, "PLAN")
    send_sms(client, US_PHONE, "1")
    assert [i.amount for i in installments(db, debt_id)] == [4120, 4120, 4120]
    first = issue_now(db, clock, tenant, debt_id)
    assert first.kind == "installment" and first.amount == 4120

    # One and a half installments: the first is paid, the second half paid.
    response = post_payment(client, payment_body(first.reference, 6180, payment_id="p1"))
    assert response.status_code == 200, response.text
    one, two, three = installments(db, debt_id)
    assert (one.status, one.paid_amount) == ("paid", 4120)
    assert (two.status, two.paid_amount) == ("pending", 2060)
    assert (three.status, three.paid_amount) == ("pending", 0)
    assert get_debt_row(db, debt_id).balance == 6180
    assert get_code(db, first.id).status == "paid"
    [thanks] = outbound(db, US_PHONE, kind="payment_thanks")
    assert "Next installment: $20.60" in thanks.body

    second = issue_now(db, clock, tenant, debt_id)
    assert (second.kind, second.amount, second.installment_id) == ("installment", 2060, two.id)
    response = post_payment(client, payment_body(second.reference, 2060, payment_id="p2"))
    assert response.status_code == 200
    third = issue_now(db, clock, tenant, debt_id)
    assert third.installment_id == three.id
    response = post_payment(client, payment_body(third.reference, 4120, payment_id="p3"))
    assert response.status_code == 200

    assert [i.status for i in installments(db, debt_id)] == ["paid", "paid", "paid"]
    debt = get_debt_row(db, debt_id)
    assert (debt.status, debt.balance) == ("settled", 0)
    assert [c.status for c in codes(db, debt_id) if c.kind == "installment"] == ["paid"] * 3


def test_a_later_installments_code_takes_its_own_installment_first(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    from app.payments.models import PayTerms
    from app.payments.service import issue_code

    create_offer_rule(client, tenant, lump_sum_discount_pct="0")
    debt_id = import_debt(client, tenant)
    send_sms(client, US_PHONE, "PLAN")
    send_sms(client, US_PHONE, "1")
    _, two, _ = installments(db, debt_id)
    with db.transaction() as session:
        from app.creditors.models import Creditor

        creditor = session.get(Creditor, tenant.creditor_id)
        debt = session.get(Debt, debt_id)
        assert creditor is not None and debt is not None
        code = issue_code(
            session,
            creditor,
            debt,
            PayTerms(kind="installment", amount=4120, due_date=two.due_date, installment_id=two.id),
            clock.now(),
        )

    assert post_payment(client, payment_body(code.reference, 5000)).status_code == 200
    one, two, three = installments(db, debt_id)
    assert (one.paid_amount, two.paid_amount, three.paid_amount) == (880, 4120, 0)
    assert two.status == "paid"


def test_lump_sum_paid_in_full_settles_and_writes_off_the_discount(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    create_offer_rule(client, tenant)
    debt_id = import_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)
    assert (code.kind, code.amount) == ("lump_sum", 11124)

    response = post_payment(client, payment_body(code.reference, 11124))
    assert response.status_code == 200, response.text
    assert response.json()["written_off"] == 1236
    debt = get_debt_row(db, debt_id)
    assert (debt.status, debt.balance) == ("settled", 0)
    [write_off] = debt_events(db, debt_id, "debt.write_off")
    assert write_off.to_value == "1236"
    assert write_off.data is not None and write_off.data["reason"] == "lump-sum discount"
    # A replay reports the same write-off.
    replay = post_payment(client, payment_body(code.reference, 11124))
    assert replay.json()["written_off"] == 1236 and replay.json()["replay"] is True


def test_lump_sum_paid_after_it_expired_is_an_ordinary_payment(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    create_offer_rule(client, tenant)
    debt_id = import_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)
    late = (T0 + timedelta(days=10)).isoformat()

    response = post_payment(client, payment_body(code.reference, 11124, paid_at=late))
    assert response.status_code == 200
    assert response.json()["written_off"] == 0
    debt = get_debt_row(db, debt_id)
    assert (debt.status, debt.balance) == ("open", 1236)
    assert debt_events(db, debt_id, "debt.write_off") == []


def test_partial_lump_sum_payment_is_not_a_settlement(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    create_offer_rule(client, tenant)
    debt_id = import_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)

    assert post_payment(client, payment_body(code.reference, 5000)).status_code == 200
    debt = get_debt_row(db, debt_id)
    assert (debt.status, debt.balance) == ("open", 7360)
    assert get_code(db, code.id).status == "superseded"


# ----------------------------------------------------------- idempotency, review


def test_a_replay_changes_nothing_and_answers_the_original_outcome(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)
    body = payment_body(code.reference, 2360, payment_id="pay_once")

    first = post_payment(client, body)
    clock.advance(timedelta(minutes=5))
    second = post_payment(client, body)

    assert first.status_code == second.status_code == 200
    original, replay = first.json(), second.json()
    assert replay["replay"] is True and original["replay"] is False
    for key in ("status", "payment_id", "applied_amount", "excess_amount", "written_off"):
        assert replay[key] == original[key]
    assert get_debt_row(db, debt_id).balance == 10000
    assert len(payments(db)) == 1
    assert len(outbound(db, US_PHONE, kind="payment_thanks")) == 1
    assert len(debt_events(db, debt_id, "payment.applied")) == 1


def test_unknown_reference_is_stored_for_review_and_answered_202(
    client: TestClient, db: Database
) -> None:
    response = post_payment(client, payment_body("NOPE00000001X", 5000, payment_id="lost_1"))
    assert response.status_code == 202, response.text
    result = response.json()
    assert (result["status"], result["needs_review"], result["debt"]) == ("unmatched", True, None)

    [payment] = payments(db)
    assert (payment.status, payment.needs_review, payment.amount) == ("unmatched", True, 5000)
    assert payment.raw["reference"] == "NOPE00000001X"
    replay = post_payment(client, payment_body("NOPE00000001X", 5000, payment_id="lost_1"))
    assert replay.status_code == 200
    assert replay.json()["status"] == "unmatched" and replay.json()["replay"] is True
    assert len(payments(db)) == 1


def test_currency_mismatch_is_stored_for_review_and_not_applied(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)

    response = post_payment(client, payment_body(code.reference, 12360, currency="eur"))
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "currency_mismatch"

    debt = get_debt_row(db, debt_id)
    assert (debt.status, debt.balance, debt.needs_review) == ("open", 12360, True)
    [payment] = payments(db)
    assert (payment.status, payment.currency, payment.debt_id) == (
        "currency_mismatch",
        "EUR",
        debt_id,
    )
    assert outbound(db, US_PHONE, kind="payment_thanks") == []
    assert len(debt_events(db, debt_id, "payment.needs_review")) == 1


def test_payment_to_a_settled_debt_is_all_excess(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)
    assert (
        post_payment(client, payment_body(code.reference, 12360, payment_id="a")).status_code == 200
    )

    response = post_payment(client, payment_body(code.reference, 12360, payment_id="b"))
    assert response.status_code == 200
    result = response.json()
    assert (result["applied_amount"], result["excess_amount"], result["needs_review"]) == (
        0,
        12360,
        True,
    )
    assert get_debt_row(db, debt_id).balance == 0
    assert len(outbound(db, US_PHONE, kind="payment_thanks")) == 1


def test_settling_cancels_pending_reminders_but_not_other_debts_messages(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    paid = import_debt(client, tenant, external_id="PAID")
    other = import_debt(client, tenant, external_id="OTHER")
    for debt_id in (paid, other):
        assert (
            client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers).status_code
            == 202
        )
    code = issue_now(db, clock, tenant, paid)

    assert post_payment(client, payment_body(code.reference, 12360)).status_code == 200
    with db.transaction() as session:
        rows = session.scalars(select(Message).where(Message.kind == "statement"))
        by_debt = {m.debt_id: m.status for m in rows}
    assert by_debt[paid] == "canceled"
    assert by_debt[other] in ("queued", "scheduled")
