"""PAY through the signed inbound webhook, end to end: the code in the SMS, the page
link, the lump-sum offer, installments, and MMS only where it can be received."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from app.clock import FixedClock
from app.db import Database
from app.payments.schemes import boleto_format_typed_line, boleto_typed_line, pix_parse
from app.segments import count_segments
from tests.conftest import PUBLIC_URL, Tenant, make_tenant
from tests.helpers import import_debt, outbound_bodies, send_sms
from tests.payments_support import (
    BR_PHONE,
    US_PHONE,
    boleto_tenant,
    codes,
    create_offer_rule,
    import_br_debt,
    outbound,
    payment_body,
    pix_tenant,
    post_payment,
)

LINK = re.compile(re.escape(PUBLIC_URL) + r"/p/([A-Za-z0-9_-]+)")


def test_pay_answers_with_the_reference_and_the_payment_page_link(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    debt_id = import_debt(client, tenant)
    send_sms(client, US_PHONE, "PAY")

    [code] = codes(db, debt_id)
    [reply] = outbound(db, US_PHONE, kind="payment_code")
    body = reply.body
    assert code.reference in body
    assert f"{PUBLIC_URL}/p/{code.token}" in body
    assert "$123.60" in body
    assert reply.status == "queued"
    assert reply.media_urls is None  # MMS is off for this creditor
    assert reply.encoding == "GSM-7" and reply.segments <= 3
    assert (code.kind, code.scheme, code.amount, code.currency) == (
        "balance",
        "reference",
        12360,
        "USD",
    )


def test_repeated_pay_reuses_the_same_code(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    debt_id = import_debt(client, tenant)
    send_sms(client, US_PHONE, "PAY")
    send_sms(client, US_PHONE, "send me the barcode")

    [code] = codes(db, debt_id)
    first, second = (m.body for m in outbound(db, US_PHONE, kind="payment_code"))
    assert first == second
    match = LINK.search(first)
    assert match is not None and match.group(1) == code.token


def test_boleto_pay_in_portuguese_carries_the_typed_line(
    client: TestClient, db: Database, clock: FixedClock
) -> None:
    tenant = boleto_tenant(db, clock)
    debt_id = import_br_debt(client, tenant)
    send_sms(client, BR_PHONE, "quero pagar")

    [code] = codes(db, debt_id)
    assert code.scheme == "boleto"
    [reply] = outbound(db, BR_PHONE, kind="payment_code")
    assert boleto_format_typed_line(boleto_typed_line(code.reference)) in reply.body
    assert "R$ 123,60" in reply.body
    assert "linha digitavel" in reply.body
    assert f"{PUBLIC_URL}/p/{code.token}" in reply.body
    assert reply.encoding == "GSM-7" and reply.segments <= 3


def test_pix_pay_carries_the_copy_and_paste_payload_unchanged(
    client: TestClient, db: Database, clock: FixedClock
) -> None:
    tenant = pix_tenant(db, clock)
    debt_id = import_br_debt(client, tenant)
    send_sms(client, BR_PHONE, "PAGAR")

    [code] = codes(db, debt_id)
    [reply] = outbound(db, BR_PHONE, kind="payment_code")
    assert code.display in reply.body
    fields = pix_parse(code.display)
    assert fields["54"] == "123.60"
    assert fields["62.05"] == code.reference
    assert reply.segments <= 3
    assert count_segments(reply.body).encoding == "GSM-7"


def test_pay_offers_the_lump_sum_discount_with_its_expiry(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    create_offer_rule(client, tenant)
    debt_id = import_debt(client, tenant)
    send_sms(client, US_PHONE, "PAY")

    [code] = codes(db, debt_id)
    assert code.kind == "lump_sum"
    assert code.amount == 11124  # 10 % off $123.60
    assert code.expires_on is not None and code.expires_on.isoformat() == "2026-12-02"
    [reply] = outbound(db, US_PHONE, kind="payment_code")
    body = reply.body
    assert "$111.24" in body and "$123.60" in body
    assert "Dec 2, 2026" in body
    assert code.reference in body


def test_pay_in_a_plan_asks_for_the_next_installment(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    create_offer_rule(client, tenant, lump_sum_discount_pct="0")
    debt_id = import_debt(client, tenant)
    send_sms(client, US_PHONE, "PLAN")
    send_sms(client, US_PHONE, "1")
    send_sms(client, US_PHONE, "PAY")

    live = [c for c in codes(db, debt_id) if c.status == "active"]
    assert [c.kind for c in live] == ["installment"]
    assert live[0].amount == 4120
    body = outbound(db, US_PHONE, kind="payment_code")[-1].body
    assert "installment 1 of 3" in body
    assert live[0].reference in body and live[0].token in body


@pytest.mark.parametrize(
    ("phone", "mms_enabled", "expect_media"),
    [
        ("+14155550123", True, True),  # US
        ("+15062345678", True, True),  # Canada
        ("+61412345678", True, True),  # Australia
        ("+18762101234", True, False),  # Jamaica: +1, but no MMS there
        ("+5511961234567", True, False),  # Brazil
        ("+14155550123", False, False),  # MMS off
    ],
)
def test_mms_media_only_where_enabled_and_receivable(
    client: TestClient,
    db: Database,
    clock: FixedClock,
    phone: str,
    mms_enabled: bool,
    expect_media: bool,
) -> None:
    tenant = make_tenant(db, clock, "Acme Media", mms_enabled=mms_enabled)
    import_debt(client, tenant, debtor_phone=phone, debtor_timezone="America/New_York")
    send_sms(client, phone, "PAY")

    [reply] = outbound(db, phone, kind="payment_code")
    if expect_media:
        match = LINK.search(reply.body)
        assert match is not None
        assert reply.media_urls == [f"{PUBLIC_URL}/p/{match.group(1)}/barcode.png"]
        response = client.get(f"/p/{match.group(1)}/barcode.png")
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
    else:
        assert not reply.media_urls


def test_pay_with_nothing_due_says_so(client: TestClient, tenant: Tenant, db: Database) -> None:
    debt_id = import_debt(client, tenant)
    send_sms(client, US_PHONE, "PAY")
    [code] = codes(db, debt_id)
    assert post_payment(client, payment_body(code.reference, 12360)).status_code == 200
    send_sms(client, US_PHONE, "PAY")

    assert any("no balance due" in body for body in outbound_bodies(db, US_PHONE))
    assert len(codes(db, debt_id)) == 1
