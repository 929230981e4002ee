"""Builders shared by the console tests (no tests here): console users, a small
portfolio with a conversation waiting for a person and a booked callback, and signing
in through the login form."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from app.clock import FixedClock
from app.creditors.models import Creditor
from app.db import Database
from app.messaging.models import DeliverabilityGuard
from app.users.service import create_user
from tests.conftest import Tenant

PASSWORD = "correct horse battery staple"
PHONE = "+14155550123"
OTHER_PHONE = "+14155550188"
ROLES = ("admin", "agent", "viewer")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Http(Protocol):
    def get(self, url: str, **kwargs: Any) -> Any: ...
    def post(self, url: str, **kwargs: Any) -> Any: ...
    def put(self, url: str, **kwargs: Any) -> Any: ...


def email_of(role: str) -> str:
    return f"{role}@acme.example"


def make_users(db: Database, clock: FixedClock, tenant: Tenant) -> None:
    """An admin, an agent and a viewer of the tenant's creditor, all with PASSWORD."""
    with db.transaction() as session:
        creditor = session.get(Creditor, tenant.creditor_id)
        assert creditor is not None
        for role in ROLES:
            create_user(
                session,
                creditor,
                email=email_of(role),
                password=PASSWORD,
                role=role,
                now=clock.now(),
                actor="test",
            )


@dataclass
class Portfolio:
    debt_id: str
    other_debt_id: str
    rule_id: str


def _sms(http: Http, clock: FixedClock, phone: str, body: str) -> None:
    from tests.helpers import send_sms

    clock.advance(timedelta(seconds=1))
    send_sms(http, phone, body)  # type: ignore[arg-type]


def make_portfolio(http: Http, clock: FixedClock, tenant: Tenant) -> Portfolio:
    """Two debts (Alex Morgan, Jamie Rivera); the team's New York calendar; Alex asked
    something Parley did not understand (the inbox) and booked a call (callbacks)."""
    from tests.callbacks_support import ny_calendar
    from tests.helpers import debt_row

    rows = [
        debt_row("INV-1"),
        debt_row(
            "INV-2",
            debtor_name="Jamie Rivera",
            debtor_phone=OTHER_PHONE,
            amount=48000,
            due_date="2026-08-01",
            tags=["retail"],
        ),
    ]
    response = http.post("/api/v1/debts", json={"items": rows}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    ids = [r["id"] for r in response.json()["results"]]
    response = http.put("/api/v1/callback-calendar", json=ny_calendar(), headers=tenant.headers)
    assert response.status_code == 200, response.text
    response = http.post(
        "/api/v1/offer-rules",
        json={
            "name": "Standard",
            "priority": 10,
            "lump_sum_discount_pct": "10",
            "lump_sum_valid_days": 7,
            "installment_counts": [3, 6],
            "monthly_interest_pct": "0",
            "min_installment": 1000,
            "first_installment_in_days": 7,
        },
        headers=tenant.headers,
    )
    assert response.status_code in (200, 201), response.text
    rule_id = response.json()["id"]
    _sms(http, clock, PHONE, "CALL")
    _sms(http, clock, PHONE, "A")
    _sms(http, clock, PHONE, "who decides about my grandmother's parrot?")
    return Portfolio(debt_id=ids[0], other_debt_id=ids[1], rule_id=rule_id)


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match is not None, "no CSRF token on the page"
    return match.group(1)


def sign_in(http: Http, role: str) -> str:
    """Sign in through the form; returns a CSRF token of the new session."""
    page = http.get("/console/login")
    assert page.status_code == 200
    response = http.post(
        "/console/login",
        data={"email": email_of(role), "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    dashboard = http.get("/console")
    assert dashboard.status_code == 200, dashboard.text
    return csrf_of(dashboard.text)


def pause_guard(db: Database, clock: FixedClock, tenant: Tenant) -> None:
    """The state the worker's deliverability guard leaves after 30007s (carrier
    filtering): tests/messaging/test_lanes.py drives that through status callbacks."""
    with db.transaction() as session:
        session.add(
            DeliverabilityGuard(
                creditor_id=tenant.creditor_id,
                paused_since=clock.now(),
                reason="carrier-filtered (30007) 2 of the last 4 texts",
                sample=4,
                opted_out=0,
                filtered=2,
                updated_at=clock.now(),
            )
        )
