"""Issuing payment codes per scheme: references, amounts, due dates, reuse, supersession,
expiry, the scheme fallback, and the payment-codes API."""

from __future__ import annotations

import re
from datetime import date, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.clock import FixedClock
from app.config import Settings
from app.db import Database
from app.debts.models import Event
from app.payments.schemes import (
    boleto_barcode_from_typed_line,
    boleto_parse_barcode,
    pix_parse,
    reference_is_valid,
)
from app.payments.tasks import expire_payment_codes
from tests.conftest import PUBLIC_URL, Tenant, make_tenant
from tests.helpers import import_debt
from tests.payments_support import (
    BOLETO_SETTINGS,
    boleto_tenant,
    codes,
    get_code,
    import_br_debt,
    issue_now,
    payment_body,
    pix_tenant,
    post_payment,
)

TOKEN = re.compile(r"[A-Za-z0-9_-]+")


def events(db: Database, kind: str) -> list[Event]:
    with db.transaction() as session:
        return list(session.scalars(select(Event).where(Event.kind == kind)))


def test_reference_codes_are_unique_checked_and_tied_to_amount_and_due_date(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    first = import_debt(client, tenant, external_id="A", amount=5000, due_date="2026-12-20")
    second = import_debt(client, tenant, external_id="B", amount=7000, debtor_phone="+14155550124")
    a = issue_now(db, clock, tenant, first)
    b = issue_now(db, clock, tenant, second)

    assert a.reference != b.reference and a.token != b.token
    assert reference_is_valid(a.reference) and reference_is_valid(b.reference)
    assert a.reference.startswith("ACME") and a.display == a.reference == a.barcode_data
    assert b.sequence == a.sequence + 1
    # Not yet due: the code is due (and valid) on the debt's due date.
    assert (a.amount, a.due_date, a.expires_on) == (5000, date(2026, 12, 20), date(2026, 12, 20))
    # Overdue: due a few days from today in the debtor's zone.
    assert (b.amount, b.due_date) == (7000, date(2026, 11, 30))
    for code in (a, b):
        assert len(code.token) >= 22  # >= 128 bits of base64url
        assert TOKEN.fullmatch(code.token)
        assert code.status == "active" and code.kind == "balance"
    assert len(events(db, "payment_code.issued")) == 2


def test_references_stay_unique_across_creditors_sharing_a_prefix(
    client: TestClient, db: Database, clock: FixedClock
) -> None:
    one = make_tenant(db, clock, "Acme One")
    two = make_tenant(db, clock, "Acme Two")
    debt_one = import_debt(client, one)
    debt_two = import_debt(client, two)

    a = issue_now(db, clock, one, debt_one)
    b = issue_now(db, clock, two, debt_two)
    assert a.reference.startswith("ACME") and b.reference.startswith("ACME")
    # Sequence 1 of "Acme Two" would repeat "Acme One"'s reference: it is skipped.
    assert (a.sequence, b.sequence) == (1, 2)
    assert a.reference != b.reference
    assert reference_is_valid(b.reference)


def test_boleto_code_encodes_bank_amount_due_date_and_sequence(
    client: TestClient, db: Database, clock: FixedClock
) -> None:
    tenant = boleto_tenant(db, clock)
    debt_id = import_br_debt(client, tenant, due_date="2026-12-10")
    code = issue_now(db, clock, tenant, debt_id)

    assert code.scheme == "boleto"
    assert len(code.reference) == 44 and code.reference == code.barcode_data
    fields = boleto_parse_barcode(code.reference, date(2026, 11, 25))
    assert fields.bank_code == "341"
    assert fields.amount == 12360
    assert fields.due_date == date(2026, 12, 10) == code.due_date
    assert fields.free_field == "0001234567" + str(code.sequence).zfill(15)
    # The debtor sees the formatted 47-digit typed line of the same barcode.
    assert len(re.sub(r"\D", "", code.display)) == 47
    assert boleto_barcode_from_typed_line(code.display) == code.reference


def test_pix_code_is_a_br_code_for_the_amount_with_the_reference_as_txid(
    client: TestClient, db: Database, clock: FixedClock
) -> None:
    tenant = pix_tenant(db, clock)
    debt_id = import_br_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)

    assert code.scheme == "pix" and code.display == code.barcode_data
    fields = pix_parse(code.display)
    assert fields["26.01"] == "financeiro@credora.com.br"
    assert fields["54"] == "123.60"
    assert fields["60"] == "Sao Paulo"
    assert fields["62.05"] == code.reference
    assert re.fullmatch(r"[A-Z0-9]{1,25}", code.reference)


