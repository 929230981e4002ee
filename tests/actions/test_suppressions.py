"""Suppressions: a suppressed debtor gets nothing initiated, and answers only where the
reason allows; set, listed and lifted through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.clock import FixedClock
from app.creditors.models import Creditor
from app.db import Database
from app.messaging.models import Message
from app.security import create_api_key
from app.worker import OutboxWorker
from tests.conftest import Tenant, make_tenant
from tests.helpers import import_debt, send_sms

NY = "+12125550123"


def suppress(client: TestClient, tenant: Tenant, debt_id: str, **body: object) -> dict[str, object]:
    payload = {"reason": "attorney_represented", "evidence_note": "letter from counsel", **body}
    response = client.post(
        f"/api/v1/debts/{debt_id}/suppressions", json=payload, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    result: dict[str, object] = response.json()
    return result


def outbound(db: Database) -> list[Message]:
    with db.transaction() as session:
        return list(
            session.scalars(
                select(Message)
                .where(Message.direction == "outbound")
                .order_by(Message.created_at, Message.id)
            )
        )


def statement(client: TestClient, tenant: Tenant, debt_id: str) -> dict[str, object]:
    response = client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
    assert response.status_code == 202, response.text
    message: dict[str, object] = response.json()["message"]
    return message


def test_attorney_represented_debtor_gets_nothing_but_the_opt_out_confirmation(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock, worker: OutboxWorker
) -> None:
    debt_id = import_debt(client, tenant, debtor_phone=NY)
    clock.set(datetime(2026, 11, 26, 3, tzinfo=UTC))  # 22:00: the statement waits
    assert statement(client, tenant, debt_id)["status"] == "scheduled"
    created = suppress(client, tenant, debt_id)
    assert created["active"] is True and created["replies_allowed"] is False
    assert created["ends_at"] is None
    [waiting] = outbound(db)
    assert (waiting.status, waiting.held_reason) == ("canceled", "suppression")
    again = statement(client, tenant, debt_id)
    assert (again["status"], again["held_reason"]) == ("canceled", "suppression")
    clock.set(datetime(2026, 11, 26, 15, tzinfo=UTC))
    send_sms(client, NY, "PAY")
    worker.run_once()
    assert all(m.status == "canceled" for m in outbound(db))
    send_sms(client, NY, "STOP")
    worker.run_once()
    confirmations = [m for m in outbound(db) if m.kind == "opt_out_confirmation"]
    assert [m.status for m in confirmations] == ["delivered"]
    listed = client.get(f"/api/v1/debts/{debt_id}/suppressions", headers=tenant.headers).json()
    assert [s["reason"] for s in listed["items"]] == ["attorney_represented"]


def test_a_disputing_debtor_is_answered_but_not_collected(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock, worker: OutboxWorker
) -> None:
    debt_id = import_debt(client, tenant, debtor_phone=NY)
    created = suppress(client, tenant, debt_id, reason="dispute", evidence_note="wrote in")
    assert created["replies_allowed"] is True
    assert statement(client, tenant, debt_id)["held_reason"] == "suppression"
    send_sms(client, NY, "HELP")
    worker.run_once()
    help_answer = [m for m in outbound(db) if m.kind == "reply"]
    assert [m.status for m in help_answer] == ["delivered"]


def test_breathing_space_ends_by_itself_and_a_lift_resumes_contact(
    client: TestClient, tenant: Tenant, clock: FixedClock, worker: OutboxWorker
) -> None:
    debt_id = import_debt(client, tenant, debtor_phone=NY)
    space = suppress(client, tenant, debt_id, reason="breathing_space", evidence_note="BS ref 1")
    assert datetime.fromisoformat(str(space["ends_at"])) == clock.now() + timedelta(days=60)
    assert statement(client, tenant, debt_id)["held_reason"] == "suppression"
    clock.advance(timedelta(days=61))
    assert statement(client, tenant, debt_id)["held_reason"] is None
    other = import_debt(client, tenant, external_id="INV-2", debtor_phone="+12125550124")
    bankruptcy = suppress(client, tenant, other, reason="bankruptcy", evidence_note="case 26-1")
    assert statement(client, tenant, other)["held_reason"] == "suppression"
    lifted = client.delete(f"/api/v1/suppressions/{bankruptcy['id']}", headers=tenant.headers)
    assert lifted.status_code == 200 and lifted.json()["active"] is False
    assert statement(client, tenant, other)["status"] in ("queued", "scheduled")
    twice = client.delete(f"/api/v1/suppressions/{bankruptcy['id']}", headers=tenant.headers)
    assert twice.status_code == 409


def test_bad_suppressions_are_refused_with_the_field(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant, debtor_phone=NY)
    for body, field in (
        ({"reason": "on holiday", "evidence_note": "x"}, "reason"),
        ({"reason": "deceased", "evidence_note": ""}, "evidence_note"),
        ({"reason": "deceased"}, "evidence_note"),
        (
            {"reason": "deceased", "evidence_note": "x", "ends_at": "2020-01-01T00:00:00Z"},
            "ends_at",
        ),
        ({"reason": "deceased", "evidence_note": "x", "ends_at": "2027-01-01T00:00:00"}, "ends_at"),
    ):
        response = client.post(
            f"/api/v1/debts/{debt_id}/suppressions", json=body, headers=tenant.headers
        )
        assert response.status_code == 422, (body, response.text)
        fields = {f["field"].split(".")[-1] for f in response.json()["error"]["fields"]}
        assert field in fields, (body, fields)
    with db.transaction() as session:
        creditor = session.get(Creditor, tenant.creditor_id)
        assert creditor is not None
        _, agent_key = create_api_key(session, creditor, clock, role="agent")
    response = client.post(
        f"/api/v1/debts/{debt_id}/suppressions",
        json={"reason": "deceased", "evidence_note": "x"},
        headers={"Authorization": f"Bearer {agent_key}"},
    )
    assert response.status_code == 403
    stranger = make_tenant(db, clock, "Someone Else")
    response = client.post(
        f"/api/v1/debts/{debt_id}/suppressions",
        json={"reason": "deceased", "evidence_note": "x"},
        headers=stranger.headers,
    )
    assert response.status_code == 404
    assert client.delete("/api/v1/suppressions/nope", headers=tenant.headers).status_code == 404


def test_cadence_skips_a_suppressed_debtor(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock, worker: OutboxWorker
) -> None:
    client.patch("/api/v1/creditor", json={"cadence_enabled": True}, headers=tenant.headers)
    debt_id = import_debt(client, tenant, debtor_phone=NY, due_date="2026-11-20")
    suppress(client, tenant, debt_id, reason="cease_and_desist", evidence_note="letter")
    worker.run_once()
    assert {(m.status, m.held_reason) for m in outbound(db)} == {("canceled", "suppression")}
