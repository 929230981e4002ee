"""Builders shared by the callback tests (no tests here)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.callbacks.models import Callback
from app.clock import FixedClock
from app.conversations.models import Conversation
from app.db import Database
from app.debts.models import Debtor, Event
from tests.conftest import Tenant
from tests.helpers import outbound_bodies, send_sms

WEEKDAY_HOURS = {day: ["09:00", "17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}


def ny_calendar(**overrides: Any) -> dict[str, Any]:
    """The contract's example: New York, Mon-Fri 9:00 AM-5:00 PM, 30-minute slots, two agents,
    US holidays."""
    body: dict[str, Any] = {
        "timezone": "America/New_York",
        "hours": WEEKDAY_HOURS,
        "slot_minutes": 30,
        "capacity": 2,
        "holiday_country": "US",
    }
    body.update(overrides)
    return body


def put_calendar(client: TestClient, tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    response = client.put(
        "/api/v1/callback-calendar", json=ny_calendar(**overrides), headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def text(client: TestClient, clock: FixedClock, phone: str, body: str) -> None:
    """The debtor texts `body` one second after the previous text, so message order is
    deterministic."""
    clock.advance(timedelta(seconds=1))
    send_sms(client, phone, body)


def last_body(db: Database, phone: str) -> str:
    return outbound_bodies(db, phone)[-1]


def callbacks(db: Database, creditor_id: str | None = None) -> list[Callback]:
    with db.transaction() as session:
        query = select(Callback).order_by(Callback.starts_at, Callback.id)
        if creditor_id is not None:
            query = query.where(Callback.creditor_id == creditor_id)
        return list(session.scalars(query))


def conversation_of(db: Database, phone: str) -> Conversation:
    with db.transaction() as session:
        debtor = session.scalars(select(Debtor).where(Debtor.phone == phone)).one()
        return session.scalars(
            select(Conversation).where(Conversation.debtor_id == debtor.id)
        ).one()


def event_kinds(db: Database) -> list[str]:
    with db.transaction() as session:
        return list(session.scalars(select(Event.kind).order_by(Event.created_at, Event.id)))


def queue(client: TestClient, tenant: Tenant, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/v1/callbacks", params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items
