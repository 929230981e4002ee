"""Small builders shared by tests."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Tenant


def debt_row(external_id: str = "INV-1", **overrides: Any) -> dict[str, Any]:
    """One import row; `debtor_*` keys override the debtor's fields."""
    debtor = {"name": "Alex Morgan", "phone": "+14155550123"}
    for key in list(overrides):
        if key.startswith("debtor_"):
            debtor[key.removeprefix("debtor_")] = overrides.pop(key)
    row: dict[str, Any] = {
        "external_id": external_id,
        "debtor": debtor,
        "amount": 12360,
        "currency": "USD",
        "due_date": "2026-10-29",
        "description": "Invoice 1",
    }
    row.update(overrides)
    return row


def import_debt(client: TestClient, tenant: Tenant, **overrides: Any) -> str:
    """Import one debt through the API and return its id."""
    response = client.post(
        "/api/v1/debts", json={"items": [debt_row(**overrides)]}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    assert result["status"] in ("created", "updated"), result
    return str(result["id"])


_sms_counter = 0


def handle_inbound(client: Any) -> int:
    """Run the workers' inbound step (the real one) for every text the webhook stored:
    the webhook only stores and acknowledges. `client` is a TestClient or the app
    itself. How many texts were handled."""
    app = getattr(client, "app", client)
    processed: int = app.state.inbound_processor.process_pending()
    return processed


def post_sms(
    client: TestClient,
    from_: str,
    body: str,
    *,
    message_sid: str | None = None,
    to: str = "+15005550006",
) -> Any:
    """Post a debtor's text to the signed Twilio webhook (stored, not yet handled)."""
    from tests.conftest import AUTH_TOKEN, PUBLIC_URL
    from tests.fake_twilio import inbound_sms_params, twilio_signature

    global _sms_counter
    _sms_counter += 1
    sid = message_sid or f"SM{_sms_counter:032d}"
    params = inbound_sms_params(from_=from_, to=to, body=body, message_sid=sid)
    url = f"{PUBLIC_URL}/webhooks/twilio/sms"
    return client.post(
        "/webhooks/twilio/sms",
        data=params,
        headers={"X-Twilio-Signature": twilio_signature(AUTH_TOKEN, url, params)},
    )


def send_sms(
    client: TestClient, from_: str, body: str, *, message_sid: str | None = None, app: Any = None
) -> str:
    """Deliver a debtor's text through the signed Twilio webhook, then handle it as a
    worker does (see handle_inbound; `app` when `client` talks to a served app over
    HTTP); returns the TwiML the webhook answered."""
    response = post_sms(client, from_, body, message_sid=message_sid)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    handle_inbound(app if app is not None else client)
    return str(response.text)


def outbound_bodies(db: Any, debtor_phone: str) -> list[str]:
    """Bodies of every outbound message to a number, oldest first."""
    from sqlalchemy import select

    from app.messaging.models import CHRONOLOGICAL, Message

    with db.transaction() as session:
        return list(
            session.scalars(
                select(Message.body)
                .where(Message.to_phone == debtor_phone, Message.direction == "outbound")
                .order_by(*CHRONOLOGICAL)
            )
        )


def queue_statements(db: Any, creditor_id: str, now: Any, phones: list[str], prefix: str) -> None:
    """Import one overdue debt per phone for the creditor (external ids `prefix`-N) and
    queue a statement for each, in one transaction."""
    from sqlalchemy import select

    from app.actions.debts import import_debts, queue_statement
    from app.creditors.models import Creditor
    from app.debts.models import Debt

    with db.transaction() as session:
        creditor = session.get(Creditor, creditor_id)
        assert creditor is not None
        rows = [
            {
                "external_id": f"{prefix}-{i}",
                "debtor": {"name": f"P{i}", "phone": phone},
                "amount": 1000 + i,
                "currency": "USD",
                "due_date": "2026-11-01",
            }
            for i, phone in enumerate(phones)
        ]
        outcomes = list(import_debts(session, creditor, rows, now=now, actor="t"))
        assert all(o.status == "created" for o in outcomes)
        debts = select(Debt).where(Debt.creditor_id == creditor_id).order_by(Debt.external_id)
        for debt in session.scalars(debts):
            queue_statement(session, creditor, debt, now=now, actor="t")