def test_boleto_creditor_falls_back_to_a_reference_for_another_currency(
    client: TestClient, db: Database, clock: FixedClock
) -> None:
    tenant = boleto_tenant(db, clock)
    debt_id = import_br_debt(client, tenant, currency="USD")
    code = issue_now(db, clock, tenant, debt_id)

    assert code.scheme == "reference" and reference_is_valid(code.reference)
    [fallback] = events(db, "payment_code.scheme_fallback")
    assert (fallback.from_value, fallback.to_value) == ("boleto", "reference")
    assert fallback.data is not None and "BRL" in fallback.data["reason"]
    # Asking again reuses the fallback code rather than issuing another.
    assert issue_now(db, clock, tenant, debt_id).id == code.id


def test_pix_creditor_without_a_key_falls_back_to_a_reference(
    client: TestClient, db: Database, clock: FixedClock
) -> None:
    tenant = make_tenant(db, clock, "Half Configured", payment_scheme="pix", country="BR")
    debt_id = import_br_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)

    assert code.scheme == "reference"
    assert len(events(db, "payment_code.scheme_fallback")) == 1


def test_boleto_values_the_layout_cannot_carry_fall_back_once_and_are_reused(
    client: TestClient, db: Database, clock: FixedClock
) -> None:
    # PATCH /creditor accepts 11-digit agreements; Parley's free field holds 10.
    settings = {**BOLETO_SETTINGS, "boleto_agreement": "12345678901"}
    tenant = make_tenant(db, clock, "Long Agreement", **settings)
    debt_id = import_br_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)

    assert code.scheme == "reference"
    assert issue_now(db, clock, tenant, debt_id).id == code.id
    [fallback] = events(db, "payment_code.scheme_fallback")
    assert fallback.data is not None and "agreement" in fallback.data["reason"]


def test_same_terms_reuse_the_active_code(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant)
    first = issue_now(db, clock, tenant, debt_id)
    clock.advance(timedelta(hours=3))
    again = issue_now(db, clock, tenant, debt_id)

    assert again.id == first.id
    assert len(codes(db, debt_id)) == 1


def test_a_new_amount_supersedes_the_old_code(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant)
    first = issue_now(db, clock, tenant, debt_id)
    response = post_payment(client, payment_body(first.reference, 2360))
    assert response.status_code == 200, response.text

    second = issue_now(db, clock, tenant, debt_id)
    assert second.id != first.id and second.reference != first.reference
    assert second.amount == 10000
    assert get_code(db, first.id).status == "superseded"
    assert [c.status for c in codes(db, debt_id)] == ["superseded", "active"]


def test_an_expired_code_is_replaced_by_a_new_one(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant)  # overdue: codes are due five days later
    first = issue_now(db, clock, tenant, debt_id)
    clock.advance(timedelta(days=6))

    second = issue_now(db, clock, tenant, debt_id)
    assert second.id != first.id
    assert second.due_date == date(2026, 12, 6)
    assert get_code(db, first.id).status == "expired"


def test_the_periodic_job_expires_codes_in_the_debtors_zone(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock, settings: Settings
) -> None:
    debt_id = import_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)  # due 2026-11-30 in Los Angeles

    # 2026-12-01 03:00 UTC is still the 30th in Los Angeles: not expired yet.
    clock.advance(timedelta(days=5, hours=12))
    with db.transaction() as session:
        expire_payment_codes(session, clock.now(), settings)
    assert get_code(db, code.id).status == "active"

    clock.advance(timedelta(hours=6))  # 01:00 on 1 December in Los Angeles
    with db.transaction() as session:
        expire_payment_codes(session, clock.now(), settings)
    assert get_code(db, code.id).status == "expired"
    assert client.get(f"/p/{code.token}").status_code == 410


def test_lump_sum_code_asks_for_the_discount_until_the_offer_expires(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    from tests.payments_support import create_offer_rule

    create_offer_rule(client, tenant)
    debt_id = import_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)

    assert (code.kind, code.amount) == ("lump_sum", 11124)
    assert code.due_date == code.expires_on == date(2026, 12, 2)
    assert code.rule_version_id is not None


def test_payment_codes_api_lists_codes_for_the_keys_creditor_only(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)

    response = client.get(f"/api/v1/debts/{debt_id}/payment-codes", headers=tenant.headers)
    assert response.status_code == 200, response.text
    [item] = response.json()["items"]
    assert item["reference"] == code.reference
    assert item["display"] == code.display
    assert item["amount"] == 12360
    assert item["due_date"] == "2026-11-30"
    assert item["scheme"] == "reference"
    assert item["status"] == "active"
    assert item["url"] == f"{PUBLIC_URL}/p/{code.token}"

    other = make_tenant(db, clock, "Other Creditor")
    response = client.get(f"/api/v1/debts/{debt_id}/payment-codes", headers=other.headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert client.get(f"/api/v1/debts/{debt_id}/payment-codes").status_code == 401
