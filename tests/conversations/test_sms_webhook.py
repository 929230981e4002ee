"""The inbound SMS webhook's plain-ASGI path (app.conversations.sms_webhook) answers a
signed text exactly as the FastAPI route does, and hands everything else to the route
with the body intact (tests/actions/test_inbound.py, test_inbox.py, test_edge*.py and
test_sqlite_busy.py hold the refusals and errors themselves). Alone in front of a
stand-in for the route, it shows which requests it takes and which it passes on."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.types import Receive, Scope, Send

from app.clock import FixedClock
from app.config import Settings
from app.conversations.api import EMPTY_TWIML
from app.conversations.inbox import GroupCommitInbox
from app.conversations.models import InboundText
from app.conversations.sms_webhook import InboundSmsFastPath
from app.db import Database
from app.edge import read_body
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


class Downstream:
    """What sits behind the fast path in the app (the framework and the route): here it
    only notes each request it gets, with the body it could read, and answers 299."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, _ = await read_body(receive)
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b"route"})


def test_alone_it_takes_a_signed_text_and_passes_the_rest_on_with_its_body(
    settings: Settings, db: Database, clock: FixedClock
) -> None:
    downstream = Downstream()
    fast = InboundSmsFastPath(
        downstream,
        settings=settings,
        inbox=GroupCommitInbox(db),
        clock=clock,
        empty_twiml=EMPTY_TWIML,
    )
    good = inbound_sms_params(from_=NY, to="+15005550006", body="PAY", message_sid="SM" + "4" * 32)
    client = TestClient(fast, base_url="https://testserver")  # no lifespan: plain ASGI
    taken = signed_post(client, good)
    assert (taken.status_code, taken.text) == (200, EMPTY_TWIML)
    assert downstream.bodies == []  # answered without the route
    assert stored(db) == [("SM" + "4" * 32, NY, "PAY")]

    forged = client.post(PATH, data=good, headers={"X-Twilio-Signature": "forged"})
    missing = {k: v for k, v in good.items() if k != "From"}
    no_sender = signed_post(client, missing)
    with_query = signed_post(client, good, "?via=route")
    as_json = client.post(PATH, json=good, headers={"X-Twilio-Signature": "x"})
    assert [r.status_code for r in (forged, no_sender, with_query, as_json)] == [299] * 4
    # Each reached the route with the whole body it was sent.
    assert len(downstream.bodies) == 4
    assert downstream.bodies[0] == forged.request.content
    assert downstream.bodies[1] == no_sender.request.content
    assert downstream.bodies[2] == with_query.request.content
    assert len(stored(db)) == 1


def test_a_text_it_answers_is_in_the_access_log_once_without_the_number(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """In front of the access-log middleware, it writes the line itself: once, with the
    route's path and the status, and nothing of the sender."""
    params = inbound_sms_params(
        from_=NY, to="+15005550006", body="PAY", message_sid="SM" + "7" * 32
    )
    with caplog.at_level(logging.INFO, logger="parley.access"):
        assert signed_post(client, params).status_code == 200
        forged = client.post(PATH, data=params, headers={"X-Twilio-Signature": "forged"})
        assert forged.status_code == 403
    lines = [r for r in caplog.records if r.name == "parley.access"]
    assert [(r.__dict__["path"], r.__dict__["status"]) for r in lines] == [
        (PATH, 200),
        (PATH, 403),
    ]
    for record in lines:
        assert "2125550123" not in str(record.__dict__)
