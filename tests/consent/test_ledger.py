"""The consent ledger: consent as recorded at import or through the API, every
revocation in the debtor's exact words, the one confirmation, exported as CSV; a
revocation holds for every creditor that texts the number."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.clock import FixedClock
from app.config import Settings
from app.db import Database
from app.debts.models import Debtor
from app.main import create_app
from app.messaging.gateway import TwilioGateway
from app.messaging.models import Message
from app.worker import OutboxWorker
from tests.conftest import Tenant, make_tenant
from tests.fake_twilio import FakeTwilio
from tests.helpers import import_debt, send_sms

NY = "+12125550123"


def ledger(client: TestClient, tenant: Tenant, **params: str) -> list[dict[str, str]]:
    response = client.get("/api/v1/consent-ledger", params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, str]] = response.json()["items"]
    return items


def test_revocation_in_any_words_is_kept_and_holds_for_every_creditor(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock, worker: OutboxWorker
) -> None:
    other = make_tenant(db, clock, "Second Bank")
    import_debt(client, other, debtor_phone=NY, debtor_consent="opened account online")
    clock.advance(timedelta(minutes=1))
    debt_id = import_debt(client, tenant, debtor_phone=NY, debtor_consent="signed form 2026-01-05")
    client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
    worker.run_once()
    clock.advance(timedelta(minutes=5))
    send_sms(client, NY, "no más mensajes por favor")
    worker.run_once()
    with db.transaction() as session:
        statuses = {d.creditor_id: d.contact_status for d in session.scalars(select(Debtor))}
        [confirmation] = session.scalars(
            select(Message).where(Message.kind == "opt_out_confirmation")
        ).all()
    assert statuses == {tenant.creditor_id: "opted_out", other.creditor_id: "opted_out"}
    own = ledger(client, tenant)
    assert [(e["event"], e["channel"]) for e in own] == [
        ("consent", "import"),
        ("revocation", "sms"),
    ]
    assert own[0]["words"] == "signed form 2026-01-05"
    revocation = own[1]
    assert revocation["words"] == "no más mensajes por favor"
    assert revocation["effective_at"] == clock.now().isoformat()
    assert revocation["confirmation_message_id"] == confirmation.id
    assert confirmation.creditor_id == tenant.creditor_id
    # The other creditor sees that the number revoked, not what it told someone else.
    theirs = ledger(client, other)
    assert [(e["event"], e["source"]) for e in theirs] == [
        ("consent", "this creditor"),
        ("revocation", "another conversation with this number"),
    ]
    assert theirs[1]["words"] == "" and theirs[1]["confirmation_message_id"] == ""
    # START is in the ledger too, and only this creditor's words are shown to it.
    clock.advance(timedelta(minutes=5))
    send_sms(client, NY, "START")
    assert [e["event"] for e in ledger(client, tenant, phone="(212) 555-0123")][-1] == "opt_in"


def test_the_ledger_exports_as_csv_and_takes_consent_through_the_api(
    client: TestClient, tenant: Tenant, clock: FixedClock
) -> None:
    response = client.post(
        "/api/v1/consent-ledger",
        json={"phone": "+1 212 555 0123", "how": '=HYPERLINK("x") said yes on a call'},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["phone"] == NY
    bad = client.post(
        "/api/v1/consent-ledger", json={"phone": "12", "how": "x"}, headers=tenant.headers
    )
    assert bad.status_code == 422
    assert "phone" in {f["field"].split(".")[-1] for f in bad.json()["error"]["fields"]}
    exported = client.get("/api/v1/consent-ledger.csv", headers=tenant.headers)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["phone"], r["event"], r["channel"]) for r in rows] == [(NY, "consent", "api")]
    # A formula is never handed to a spreadsheet as one.
    assert rows[0]["words"].startswith("'=")
    stranger = make_tenant_for(client, clock)
    assert ledger(client, stranger) == []


def make_tenant_for(client: TestClient, clock: FixedClock) -> Tenant:
    app_db: Database = client.app.state.db  # type: ignore[attr-defined]
    return make_tenant(app_db, clock, "Unrelated Co")


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
    return OutboxWorker(db, twilio_gateway, clock, twilio_settings)


def test_a_provider_opt_out_is_a_revocation_too(
    db: Database,
    clock: FixedClock,
    fake_twilio: FakeTwilio,
    tw_client: TestClient,
    tw_worker: OutboxWorker,
    tenant: Tenant,
) -> None:
    debt_id = import_debt(tw_client, tenant, debtor_phone=NY)
    fake_twilio.fail_next(status=400, code=21610, message="Attempt to send to unsubscribed")
    clock.advance(timedelta(minutes=1))
    tw_client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
    tw_worker.run_once()
    entries = ledger(tw_client, tenant)
    assert [(e["event"], e["channel"]) for e in entries] == [
        ("consent", "import"),
        ("revocation", "provider"),
    ]
