"""The automatic statement cadence and escalation after repeated silence."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.clock import FixedClock
from app.conversations.models import Conversation
from app.db import Database
from app.debts.models import Debt
from app.messaging.models import Message
from app.worker import OutboxWorker
from tests.conftest import Tenant
from tests.helpers import import_debt, outbound_bodies, send_sms

NY = "+12125550123"


def at_ten_in_new_york(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 15, 0, tzinfo=UTC)


def enable(client: TestClient, tenant: Tenant, **settings: object) -> None:
    response = client.patch(
        "/api/v1/creditor", json={"cadence_enabled": True, **settings}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text


def debt(db: Database, debt_id: str) -> Debt:
    with db.transaction() as session:
        found = session.get(Debt, debt_id)
        assert found is not None
        return found


def test_statements_before_on_and_after_the_due_date_then_monthly(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock, worker: OutboxWorker
) -> None:
    enable(client, tenant)
    debt_id = import_debt(client, tenant, debtor_phone=NY, due_date="2026-11-30")
    worker.run_once()
    assert outbound_bodies(db, NY) == []
    sent_on = []
    day = date(2026, 11, 25)
    while day <= date(2027, 1, 31):
        clock.set(at_ten_in_new_york(day))
        before = len(outbound_bodies(db, NY))
        worker.run_once()
        if len(outbound_bodies(db, NY)) > before:
            sent_on.append(day)
        day += timedelta(days=1)
        # Keep the debtor talking so the cadence is not escalated in this test.
        if sent_on and sent_on[-1] == day - timedelta(days=1):
            send_sms(client, NY, "ok thanks")
    assert sent_on == [date(2026, 11, 27), date(2026, 11, 30), date(2026, 12, 7), date(2027, 1, 6)]
    bodies = [b for b in outbound_bodies(db, NY) if b.startswith("Acme Finance: your balance")]
    assert "is due Nov 30, 2026" in bodies[0] and "is due today" in bodies[1]
    assert "(7 days ago)" in bodies[2]
    assert debt(db, debt_id).next_statement_on == date(2027, 2, 5)


def test_cadence_is_off_by_default_and_respects_the_status(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock, worker: OutboxWorker
) -> None:
    import_debt(client, tenant, debtor_phone=NY, due_date="2026-11-01")
    worker.run_once()
    assert outbound_bodies(db, NY) == []
    enable(client, tenant)
    send_sms(client, NY, "this is not my debt")  # disputed: collection stops
    clock.advance(timedelta(minutes=2))
    worker.run_once()
    assert not any(b.startswith("Acme Finance: your balance") for b in outbound_bodies(db, NY))


def test_silence_escalates_to_an_agent_then_to_an_agency(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock, worker: OutboxWorker
) -> None:
    enable(client, tenant, escalate_after_unanswered=2, rebill_every_days=7)
    debt_id = import_debt(client, tenant, debtor_phone=NY, due_date="2026-11-01")
    levels = []
    for week in range(7):
        clock.set(at_ten_in_new_york(date(2026, 11, 25) + timedelta(days=7 * week)))
        worker.run_once()
        levels.append(debt(db, debt_id).escalation)
    assert levels == [None, None, "agent", "agent", "agency", "agency", "agency"]
    with db.transaction() as session:
        statements = session.scalars(select(Message).where(Message.kind == "statement")).all()
        conversation = session.scalars(select(Conversation)).one()
    assert len(statements) == 4
    assert conversation.needs_attention and "agency" in (conversation.attention_reason or "")
    assert debt(db, debt_id).needs_review


def test_cadence_settings_are_validated(client: TestClient, tenant: Tenant) -> None:
    bad = client.patch("/api/v1/creditor", json={"cadence_offsets": [0, 0]}, headers=tenant.headers)
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "cadence_offsets"
    bad = client.patch("/api/v1/creditor", json={"rebill_every_days": 1}, headers=tenant.headers)
    assert bad.status_code == 422
