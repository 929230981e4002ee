"""Twilio delivery-status callbacks: signatures, ordering, error codes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.clock import FixedClock
from app.db import Database
from app.messaging.models import Message
from app.worker import OutboxWorker
from tests.conftest import AUTH_TOKEN, PUBLIC_URL, Tenant
from tests.fake_twilio import status_callback_params, twilio_signature
from tests.helpers import import_debt

PATH = "/webhooks/twilio/status"


def post_status(
    client: TestClient,
    params: dict[str, str],
    *,
    query: str = "",
    token: str = AUTH_TOKEN,
    signature: str | None = None,
) -> int:
    url = f"{PUBLIC_URL}{PATH}{query}"
    headers = {"X-Twilio-Signature": signature or twilio_signature(token, url, params)}
    return client.post(PATH + query, data=params, headers=headers).status_code


@pytest.fixture
def sent_message(
    client: TestClient, tenant: Tenant, worker: OutboxWorker, clock: FixedClock, db: Database
) -> Message:
    debt_id = import_debt(client, tenant)
    client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
    clock.set(datetime(2026, 11, 25, 16, 0, tzinfo=UTC))
    with db.transaction() as session:
        message = session.scalars(select(Message)).one()
        # As the twilio gateway leaves it: accepted, not yet delivered.
        message.status, message.provider_sid, message.sent_at = (
            "submitted",
            "SM" + "a" * 32,
            clock.now(),
        )
        message.send_after = None
        return message


def reload(db: Database, message: Message) -> Message:
    with db.transaction() as session:
        found = session.get(Message, message.id)
        assert found is not None
        return found


def test_statuses_move_forward_only(
    client: TestClient, sent_message: Message, db: Database
) -> None:
    sid = sent_message.provider_sid or ""
    assert post_status(client, status_callback_params(sid, "sent")) == 204
    assert reload(db, sent_message).status == "sent"
    assert post_status(client, status_callback_params(sid, "delivered")) == 204
    delivered = reload(db, sent_message)
    assert delivered.status == "delivered" and delivered.delivered_at is not None
    assert post_status(client, status_callback_params(sid, "sent")) == 204
    assert post_status(client, status_callback_params(sid, "queued")) == 204
    assert reload(db, sent_message).status == "delivered"


def test_missing_or_wrong_signature_is_403(
    client: TestClient, sent_message: Message, db: Database
) -> None:
    params = status_callback_params(sent_message.provider_sid or "", "delivered")
    assert client.post(PATH, data=params).status_code == 403
    assert post_status(client, params, token="not-the-token") == 403
    forged = client.post(PATH, data=params, headers={"X-Twilio-Signature": "AAAA"})
    assert forged.status_code == 403 and "signature" not in forged.text
    # A signature over other parameters does not validate this body.
    other = {**params, "MessageStatus": "failed"}
    assert (
        post_status(
            client, params, signature=twilio_signature(AUTH_TOKEN, PUBLIC_URL + PATH, other)
        )
        == 403
    )
    assert reload(db, sent_message).status == "submitted"


def test_undelivered_with_landline_code_marks_the_number(
    client: TestClient, tenant: Tenant, sent_message: Message, db: Database
) -> None:
    params = status_callback_params(
        sent_message.provider_sid or "", "undelivered", error_code=30006
    )
    assert post_status(client, params) == 204
    message = reload(db, sent_message)
    assert message.status == "undelivered" and message.error_code == 30006
    debt = client.get("/api/v1/debts", headers=tenant.headers).json()["items"][0]
    assert debt["debtor"]["contact_status"] == "invalid"


def test_callback_finds_a_message_whose_sid_was_never_recorded(
    client: TestClient, sent_message: Message, db: Database
) -> None:
    with db.transaction() as session:
        row = session.get(Message, sent_message.id)
        assert row is not None
        row.provider_sid, row.status = None, "sending"
    params = status_callback_params("SM" + "b" * 32, "delivered")
    assert post_status(client, params, query=f"?mid={sent_message.id}") == 204
    message = reload(db, sent_message)
    assert message.provider_sid == "SM" + "b" * 32 and message.status == "delivered"


def test_unknown_message_is_acknowledged(client: TestClient) -> None:
    assert post_status(client, status_callback_params("SM" + "c" * 32, "delivered")) == 204


def test_no_auth_token_configured_refuses_everything(
    db: Database, clock: FixedClock, database_url: str
) -> None:
    from app.main import create_app
    from tests.conftest import make_settings

    settings = make_settings(database_url, twilio_auth_token=None)
    with TestClient(create_app(settings, clock=clock, database=db)) as client:
        params = status_callback_params("SM" + "d" * 32, "delivered")
        assert post_status(client, params) == 403
