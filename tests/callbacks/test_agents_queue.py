"""The agents' callback queue: filters, claim / complete / reschedule / cancel with their
409s, the brief, the event log, and scoping to the key's creditor."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.clock import FixedClock
from app.db import Database
from app.messaging.models import Message
from tests.callbacks_support import (
    callbacks,
    conversation_of,
    event_kinds,
    last_body,
    put_calendar,
    queue,
    text,
)
from tests.conftest import Tenant, make_tenant
from tests.helpers import import_debt

NY_PHONE = "+12125550101"
OTHER_PHONE = "+12125550102"


def book(client: TestClient, tenant: Tenant, clock: FixedClock, phone: str, letter: str) -> None:
    text(client, clock, phone, "CALL")
    text(client, clock, phone, letter)


def post(client: TestClient, tenant: Tenant, path: str, body: Any = None) -> Any:
    return client.post(f"/api/v1/callbacks/{path}", json=body, headers=tenant.headers)


def setup_two(client: TestClient, tenant: Tenant, clock: FixedClock) -> list[dict[str, Any]]:
    """Two New York debtors booked on Wednesday 11:30 and Friday-after-Thanksgiving."""
    put_calendar(client, tenant)
    for index, phone in enumerate((NY_PHONE, OTHER_PHONE)):
        import_debt(
            client,
            tenant,
            external_id=f"INV-{index}",
            debtor_phone=phone,
            debtor_timezone="America/New_York",
            debtor_name=f"Debtor {index}",
        )
    book(client, tenant, clock, NY_PHONE, "A")  # Wed 11:30
    text(client, clock, OTHER_PHONE, "call me friday at 10am")  # Fri 10:00
    return queue(client, tenant)


def test_queue_filters_by_team_day_status_and_agent(
    client: TestClient, tenant: Tenant, clock: FixedClock
) -> None:
    items = setup_two(client, tenant, clock)
    assert [(i["debtor_name"], i["starts_at_local"]) for i in items] == [
        ("Debtor 0", "2026-11-25T11:30:00-05:00"),
        ("Debtor 1", "2026-11-27T10:00:00-05:00"),
    ]
    assert [i["debtor_name"] for i in queue(client, tenant, day="2026-11-27")] == ["Debtor 1"]
    assert queue(client, tenant, day="2026-11-26") == []
    assert post(client, tenant, f"{items[1]['id']}/claim", {"agent": "sam"}).status_code == 200
    assert [i["status"] for i in queue(client, tenant, status="claimed")] == ["claimed"]
    assert [i["agent"] for i in queue(client, tenant, agent="sam")] == ["sam"]
    assert [i["debtor_name"] for i in queue(client, tenant, status="booked")] == ["Debtor 0"]
    response = client.get("/api/v1/callbacks?status=lost", headers=tenant.headers)
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "status"


def test_claim_defaults_to_the_key_and_conflicts_between_agents(
    client: TestClient, tenant: Tenant, clock: FixedClock, db: Database
) -> None:
    [first, _] = setup_two(client, tenant, clock)
    response = post(client, tenant, f"{first['id']}/claim")
    assert response.status_code == 200, response.text
    assert response.json()["agent"] == "default"  # the API key's name
    assert post(client, tenant, f"{first['id']}/claim").status_code == 200  # idempotent
    response = post(client, tenant, f"{first['id']}/claim", {"agent": "robin"})
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "conflict",
        "message": "already claimed by default",
        "fields": [{"field": "agent", "message": "already claimed by default"}],
    }


def test_invalid_transitions_are_409(
    client: TestClient, tenant: Tenant, clock: FixedClock, db: Database
) -> None:
    [first, second] = setup_two(client, tenant, clock)
    done = post(client, tenant, f"{first['id']}/complete", {"outcome": "reached"})
    assert done.status_code == 200, done.text
    for path, body in (
        ("claim", None),
        ("complete", {"outcome": "refused"}),
        ("cancel", None),
        ("reschedule", {"starts_at": second["starts_at"]}),
    ):
        response = post(client, tenant, f"{first['id']}/{path}", body)
        assert response.status_code == 409, (path, response.text)
        assert response.json()["error"]["code"] == "conflict"
    canceled = post(client, tenant, f"{second['id']}/cancel", {"reason": "agent sick"})
    assert canceled.status_code == 200
    assert post(client, tenant, f"{second['id']}/claim").status_code == 409
    bad = post(client, tenant, f"{second['id']}/complete", {"outcome": "maybe"})
    assert bad.status_code == 422


def test_agent_cancel_frees_the_seat_and_tells_the_debtor(
    client: TestClient, tenant: Tenant, clock: FixedClock, db: Database
) -> None:
    [first, _] = setup_two(client, tenant, clock)
    response = post(client, tenant, f"{first['id']}/cancel")
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["seat"]) == ("canceled", None)
    assert last_body(db, NY_PHONE) == (
        "Acme Finance: sorry, we had to cancel the call planned for Wed 25 Nov 11:30 AM-12:00 PM. "
        "Reply CALL to choose a new time. Reply STOP to opt out."
    )
    # The confirmation's X no longer points at anything.
    assert conversation_of(db, NY_PHONE).menu_kind is None
    assert "callback.canceled" in event_kinds(db)


def test_reschedule_moves_to_an_open_slot_with_seat_rules(
    client: TestClient, tenant: Tenant, clock: FixedClock, db: Database
) -> None:
    put_calendar(client, tenant, capacity=1)
    for index, phone in enumerate((NY_PHONE, OTHER_PHONE)):
        import_debt(
            client,
            tenant,
            external_id=f"INV-{index}",
            debtor_phone=phone,
            debtor_timezone="America/New_York",
        )
    book(client, tenant, clock, NY_PHONE, "A")  # Wed 11:30
    book(client, tenant, clock, OTHER_PHONE, "A")  # Wed 12:00
    first, second = queue(client, tenant)

    full = post(client, tenant, f"{first['id']}/reschedule", {"starts_at": second["starts_at"]})
    assert full.status_code == 409
    assert full.json()["error"]["message"] == "that slot is full; choose another"
    for not_a_slot in (
        "2026-11-25T16:45:00+00:00",  # 11:45, between slots
        "2026-11-26T15:00:00+00:00",  # Thanksgiving
        "2026-11-25T23:00:00+00:00",  # 18:00, after hours
        "2026-11-25T14:00:00+00:00",  # already past
    ):
        response = post(client, tenant, f"{first['id']}/reschedule", {"starts_at": not_a_slot})
        assert response.status_code == 422, not_a_slot
        assert response.json()["error"]["fields"][0]["field"] == "starts_at"
    naive = post(client, tenant, f"{first['id']}/reschedule", {"starts_at": "2026-11-25T17:00"})
    assert naive.status_code == 422

    moved = post(
        client, tenant, f"{first['id']}/reschedule", {"starts_at": "2026-11-27T09:00:00-05:00"}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["starts_at_local"] == "2026-11-27T09:00:00-05:00"
    assert last_body(db, NY_PHONE) == (
        "Acme Finance: your call was moved to Fri 27 Nov 9:00-9:30 AM (your local time). "
        "Reply X to cancel or CALL for another time. Reply STOP to opt out."
    )
    # The freed Wednesday seat can be taken by the other debtor.
    again = post(client, tenant, f"{second['id']}/reschedule", {"starts_at": first["starts_at"]})
    assert again.status_code == 200, again.text
    assert {c.starts_at for c in callbacks(db)} == {
        datetime(2026, 11, 27, 14, 0, tzinfo=UTC),
        datetime(2026, 11, 25, 16, 30, tzinfo=UTC),
    }
    assert event_kinds(db).count("callback.rescheduled") == 2
    # X from the "moved" text cancels the moved call.
    text(client, clock, NY_PHONE, "X")
    assert last_body(db, NY_PHONE).startswith(
        "Acme Finance: your call for Fri 27 Nov 9:00-9:30 AM is canceled."
    )


def test_brief_has_the_debt_and_the_whole_conversation(
    client: TestClient, tenant: Tenant, clock: FixedClock, db: Database
) -> None:
    put_calendar(client, tenant)
    debt_id = import_debt(client, tenant, debtor_phone=NY_PHONE, debtor_timezone="America/New_York")
    other = import_debt(
        client,
        tenant,
        external_id="INV-2",
        debtor_phone=NY_PHONE,
        debtor_timezone="America/New_York",
        amount=5000,
        due_date="2026-11-20",
    )
    text(client, clock, NY_PHONE, "hello?")
    book(client, tenant, clock, NY_PHONE, "B")
    [item] = queue(client, tenant)
    brief = client.get(f"/api/v1/callbacks/{item['id']}/brief", headers=tenant.headers)
    assert brief.status_code == 200, brief.text
    body = brief.json()
    assert body["callback"]["id"] == item["id"]
    assert body["debtor"]["phone"] == NY_PHONE
    focus = body["debt"]["id"]
    assert {focus, *(d["id"] for d in body["other_debts"])} == {debt_id, other}
    assert (body["debt"]["id"], body["debt"]["days_past_due"]) == (debt_id, 27)
    with db.transaction() as session:
        stored = list(
            session.scalars(select(Message.body).order_by(Message.created_at, Message.direction))
        )
    assert [m["body"] for m in body["messages"]] == stored
    assert [m["direction"] for m in body["messages"]] == ["inbound", "outbound"] * 3


def test_everything_is_scoped_to_the_keys_creditor(
    client: TestClient, tenant: Tenant, clock: FixedClock, db: Database
) -> None:
    [first, _] = setup_two(client, tenant, clock)
    stranger = make_tenant(db, clock, "Other Bank")
    assert queue(client, stranger) == []
    for method, path, body in (
        ("GET", "", None),
        ("GET", "/brief", None),
        ("POST", "/claim", None),
        ("POST", "/complete", {"outcome": "reached"}),
        ("POST", "/reschedule", {"starts_at": first["starts_at"]}),
        ("POST", "/cancel", None),
    ):
        response = client.request(
            method, f"/api/v1/callbacks/{first['id']}{path}", json=body, headers=stranger.headers
        )
        assert response.status_code == 404, (path, response.text)
    assert client.get("/api/v1/callback-calendar", headers=stranger.headers).status_code == 404
    assert queue(client, tenant)[0]["status"] == "booked"
    assert client.get("/api/v1/callbacks", headers={}).status_code == 401
