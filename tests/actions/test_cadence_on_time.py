"""The cadence is never late (it selects exactly the debts due in their debtors' local
dates) and never stale (a statement's words are written when it is sent)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.actions.cadence import statement_cadence
from app.clock import FixedClock
from app.config import Settings
from app.db import Database
from app.debts.models import Debt
from app.main import body_renderers, create_app
from app.messaging.gateway import TwilioGateway
from app.messaging.models import Message
from app.worker import OutboxWorker
from tests.conftest import Tenant
from tests.fake_twilio import FakeTwilio
from tests.helpers import debt_row, import_debt

NY = "+12125550123"


def enable(client: TestClient, tenant: Tenant, **settings: object) -> None:
    response = client.patch(
        "/api/v1/creditor", json={"cadence_enabled": True, **settings}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text


def test_debts_due_far_east_are_not_crowded_out_by_ones_not_due_yet(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock, settings: Settings
) -> None:
    enable(client, tenant, cadence_offsets=[0])
    # 700 debts in Los Angeles and 40 in Kiritimati (UTC+14), all due on 1 December.
    rows = [
        debt_row(
            f"LA-{i}",
            debtor_phone=f"+1310555{i:04d}",
            debtor_timezone="America/Los_Angeles",
            due_date="2026-12-01",
        )
        for i in range(700)
    ] + [
        debt_row(
            f"KI-{i}",
            debtor_phone=f"+1808555{i:04d}",
            debtor_timezone="Pacific/Kiritimati",
            due_date="2026-12-01",
        )
        for i in range(40)
    ]
    response = client.post("/api/v1/debts", json={"items": rows}, headers=tenant.headers)
    assert response.status_code == 200
    assert {r["status"] for r in response.json()["results"]} == {"created"}
    # 1 December 00:30 in Kiritimati is 30 November 02:30 in Los Angeles.
    now = datetime(2026, 11, 30, 10, 30, tzinfo=UTC)
    with db.transaction() as session:
        statement_cadence(session, now, settings)
    with db.transaction() as session:
        queued = session.scalars(select(Message.to_phone).where(Message.kind == "statement"))
        phones = list(queued)
        waiting = session.scalar(
            select(func.count(Debt.id)).where(Debt.next_statement_on == date(2026, 12, 1))
        )
    assert sorted(phones) == sorted(f"+1808555{i:04d}" for i in range(40))
    assert waiting == 700
    # Once Los Angeles reaches 1 December, all 700 are queued in the same run.
    with db.transaction() as session:
        statement_cadence(session, datetime(2026, 12, 1, 8, 5, tzinfo=UTC), settings)
    with db.transaction() as session:
        count = session.scalar(select(func.count(Message.id)).where(Message.kind == "statement"))
    assert count == 740


@pytest.fixture
def tw_client(
    db: Database, twilio_settings: Settings, clock: FixedClock, twilio_gateway: TwilioGateway
) -> Iterator[TestClient]:
    app = create_app(twilio_settings, clock=clock, gateway=twilio_gateway, database=db)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def tw_worker(
    db: Database, twilio_gateway: TwilioGateway, clock: FixedClock, twilio_settings: Settings
) -> OutboxWorker:
    return OutboxWorker(db, twilio_gateway, clock, twilio_settings, renderers=body_renderers())


def test_a_statement_says_what_is_true_when_it_is_sent(
    tw_client: TestClient,
    tenant: Tenant,
    db: Database,
    clock: FixedClock,
    tw_worker: OutboxWorker,
    fake_twilio: FakeTwilio,
) -> None:
    # Queued at 22:00 in New York on the due date: "is due today".
    clock.set(datetime(2026, 11, 26, 3, 0, tzinfo=UTC))
    debt_id = import_debt(tw_client, tenant, debtor_phone=NY, due_date="2026-11-25")
    queued = tw_client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
    assert "is due today" in queued.json()["message"]["body"]
    # The worker was down for two days; half the balance was paid meanwhile.
    with db.transaction() as session:
        debt = session.get(Debt, debt_id)
        assert debt is not None
        debt.balance = 6180
    clock.set(datetime(2026, 11, 28, 16, 0, tzinfo=UTC))
    tw_worker.run_once()
    [sent] = fake_twilio.messages
    assert "$61.80 was due Nov 25, 2026 (3 days ago)" in str(sent["body"])
    listed = tw_client.get(f"/api/v1/debts/{debt_id}/messages", headers=tenant.headers).json()
    assert listed["items"][0]["body"] == sent["body"]


def test_a_statement_of_a_debt_settled_meanwhile_is_not_sent(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock, worker: OutboxWorker
) -> None:
    clock.set(datetime(2026, 11, 26, 3, 0, tzinfo=UTC))
    debt_id = import_debt(client, tenant, debtor_phone=NY)
    client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
    with db.transaction() as session:
        debt = session.get(Debt, debt_id)
        assert debt is not None
        debt.balance = 0
        debt.status = "settled"
    clock.set(datetime(2026, 11, 26, 20, 0, tzinfo=UTC))
    worker.run_once()
    with db.transaction() as session:
        [message] = session.scalars(select(Message)).all()
    assert (message.status, message.held_reason) == ("canceled", "canceled")


def test_initiated_texts_carry_a_validity_period_within_the_window(
    tw_client: TestClient,
    tenant: Tenant,
    clock: FixedClock,
    tw_worker: OutboxWorker,
    fake_twilio: FakeTwilio,
) -> None:
    from tests.helpers import send_sms

    debt_id = import_debt(tw_client, tenant, debtor_phone=NY)
    # 20:00 in New York: one hour of the window is left.
    clock.set(datetime(2026, 11, 26, 1, 0, tzinfo=UTC))
    tw_client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
    tw_worker.run_once()
    # 23:00: the debtor writes; the answer goes at once and has no validity limit.
    clock.set(datetime(2026, 11, 26, 4, 0, tzinfo=UTC))
    send_sms(tw_client, NY, "HELP")
    tw_worker.run_once()
    creates = [r for r in fake_twilio.requests if r.method == "POST" and "To" in r.form]
    assert [r.form.get("ValidityPeriod") for r in creates] == [["3600"], None]
