"""The barcode and QR images really scan: each scheme's code is issued by a debtor's PAY
text, its PNG is fetched from the app over HTTP and decoded with zxing-cpp, and what
the scanner reads is the code's data, valid for its scheme."""

from __future__ import annotations

import io
import re

import pytest
import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image

from app.clock import FixedClock
from app.db import Database
from app.payments.models import PaymentCode
from app.payments.schemes import (
    boleto_barcode_from_typed_line,
    boleto_format_typed_line,
    boleto_parse_barcode,
    boleto_typed_line,
    pix_parse,
    reference_is_valid,
)
from tests.conftest import PUBLIC_URL, T0, Tenant
from tests.helpers import import_debt, send_sms
from tests.payments_support import (
    BR_PHONE,
    PIX_SETTINGS,
    US_PHONE,
    boleto_tenant,
    codes,
    import_br_debt,
    outbound,
    pix_tenant,
)

LINK = re.compile(re.escape(PUBLIC_URL) + r"/p/([A-Za-z0-9_-]+)")


def pay_by_sms(client: TestClient, db: Database, debt_id: str, phone: str) -> PaymentCode:
    """The debtor texts PAY; returns the code issued, checking the SMS links to it."""
    send_sms(client, phone, "PAY" if phone == US_PHONE else "PAGAR")
    [code] = codes(db, debt_id)
    [reply] = outbound(db, phone, kind="payment_code")
    match = LINK.search(reply.body)
    assert match is not None and match.group(1) == code.token
    return code


def scan_png(client: TestClient, code: PaymentCode) -> zxingcpp.Barcode:
    """GET the code's PNG from the app and decode it; exactly one symbol must be found."""
    response = client.get(f"/p/{code.token}/barcode.png")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG"
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1, f"expected one symbol, zxing-cpp found {found!r}"
    [symbol] = found
    assert symbol.valid
    return symbol


def test_boleto_itf_decodes_to_the_44_digits_behind_the_typed_line(
    client: TestClient, db: Database, clock: FixedClock
) -> None:
    tenant = boleto_tenant(db, clock)
    code = pay_by_sms(client, db, import_br_debt(client, tenant), BR_PHONE)
    assert code.scheme == "boleto"

    symbol = scan_png(client, code)
    assert symbol.format == zxingcpp.BarcodeFormat.ITF
    digits = symbol.text
    assert re.fullmatch(r"[0-9]{44}", digits)
    assert digits == code.barcode_data == code.reference
    # The scanned digits are a valid boleto for this debt: check digit, amount, due date.
    fields = boleto_parse_barcode(digits, T0.date())
    assert (fields.bank_code, fields.currency_code) == ("341", "9")
    assert fields.amount == code.amount == 12360
    assert fields.due_date == code.due_date
    # ...and they are the typed line the page and the SMS show, both ways round.
    assert boleto_format_typed_line(boleto_typed_line(digits)) == code.display
    assert boleto_barcode_from_typed_line(code.display) == digits
    assert code.display in client.get(f"/p/{code.token}").text


def test_reference_code128_decodes_to_the_reference(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    code = pay_by_sms(client, db, import_debt(client, tenant), US_PHONE)
    assert code.scheme == "reference"

    symbol = scan_png(client, code)
    assert symbol.format == zxingcpp.BarcodeFormat.Code128
    assert symbol.text == code.barcode_data == code.reference == code.display
    assert reference_is_valid(symbol.text)
    assert symbol.text.startswith("ACME")


def test_pix_qr_decodes_to_the_copy_and_paste_payload(
    client: TestClient, db: Database, clock: FixedClock
) -> None:
    tenant = pix_tenant(db, clock)
    code = pay_by_sms(client, db, import_br_debt(client, tenant), BR_PHONE)
    assert code.scheme == "pix"

    symbol = scan_png(client, code)
    assert symbol.format == zxingcpp.BarcodeFormat.QRCode
    payload = symbol.text
    assert payload == code.barcode_data == code.display
    fields = pix_parse(payload)  # raises unless the CRC and the structure hold
    assert fields["26.00"].lower() == "br.gov.bcb.pix"
    assert fields["26.01"] == PIX_SETTINGS["pix_key"]
    assert fields["53"] == "986"  # BRL
    assert fields["54"] == "123.60"
    assert fields["62.05"] == code.reference


@pytest.mark.parametrize("scheme", ["reference", "boleto", "pix"])
def test_a_damaged_payload_is_not_what_was_scanned(
    client: TestClient, db: Database, clock: FixedClock, tenant: Tenant, scheme: str
) -> None:
    """Guards the guard: the validators used above do reject a one-character change."""
    if scheme == "reference":
        code = pay_by_sms(client, db, import_debt(client, tenant), US_PHONE)
    else:
        br = boleto_tenant(db, clock) if scheme == "boleto" else pix_tenant(db, clock)
        code = pay_by_sms(client, db, import_br_debt(client, br), BR_PHONE)
    text = scan_png(client, code).text
    position = len(text) // 2
    replacement = "1" if text[position] != "1" else "2"
    damaged = text[:position] + replacement + text[position + 1 :]
    if scheme == "reference":
        assert not reference_is_valid(damaged)
    elif scheme == "boleto":
        with pytest.raises(ValueError):
            boleto_parse_barcode(damaged, T0.date())
    else:
        with pytest.raises(ValueError):
            pix_parse(damaged)
