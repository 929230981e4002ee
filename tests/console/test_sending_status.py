"""The dashboard says what holds the creditor's texts: the deliverability guard (with a
Resume button for admins only) and a lane Twilio paused."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.clock import FixedClock
from app.db import Database
from app.messaging.models import DeliverabilityGuard, SendingLane
from tests.conftest import Tenant
from tests.console.support import Portfolio, make_portfolio, make_users, pause_guard, sign_in


@pytest.fixture
def https(app: Any) -> Iterator[TestClient]:
    with TestClient(app, base_url="https://testserver") as client:
        yield client


@pytest.fixture
def portfolio(https: TestClient, db: Database, clock: FixedClock, tenant: Tenant) -> Portfolio:
    make_users(db, clock, tenant)
    return make_portfolio(https, clock, tenant)


def test_running_guard_shows_the_rates(https: TestClient, portfolio: Portfolio) -> None:
    sign_in(https, "viewer")
    html = https.get("/console").text
    assert 'data-guard="running"' in html
    assert "Texts go out as the contact rules allow." in html
    assert "Resume texts Parley starts" not in html


def test_paused_guard_is_said_and_only_an_admin_resumes_it(
    https: TestClient, portfolio: Portfolio, db: Database, clock: FixedClock, tenant: Tenant
) -> None:
    pause_guard(db, clock, tenant)
    token = sign_in(https, "agent")
    html = https.get("/console").text
    assert 'data-guard="paused"' in html and "30007" in html and "50.0%" in html
    assert "Resume texts Parley starts" not in html
    refused = https.post(
        "/console/sending/resume", data={"csrf_token": token}, follow_redirects=False
    )
    assert refused.status_code == 403
    https.post("/console/logout", data={"csrf_token": token})

    token = sign_in(https, "admin")
    assert "Resume texts Parley starts" in https.get("/console").text
    no_csrf = https.post("/console/sending/resume", data={}, follow_redirects=False)
    assert no_csrf.status_code in (400, 403)
    resumed = https.post("/console/sending/resume", data={"csrf_token": token})
    assert resumed.status_code == 200
    assert "Texts Parley starts are resumed." in resumed.text
    assert 'data-guard="running"' in resumed.text
    with db.transaction() as session:
        guard = session.get(DeliverabilityGuard, tenant.creditor_id)
        assert guard is not None and guard.paused_since is None
        assert guard.resumed_at == clock.now()


def test_a_lane_twilio_paused_is_said(
    https: TestClient, portfolio: Portfolio, db: Database, clock: FixedClock
) -> None:
    with db.transaction() as session:
        session.add(
            SendingLane(
                key="account",
                paused_until=clock.now() + timedelta(minutes=1),
                pause_code=429,
                pause_reason="Twilio answered 429",
                updated_at=clock.now(),
            )
        )
    sign_in(https, "viewer")
    html = https.get("/console").text
    assert 'data-lane="paused"' in html and "The Twilio account paused until" in html
