"""Creditor kind: agencies disclose that they collect debts and never text US or
Canadian numbers; first-party creditors do not disclose."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.clock import FixedClock
from app.db import Database
from app.messaging.models import Message
from app.worker import OutboxWorker
from tests.conftest import Tenant, make_tenant
from tests.helpers import import_debt, send_sms

UK = "+447911123456"
NY = "+12125550123"
TORONTO = "+14165550123"


def patch(client: TestClient, tenant: Tenant, **body: object) -> dict[str, object]:
    response = client.patch("/api/v1/creditor", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


def messages_of(client: TestClient, tenant: Tenant, debt_id: str) -> list[dict[str, object]]:
    response = client.get(f"/api/v1/debts/{debt_id}/messages", headers=tenant.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, object]] = response.json()["items"]
    return items


def test_kind_is_a_setting_and_disclosure_follows_it(client: TestClient, tenant: Tenant) -> None:
    settings = client.get("/api/v1/creditor", headers=tenant.headers).json()
    assert (settings["kind"], settings["collector_disclosure"]) == ("first_party", False)
    assert patch(client, tenant, kind="agency")["collector_disclosure"] is True
    assert patch(client, tenant, kind="first_party")["collector_disclosure"] is False
    for body, field in (
        ({"kind": "collector"}, "kind"),
        ({"kind": None}, "kind"),
        ({"collector_disclosure": True}, "collector_disclosure"),
        ({"kind": "agency", "collector_disclosure": False}, "collector_disclosure"),
    ):
        response = client.patch("/api/v1/creditor", json=body, headers=tenant.headers)
        assert response.status_code == 422, (body, response.text)
        assert field in {f["field"].split(".")[-1] for f in response.json()["error"]["fields"]}
    assert client.get("/api/v1/creditor", headers=tenant.headers).json()["kind"] == "first_party"


def test_an_agency_never_texts_us_or_canadian_numbers(
    client: TestClient, db: Database, clock: FixedClock, worker: OutboxWorker
) -> None:
    agency = make_tenant(db, clock, "Recovery Partners", kind="agency")
    ids = {
        phone: import_debt(client, agency, external_id=phone, debtor_phone=phone)
        for phone in (NY, TORONTO, UK)
    }
    for debt_id in ids.values():
        response = client.post(f"/api/v1/debts/{debt_id}/statements", headers=agency.headers)
        assert response.status_code == 202, response.text
    clock.advance(timedelta(hours=2))
    worker.run_once()
    for phone in (NY, TORONTO):
        [statement] = messages_of(client, agency, ids[phone])
        assert (statement["status"], statement["held_reason"]) == ("canceled", "agency_rule")
        assert statement["send_after"] is None
    [uk] = messages_of(client, agency, ids[UK])
    assert uk["status"] == "delivered" and uk["held_reason"] is None
    # The collector says so (FDCPA 807(11)).
    assert str(uk["body"]).startswith("This is a debt collector.")
    # A US debtor who writes gets nothing back from an agency either.
    send_sms(client, NY, "HELP")
    worker.run_once()
    with db.transaction() as session:
        to_ny = session.scalars(select(Message).where(Message.to_phone == NY)).all()
    assert {(m.status, m.held_reason) for m in to_ny if m.direction == "outbound"} == {
        ("canceled", "agency_rule")
    }


def test_a_creditor_turned_agency_keeps_its_waiting_us_texts_from_going(
    client: TestClient, tenant: Tenant, clock: FixedClock, worker: OutboxWorker
) -> None:
    debt_id = import_debt(client, tenant, debtor_phone=NY)
    clock.advance(timedelta(hours=8))  # 18:00 in New York: statement goes tomorrow
    clock.advance(timedelta(hours=4))  # 22:00: outside the window
    response = client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
    assert response.json()["message"]["held_reason"] == "outside_window"
    assert "debt collector" not in response.json()["message"]["body"]
    patch(client, tenant, kind="agency")
    clock.advance(timedelta(hours=14))
    worker.run_once()
    [statement] = messages_of(client, tenant, debt_id)
    assert (statement["status"], statement["held_reason"]) == ("canceled", "agency_rule")
