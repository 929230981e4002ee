"""Regression tests for the payments review: the lump-sum write-off cap and which codes
earn it, the debt's currency, the signing secret's length, body size and nesting, PAY
terms under the debt's lock, replays that differ, guarded code-status updates, retiring
a debt's codes, "Surname, Given" names, and the expiry day in the debtor's zone."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from app.actions.codes import issue_current_code
from app.clock import FixedClock
from app.creditors.models import Creditor
from app.db import Database
from app.debts.models import Debt, Event
from app.main import create_app
from app.payments.api import MAX_JSON_DEPTH, MAX_WEBHOOK_BODY
from app.payments.models import PaymentCode
from app.payments.pages import first_name
from app.payments.service import (
    reconcile_codes,
    set_code_status,
    set_code_status_if_active,
    set_live_codes_status,
)
from tests.conftest import Tenant, make_settings
from tests.helpers import import_debt
from tests.payments_support import (
    US_PHONE,
    codes,
    create_offer_rule,
    get_code,
    get_debt_row,
    issue_now,
    outbound,
    payment_body,
    payments,
    post_payment,
)

LOS_ANGELES = "America/Los_Angeles"


def debt_events(db: Database, debt_id: str, kind: str) -> list[Event]:
    with db.transaction() as session:
        return list(
            session.scalars(
                select(Event)
                .where(Event.debt_id == debt_id, Event.kind == kind)
                .order_by(Event.created_at)
            )
        )


def lump_sum_debt(client: TestClient, tenant: Tenant, db: Database, clock: FixedClock) -> str:
    """A $123.60 debt in Los Angeles with a 10 % lump-sum offer valid 7 days."""
    create_offer_rule(client, tenant)
    return import_debt(client, tenant, debtor_timezone=LOS_ANGELES)


def set_balance(db: Database, debt_id: str, balance: int) -> None:
    with db.transaction() as session:
        debt = session.get(Debt, debt_id)
        assert debt is not None
        debt.balance = balance


# --------------------------------------------------- 1, 6: the lump-sum write-off


def test_lump_sum_write_off_is_capped_at_the_codes_discount(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = lump_sum_debt(client, tenant, db, clock)
    code = issue_now(db, clock, tenant, debt_id)
    assert (code.kind, code.amount, code.discount) == ("lump_sum", 11124, 1236)
    # The balance grew after the code was issued (it is still active).
    set_balance(db, debt_id, 20000)

    response = post_payment(client, payment_body(code.reference, 11124))
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["applied_amount"], result["written_off"]) == (11124, 1236)
    assert result["debt"]["balance"] == 20000 - 11124 - 1236

    debt = get_debt_row(db, debt_id)
    assert (debt.status, debt.balance) == ("open", 7640)
    assert get_code(db, code.id).status == "paid"
    [write_off] = debt_events(db, debt_id, "debt.write_off")
    assert write_off.to_value == "1236"


@pytest.mark.parametrize("status", ["superseded", "canceled"])
def test_a_retired_lump_sum_code_paid_in_full_earns_no_discount(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock, status: str
) -> None:
    debt_id = lump_sum_debt(client, tenant, db, clock)
    code = issue_now(db, clock, tenant, debt_id)
    with db.transaction() as session:
        stored = session.get(PaymentCode, code.id)
        assert stored is not None
        set_code_status(session, stored, status, now=clock.now())

    response = post_payment(client, payment_body(code.reference, 11124))
    assert response.status_code == 200, response.text
    assert (response.json()["applied_amount"], response.json()["written_off"]) == (11124, 0)
    debt = get_debt_row(db, debt_id)
    assert (debt.status, debt.balance) == ("open", 1236)
    assert debt_events(db, debt_id, "debt.write_off") == []


def test_superseding_live_codes_ends_them_and_their_discount(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = lump_sum_debt(client, tenant, db, clock)
    code = issue_now(db, clock, tenant, debt_id)
    with db.transaction() as session:
        debt = session.get(Debt, debt_id)
        assert debt is not None
        now, why = clock.now(), "debt re-imported"
        assert set_live_codes_status(session, debt, "superseded", now=now, reason=why) == 1
        assert set_live_codes_status(session, debt, "superseded", now=now, reason=why) == 0

    assert [c.status for c in codes(db, debt_id)] == ["superseded"]
    [event] = [
        e for e in debt_events(db, debt_id, "payment_code.status") if e.to_value == "superseded"
    ]
    assert event.data is not None and event.data["reason"] == "debt re-imported"
    assert event.data["payment_code_id"] == code.id
    # Paying the retired code anyway: applied, but no discount.
    response = post_payment(client, payment_body(code.reference, 11124))
    assert response.json()["written_off"] == 0
    assert get_debt_row(db, debt_id).balance == 1236


# -------------------------------- 20: the expiry day is the debtor's, not UTC's


@pytest.mark.parametrize(
    ("paid_at", "written_off", "balance", "status"),
    [
        # 23:30 on 2 December in Los Angeles: the expiry day, though 3 December in UTC.
        ("2026-12-03T07:30:00+00:00", 1236, 0, "settled"),
        # 00:30 on 3 December in Los Angeles: a day late.
        ("2026-12-03T08:30:00+00:00", 0, 1236, "open"),
    ],
)
def test_lump_sum_expiry_is_judged_in_the_debtors_zone_even_when_the_webhook_is_late(
    client: TestClient,
    tenant: Tenant,
    db: Database,
    clock: FixedClock,
    paid_at: str,
    written_off: int,
    balance: int,
    status: str,
) -> None:
    debt_id = lump_sum_debt(client, tenant, db, clock)
    code = issue_now(db, clock, tenant, debt_id)
    assert code.expires_on == date(2026, 12, 2)
    # The webhook arrives two days later; the periodic job has expired the code by then.
    clock.advance(timedelta(days=9))
    with db.transaction() as session:
        assert reconcile_codes(session, clock.now()) == 1
    assert get_code(db, code.id).status == "expired"

    response = post_payment(client, payment_body(code.reference, 11124, paid_at=paid_at))
    assert response.status_code == 200, response.text
    assert response.json()["written_off"] == written_off
    debt = get_debt_row(db, debt_id)
    assert (debt.balance, debt.status) == (balance, status)


# ------------------------------------------------------- 2: the debt's currency


def test_a_payment_in_the_codes_currency_but_not_the_debts_is_kept_for_review(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)
    # Re-imported in euros: the USD code no longer matches the debt.
    assert import_debt(client, tenant, currency="EUR") == debt_id

    response = post_payment(client, payment_body(code.reference, 12360, currency="USD"))
    assert response.status_code == 202, response.text
    assert (response.json()["status"], response.json()["applied_amount"]) == (
        "currency_mismatch",
        0,
    )
    debt = get_debt_row(db, debt_id)
    assert (debt.status, debt.balance, debt.currency, debt.needs_review) == (
        "open",
        12360,
        "EUR",
        True,
    )
    [payment] = payments(db)
    assert (payment.status, payment.needs_review) == ("currency_mismatch", True)
    [flag] = debt_events(db, debt_id, "payment.needs_review")
    assert flag.data is not None
    assert (flag.data["expected_currency"], flag.data["code_currency"]) == ("EUR", "USD")
    assert debt_events(db, debt_id, "payment.applied") == []
    assert outbound(db, US_PHONE, kind="payment_thanks") == []


# --------------------------------------------------------- 3: the secret's length


@pytest.mark.parametrize("secret", ["", "   ", "fifteen-chars!!"])
def test_a_short_or_empty_secret_counts_as_not_configured(
    db: Database, clock: FixedClock, caplog: pytest.LogCaptureFixture, secret: str
) -> None:
    settings = make_settings(str(db.engine.url), payment_webhook_secret=secret)
    app = create_app(settings, clock=clock, database=db)
    with TestClient(app) as client, caplog.at_level(logging.ERROR, "parley.payments"):
        # Signed correctly with that secret, and still refused.
        response = post_payment(client, payment_body("ANY", 100), secret=secret)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert any(
        "PARLEY_PAYMENT_WEBHOOK_SECRET is shorter than 16 characters" in r.getMessage()
        for r in caplog.records
    )
    assert payments(db) == []


def test_a_sixteen_character_secret_is_accepted(db: Database, clock: FixedClock) -> None:
    secret = "sixteen-chars!!!"
    settings = make_settings(str(db.engine.url), payment_webhook_secret=secret)
    app = create_app(settings, clock=clock, database=db)
    with TestClient(app) as client:
        response = post_payment(client, payment_body("ANY", 100), secret=secret)
    assert response.status_code == 202, response.text


# ------------------------------------------------------------ 4, 9: the body


def test_a_body_over_the_limit_is_413_by_its_content_length_before_any_signature_check(
    client: TestClient, db: Database
) -> None:
    body = b" " * (MAX_WEBHOOK_BODY + 1)
    response = post_payment(client, body, signature="sha256=" + "0" * 64)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert payments(db) == []


def test_a_streamed_body_without_a_length_is_cut_off_at_the_limit(
    client: TestClient, db: Database
) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_WEBHOOK_BODY // 1024 + 1):
            yield b" " * 1024

    response = client.post(
        "/webhooks/payments",
        content=chunks(),
        headers={"X-Parley-Signature": "sha256=" + "0" * 64},
    )
    assert response.status_code == 413
    assert payments(db) == []


def test_a_body_just_under_the_limit_is_still_read(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)
    body = json.dumps(payment_body(code.reference, 100)).encode()
    body = body[:-1] + b" " * (MAX_WEBHOOK_BODY - len(body)) + b"}"
    assert len(body) == MAX_WEBHOOK_BODY
    assert post_payment(client, body).status_code == 200


def nested(depth: int) -> dict[str, Any]:
    inner: Any = 1
    for _ in range(depth):
        inner = [inner]
    return {**payment_body("ANY", 100), "metadata": inner}


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 60000,
        b'{"a": ' + b"[" * 30000 + b"]" * 30000 + b"}",
        json.dumps(nested(MAX_JSON_DEPTH)).encode(),
        json.dumps(nested(900)).encode(),
        b'{"payment_id": "p", "amount": ' + b"9" * 5000 + b"}",
    ],
    ids=["unclosed", "deep", "past-the-limit", "deep-but-decodable", "huge-int"],
)
def test_deeply_nested_or_oversized_json_is_422_not_500(
    client: TestClient, db: Database, body: bytes
) -> None:
    response = post_payment(client, body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
    assert payments(db) == []


def test_nesting_within_the_limit_is_kept(client: TestClient, db: Database) -> None:
    response = post_payment(client, nested(MAX_JSON_DEPTH - 2))
    assert response.status_code == 202, response.text
    [payment] = payments(db)
    assert "metadata" in payment.raw


# -------------------------------------------------------- 7: replays that differ


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": 5000}, "amount"),
        ({"reference": "OTHER0001"}, "reference"),
        ({"currency": "EUR"}, "currency"),
    ],
)
def test_a_replay_with_a_different_body_is_409_and_changes_nothing(
    client: TestClient,
    tenant: Tenant,
    db: Database,
    clock: FixedClock,
    change: dict[str, Any],
    field: str,
) -> None:
    debt_id = import_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)
    original = payment_body(code.reference, 2360, payment_id="pay_twice")
    assert post_payment(client, original).status_code == 200

    response = post_payment(client, {**original, **change})
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "payment_replay_mismatch"
    assert "pay_twice" in error["message"] and field in error["message"]
    assert [f["field"] for f in error["fields"]] == [field]

    [payment] = payments(db)
    assert (payment.amount, payment.reference, payment.currency) == (2360, code.reference, "USD")
    assert payment.applied_amount == 2360
    assert get_debt_row(db, debt_id).balance == 10000
    assert len(debt_events(db, debt_id, "payment.applied")) == 1
    [mismatch] = debt_events(db, debt_id, "payment.replay_mismatch")
    assert mismatch.to_value == "pay_twice"
    assert mismatch.data is not None and set(mismatch.data["conflicts"]) == {field}
    assert len(outbound(db, US_PHONE, kind="payment_thanks")) == 1
    # The identical body is still an ordinary replay.
    replay = post_payment(client, original)
    assert replay.status_code == 200 and replay.json()["replay"] is True


def test_a_differing_replay_of_an_unmatched_payment_is_409_without_an_event(
    client: TestClient, db: Database
) -> None:
    body = payment_body("NOPE00000001X", 5000, payment_id="lost")
    assert post_payment(client, body).status_code == 202
    response = post_payment(client, {**body, "amount": 6000})
    assert response.status_code == 409
    [payment] = payments(db)
    assert payment.amount == 5000
    with db.transaction() as session:
        assert list(session.scalars(select(Event).where(Event.kind.like("payment.%")))) == []


# ------------------------------------------------ 5: PAY terms under the lock


def test_pay_terms_are_worked_out_from_the_debt_as_it_is_under_the_lock(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant)
    with db.transaction() as session:
        creditor = session.get(Creditor, tenant.creditor_id)
        debt = session.get(Debt, debt_id)
        assert creditor is not None and debt is not None and debt.balance == 12360
        # Another writer lowered the balance after this copy was read.
        session.execute(text("UPDATE debts SET balance = 10000 WHERE id = :id"), {"id": debt_id})
        code = issue_current_code(session, creditor, debt, clock.now())
        assert code is not None
        assert (code.kind, code.amount) == ("balance", 10000)
        assert debt.balance == 10000


def test_pay_with_a_balance_paid_off_meanwhile_issues_nothing(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant)
    with db.transaction() as session:
        creditor = session.get(Creditor, tenant.creditor_id)
        debt = session.get(Debt, debt_id)
        assert creditor is not None and debt is not None
        session.execute(text("UPDATE debts SET balance = 0 WHERE id = :id"), {"id": debt_id})
        assert issue_current_code(session, creditor, debt, clock.now()) is None
    assert codes(db, debt_id) == []


# -------------------------------------------- 8: guarded code-status updates


def test_a_guarded_status_change_leaves_a_code_paid_behind_its_back(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)
    later = clock.now() + timedelta(days=10)
    with db.transaction() as session:
        stale = session.get(PaymentCode, code.id)
        assert stale is not None and stale.status == "active"
        session.execute(
            text("UPDATE payment_codes SET status = 'paid' WHERE id = :id"), {"id": code.id}
        )
        assert set_code_status_if_active(session, stale, "expired", now=later) is False
        assert stale.status == "paid"
    assert get_code(db, code.id).status == "paid"
    moves = [e.to_value for e in debt_events(db, debt_id, "payment_code.status")]
    assert "expired" not in moves


def test_reconcile_expires_an_active_code_once(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)
    later = datetime(2026, 12, 5, 15, 0, tzinfo=UTC)
    with db.transaction() as session:
        assert reconcile_codes(session, later) == 1
    with db.transaction() as session:
        assert reconcile_codes(session, later) == 0
    stored = get_code(db, code.id)
    assert (stored.status, stored.updated_at.replace(tzinfo=UTC)) == ("expired", later)
    [event] = debt_events(db, debt_id, "payment_code.status")
    assert (event.from_value, event.to_value) == ("active", "expired")


# ---------------------------------------------------------------- 11: names


@pytest.mark.parametrize(
    ("full", "first"),
    [
        ("SILVA, Maria", "Maria"),
        ("da Silva, Maria José", "Maria"),
        ("Maria da Silva", "Maria"),
        ("Silva,", "Silva"),
        ("  ", ""),
        ("", ""),
    ],
)
def test_first_name_understands_surname_comma_given(full: str, first: str) -> None:
    assert first_name(full) == first


def test_the_page_greets_a_surname_first_debtor_by_the_given_name(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant, debtor_name="MORGAN, Alex")
    code = issue_now(db, clock, tenant, debt_id)
    html = client.get(f"/p/{code.token}").text
    assert "Hello Alex," in html and "MORGAN" not in html
