"""`GET /api/v1/payments`: the creditor's payments and the review queue
(`status=needs_review`), and marking a payment reviewed."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.clock import FixedClock
from app.db import Database
from app.debts.models import Event
from tests.conftest import Tenant, make_tenant
from tests.helpers import import_debt
from tests.payments_support import issue_now, payment_body, post_payment


def test_review_queue_lists_what_needs_a_person_oldest_first(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)
    assert (
        post_payment(client, payment_body(code.reference, 1000, payment_id="ok_1")).json()["status"]
        == "applied"
    )
    clock.advance(timedelta(seconds=1))
    mismatch = post_payment(
        client, payment_body(code.reference, 500, payment_id="eur_1", currency="EUR")
    )
    assert mismatch.json()["status"] == "currency_mismatch"
    # Unknown reference: no creditor can be told, so no creditor's queue shows it.
    assert (
        post_payment(client, payment_body("NOPE00000001X", 700, payment_id="lost_1")).json()[
            "status"
        ]
        == "unmatched"
    )

    queue = client.get("/api/v1/payments?status=needs_review", headers=tenant.headers).json()
    assert queue["total"] == 1
    [item] = queue["items"]
    assert (item["payment_id"], item["status"], item["amount"], item["currency"]) == (
        "eur_1",
        "currency_mismatch",
        500,
        "EUR",
    )
    assert (item["debt_id"], item["debt_external_id"], item["debtor_name"]) == (
        debt_id,
        "INV-1",
        "Alex Morgan",
    )
    everything = client.get("/api/v1/payments", headers=tenant.headers).json()
    assert [p["payment_id"] for p in everything["items"]] == ["eur_1", "ok_1"]
    assert everything["total"] == 2
    applied = client.get("/api/v1/payments?status=applied", headers=tenant.headers).json()
    assert [p["payment_id"] for p in applied["items"]] == ["ok_1"]

    other = make_tenant(db, clock, "Other Co")
    assert client.get("/api/v1/payments", headers=other.headers).json() == {
        "items": [],
        "total": 0,
    }
    url = f"/api/v1/payments/{item['id']}/reviewed"
    assert client.post(url, headers=other.headers).status_code == 404

    done = client.post(url, json={"note": "refunded"}, headers=tenant.headers)
    assert done.status_code == 200 and done.json()["needs_review"] is False
    assert client.post(url, headers=tenant.headers).status_code == 409
    queue = client.get("/api/v1/payments?status=needs_review", headers=tenant.headers).json()
    assert queue == {"items": [], "total": 0}
    with db.transaction() as session:
        [event] = session.scalars(select(Event).where(Event.kind == "payment.reviewed")).all()
    assert event.debt_id == debt_id
    assert event.actor.startswith("api_key:") and event.data == {
        "payment_id": "eur_1",
        "note": "refunded",
    }


def test_payment_filters_are_checked(client: TestClient, tenant: Tenant) -> None:
    for params, field in (("status=lost", "status"), ("limit=0", "limit"), ("offset=-1", "offset")):
        response = client.get(f"/api/v1/payments?{params}", headers=tenant.headers)
        assert response.status_code == 422
        assert response.json()["error"]["fields"][0]["field"] == field
