"""The payment page (en/es/pt-BR, plan schedule, what it must not show, expired and
unknown links) and the barcode/QR images behind the page's token."""

from __future__ import annotations

import base64
import hashlib
import io
import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.clock import FixedClock
from app.db import Database
from tests.conftest import Tenant, make_tenant
from tests.helpers import import_debt, send_sms
from tests.payments_support import (
    BR_PHONE,
    US_PHONE,
    boleto_tenant,
    create_offer_rule,
    import_br_debt,
    issue_now,
    payment_body,
    pix_tenant,
    post_payment,
)

MAX_MMS_BYTES = 500 * 1024


class PageScan(HTMLParser):
    """What a page loads and links to."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.links: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        if tag in ("img", "script", "iframe", "source") and values.get("src"):
            self.sources.append(str(values["src"]))
        if tag == "link":
            self.sources.append(str(values.get("href")))
        if tag == "a" and values.get("href"):
            self.links.append(str(values["href"]))


def scan(html: str) -> PageScan:
    parser = PageScan()
    parser.feed(html)
    return parser


# ----------------------------------------------------------------------- images


@pytest.mark.parametrize("scheme", ["reference", "boleto", "pix"])
def test_images_have_the_right_type_size_and_cache_headers(
    client: TestClient, db: Database, clock: FixedClock, tenant: Tenant, scheme: str
) -> None:
    if scheme == "reference":
        code = issue_now(db, clock, tenant, import_debt(client, tenant))
    else:
        br = boleto_tenant(db, clock) if scheme == "boleto" else pix_tenant(db, clock)
        code = issue_now(db, clock, br, import_br_debt(client, br))

    png = client.get(f"/p/{code.token}/barcode.png")
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert len(png.content) < MAX_MMS_BYTES
    image = Image.open(io.BytesIO(png.content))
    assert image.format == "PNG"
    # Wide enough to scan from a phone screen, small enough for MMS.
    assert 300 <= image.width <= 2000 and image.height >= 200
    assert png.headers["cache-control"] == "private, no-store"
    etag = png.headers["etag"]
    assert etag.startswith('"')

    svg = client.get(f"/p/{code.token}/barcode.svg")
    assert svg.status_code == 200
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content and b"viewBox" in svg.content
    assert len(svg.content) < MAX_MMS_BYTES
    assert svg.headers["etag"] != etag

    cached = client.get(f"/p/{code.token}/barcode.png", headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.content == b""
    assert cached.headers["etag"] == etag


@pytest.mark.parametrize(
    "token", ["A" * 24, "unknown-token-but-well-formed", "short", "bad%20token", "a" * 80]
)
def test_unknown_or_malformed_tokens_are_404(client: TestClient, token: str) -> None:
    for path in (f"/p/{token}/barcode.png", f"/p/{token}/barcode.svg"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


# ------------------------------------------------------------------------ pages


def test_page_in_english_shows_amount_code_and_first_name_only(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant)
    import_debt(client, tenant, external_id="OTHER", amount=98765)  # same debtor, other debt
    code = issue_now(db, clock, tenant, debt_id)

    response = client.get(f"/p/{code.token}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<html lang="en">' in html
    assert "Acme Finance" in html
    assert "$123.60" in html
    assert "November 30, 2026" in html
    assert code.display in html
    assert "Hello Alex," in html
    assert "Copy code" in html
    # Nothing more about the debtor than a first name, and nothing of other debts.
    assert "Morgan" not in html
    assert "4155550123" not in html and "415-555-0123" not in html
    assert "987.65" not in html and "Invoice" not in html
    page = scan(html)
    assert page.sources == [f"/p/{code.token}/barcode.svg"]
    assert all(link.startswith("tel:") for link in page.links)
    assert "tel:+14155550100" in page.links
    assert response.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"


def test_inline_style_and_script_are_the_ones_the_policy_allows(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    code = issue_now(db, clock, tenant, import_debt(client, tenant))
    response = client.get(f"/p/{code.token}")
    policy = response.headers["content-security-policy"]
    inline = re.findall(r"<(style|script)>(.*?)</\1>", response.text, flags=re.S)
    assert sorted(tag for tag, _ in inline) == ["script", "style"]
    for tag, source in inline:
        digest = base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()
        assert f"{tag}-src 'sha256-{digest}'" in policy


def test_page_in_spanish(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant, debtor_language="es", debtor_name="Lucía Pérez Gómez")
    code = issue_now(db, clock, tenant, debt_id)

    html = client.get(f"/p/{code.token}").text
    assert '<html lang="es">' in html
    assert "Hola Lucía:" in html
    assert "123,60" in html
    assert "30 de noviembre de 2026" in html
    assert "Referencia de pago" in html and "Copiar código" in html
    assert "Pérez" not in html


def test_page_in_portuguese_for_a_boleto(
    client: TestClient, db: Database, clock: FixedClock
) -> None:
    tenant = boleto_tenant(db, clock)
    code = issue_now(db, clock, tenant, import_br_debt(client, tenant))

    html = client.get(f"/p/{code.token}").text
    assert '<html lang="pt-BR">' in html
    assert "Olá, Maria!" in html
    assert "R$ 123,60" in html
    assert "30 de novembro de 2026" in html
    assert "Linha digitável do boleto" in html
    assert code.display in html
    assert "Silva" not in html and "961234567" not in html


def test_page_for_pix_shows_the_qr_and_the_copy_and_paste_code(
    client: TestClient, db: Database, clock: FixedClock
) -> None:
    tenant = pix_tenant(db, clock)
    code = issue_now(db, clock, tenant, import_br_debt(client, tenant))

    html = client.get(f"/p/{code.token}").text
    assert "Código PIX copia e cola" in html
    assert code.display in html
    assert 'class="qr"' in html


def test_page_works_without_javascript(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    code = issue_now(db, clock, tenant, import_debt(client, tenant))
    html = client.get(f"/p/{code.token}").text
    without_scripts = re.sub(r"<script>.*?</script>", "", html, flags=re.S)
    # The code is plain text to select, and the copy button is only revealed by script.
    assert f'<p id="payment-code" class="code">{code.display}</p>' in without_scripts
    assert re.search(r"<button[^>]*\bhidden\b", without_scripts)


def test_page_shows_the_lump_sum_offer(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    create_offer_rule(client, tenant)
    code = issue_now(db, clock, tenant, import_debt(client, tenant))
    html = client.get(f"/p/{code.token}").text
    assert "$111.24" in html and "$123.60" in html and "December 2, 2026" in html


def test_page_shows_the_plan_schedule_with_what_is_paid(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    create_offer_rule(client, tenant, lump_sum_discount_pct="0")
    debt_id = import_debt(client, tenant)
    send_sms(client, US_PHONE, "PLAN")
    send_sms(client, US_PHONE, "1")
    first = issue_now(db, clock, tenant, debt_id)
    assert post_payment(client, payment_body(first.reference, 6180)).status_code == 200
    second = issue_now(db, clock, tenant, debt_id)

    html = client.get(f"/p/{second.token}").text
    assert "Your payment plan" in html
    assert "Installment 2 of 3" in html
    rows = re.findall(
        r"<tr[^>]*><td>(\d)</td><td>([^<]+)</td><td[^>]*>([^<]+)</td><td>([^<]+)", html
    )
    assert [(n, amount, status.strip()) for n, _due, amount, status in rows] == [
        ("1", "$41.20", "Paid"),
        ("2", "$41.20", "$20.60 paid (this payment)"),
        ("3", "$41.20", "Due"),
    ]
    assert "$20.60" in html

    paid_page = client.get(f"/p/{first.token}")
    assert paid_page.status_code == 200
    assert "This code was paid on November 25, 2026" in paid_page.text
    assert "copy-button" not in paid_page.text


def test_expired_link_gets_a_plain_page_with_the_creditors_contact(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    code = issue_now(db, clock, tenant, import_debt(client, tenant))
    clock.advance(timedelta(days=6))

    response = client.get(f"/p/{code.token}")
    assert response.status_code == 410
    html = response.text
    assert "This payment link has expired" in html
    assert "Acme Finance" in html and "tel:+14155550100" in html
    assert code.display not in html and "$123.60" not in html
    assert "Traceback" not in html


def test_expired_link_in_portuguese(client: TestClient, db: Database, clock: FixedClock) -> None:
    tenant = boleto_tenant(db, clock)
    code = issue_now(db, clock, tenant, import_br_debt(client, tenant))
    clock.advance(timedelta(days=6))
    html = client.get(f"/p/{code.token}").text
    assert "Este link de pagamento expirou" in html and "+551130001000" in html


def test_link_of_a_settled_debt_says_nothing_is_due(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant)
    first = issue_now(db, clock, tenant, debt_id)
    assert (
        post_payment(client, payment_body(first.reference, 2360, payment_id="a")).status_code == 200
    )
    second = issue_now(db, clock, tenant, debt_id)
    assert (
        post_payment(client, payment_body(second.reference, 10000, payment_id="b")).status_code
        == 200
    )

    response = client.get(f"/p/{first.token}")  # superseded by the partial payment
    assert response.status_code == 410
    assert "Nothing to pay" in response.text


@pytest.mark.parametrize(
    ("accept_language", "title"),
    [
        (None, "Payment link not found"),
        ("es-MX,es;q=0.9", "Enlace de pago no encontrado"),
        ("fr-FR, pt-BR;q=0.8", "Link de pagamento não encontrado"),
    ],
)
def test_unknown_link_gets_a_generic_page(
    client: TestClient, tenant: Tenant, accept_language: str | None, title: str
) -> None:
    headers = {"Accept-Language": accept_language} if accept_language else {}
    response = client.get("/p/AAAAAAAAAAAAAAAAAAAAAAAA", headers=headers)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert title in response.text
    assert "Acme Finance" not in response.text
    assert client.get("/p/<script>").status_code == 404


def test_page_shows_no_creditor_phone_link_when_none_is_set(
    client: TestClient, db: Database, clock: FixedClock
) -> None:
    tenant = make_tenant(db, clock, "No Phone Ltd")
    code = issue_now(db, clock, tenant, import_debt(client, tenant, debtor_phone=BR_PHONE))
    html = client.get(f"/p/{code.token}").text
    assert "Reply to our text message" in html or "Responda" in html
    assert "tel:" not in html
