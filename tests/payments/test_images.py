"""Barcode and QR images are private like the page and gone (410) once their code can no
longer be paid: paid, expired, or replaced by a newer code."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from app.clock import FixedClock
from app.db import Database
from tests.conftest import Tenant
from tests.helpers import import_debt
from tests.payments_support import get_code, issue_now, payment_body, post_payment

EXTENSIONS = ("png", "svg")


def _images(client: TestClient, token: str) -> list[int]:
    return [client.get(f"/p/{token}/barcode.{ext}").status_code for ext in EXTENSIONS]


def test_images_are_never_stored_by_shared_caches(
    client: TestClient, db: Database, clock: FixedClock, tenant: Tenant
) -> None:
    code = issue_now(db, clock, tenant, import_debt(client, tenant))
    for ext in EXTENSIONS:
        response = client.get(f"/p/{code.token}/barcode.{ext}")
        assert response.status_code == 200
        assert response.headers["cache-control"] == "private, no-store"


def test_the_image_of_a_paid_code_is_gone(
    client: TestClient, db: Database, clock: FixedClock, tenant: Tenant
) -> None:
    code = issue_now(db, clock, tenant, import_debt(client, tenant))
    assert _images(client, code.token) == [200, 200]
    assert post_payment(client, payment_body(code.reference, 12360)).status_code == 200
    assert get_code(db, code.id).status == "paid"
    gone = client.get(f"/p/{code.token}/barcode.png")
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "gone"
    assert _images(client, code.token) == [410, 410]
    # Even a client holding the old ETag is told it is gone, not "not modified".
    etag_request = client.get(f"/p/{code.token}/barcode.png", headers={"If-None-Match": "*"})
    assert etag_request.status_code == 410


def test_the_image_of_an_expired_code_is_gone(
    client: TestClient, db: Database, clock: FixedClock, tenant: Tenant
) -> None:
    code = issue_now(db, clock, tenant, import_debt(client, tenant))
    assert code.expires_on is not None
    clock.advance(timedelta(days=5))
    assert _images(client, code.token) == [200, 200]
    clock.advance(timedelta(days=1))
    assert _images(client, code.token) == [410, 410]


def test_the_image_of_a_replaced_code_is_gone(
    client: TestClient, db: Database, clock: FixedClock, tenant: Tenant
) -> None:
    debt_id = import_debt(client, tenant)
    first = issue_now(db, clock, tenant, debt_id)
    assert post_payment(client, payment_body(first.reference, 2360)).status_code == 200
    second = issue_now(db, clock, tenant, debt_id)
    assert get_code(db, first.id).status != "active"
    assert _images(client, first.token) == [410, 410]
    assert _images(client, second.token) == [200, 200]
