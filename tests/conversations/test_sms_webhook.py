"""The inbound SMS webhook's plain-ASGI path (app.conversations.sms_webhook) answers a
signed text exactly as the FastAPI route does, and hands everything else to the route
with the body intact (tests/actions/test_inbound.py, test_inbox.py, test_edge*.py and
test_sqlite_busy.py hold the refusals and errors themselves)."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.conversations.models import InboundText
from app.db import Database
from tests.conftest import AUTH_TOKEN, PUBLIC_URL
from tests.fake_twilio import inbound_sms_params, twilio_signature

PATH = "/webhooks/twilio/sms"
NY = "+12125550123"


def signed_post(client: TestClient, params: dict[str, str], query: str = "") -> httpx.Response:
    url = f"{PUBLIC_URL}{PATH}{query}"
    return client.post(
        PATH + query,
        data=params,
        headers={"X-Twilio-Signature": twilio_signature(AUTH_TOKEN, url, params)},
    )


def stored(db: Database) -> list[tuple[str, str, str]]:
    with db.transaction() as session:
        return [
            (t.provider_sid, t.from_phone, t.body)
            for t in session.scalars(select(InboundText).order_by(InboundText.id))
        ]


def test_a_signed_text_is_answered_as_the_route_answers_it(
    client: TestClient, db: Database
) -> None:
    fast = inbound_sms_params(
        from_=NY, to="+15005550006", body="já paguei 😀", message_sid="SM" + "1" * 32
    )
    # A query string always goes to the route: the reference answer.
    routed = inbound_sms_params(
        from_=NY, to="+15005550006", body="PLAN", message_sid="SM" + "2" * 32
    )
    a = signed_post(client, fast)
    b = signed_post(client, routed, "?via=route")
    assert a.status_code == b.status_code == 200
    assert a.headers["content-type"] == b.headers["content-type"]
    assert a.content == b.content
    assert stored(db) == [("SM" + "1" * 32, NY, "já paguei 😀"), ("SM" + "2" * 32, NY, "PLAN")]
    # The same MessageSid again: answered the same, stored once.
    again = signed_post(client, fast)
    assert again.status_code == 200 and again.content == a.content
    assert len(stored(db)) == 2


def test_what_it_does_not_take_reaches_the_route_with_its_body(
    client: TestClient, db: Database
) -> None:
    params = inbound_sms_params(
        from_=NY, to="+15005550006", body="PAY", message_sid="SM" + "3" * 32
    )
    # A wrong signature: the route's 403, nothing stored.
    forged = client.post(PATH, data=params, headers={"X-Twilio-Signature": "forged"})
    assert forged.status_code == 403
    # No MessageSid: the route reads the replayed body and names the field.
    without = {
        k: v for k, v in params.items() if k not in ("MessageSid", "SmsMessageSid", "SmsSid")
    }
    refused = signed_post(client, without)
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"][0]["field"] == "MessageSid"
    # NULs are removed, not refused, on either path.
    nul = {**params, "Body": "PA\x00Y"}
    assert signed_post(client, nul).status_code == 200
    assert stored(db) == [("SM" + "3" * 32, NY, "PAY")]
