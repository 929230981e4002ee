"""Roles on every endpoint: each route of the app has a role decision here, and the one
dependency (app.access.deps.Authorize) enforces exactly that decision.

A new endpoint fails `test_every_route_has_a_role_decision` until it is added to
DECISIONS (with the permission it needs) or to PUBLIC (with why it needs none).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.requests import Request

from app.access.deps import Authorize, LoginRequired, console_principal
from app.access.roles import GRANTS, Permission, Role
from app.clock import FixedClock
from app.creditors.models import Creditor
from app.creditors.service import create_creditor
from app.db import Database
from app.debts.models import Debt
from app.security import create_api_key
from app.users.service import create_user
from tests.callbacks_support import callbacks, put_calendar, text
from tests.conftest import make_tenant
from tests.helpers import import_debt

P = Permission

# What each endpoint needs. PRODUCT.md: admin everything; agent conversations,
# callbacks and messages, never debts' amounts, imports or settings; viewer reads only.
DECISIONS: dict[tuple[str, str], Permission] = {
    ("GET", "/api/v1/creditor"): P.VIEW,
    ("PATCH", "/api/v1/creditor"): P.CONFIGURE,
    ("GET", "/api/v1/creditor/api-keys"): P.CONFIGURE,
    ("DELETE", "/api/v1/creditor/api-keys/{key_id}"): P.CONFIGURE,
    ("POST", "/api/v1/debts"): P.MANAGE_DEBTS,
    ("POST", "/api/v1/debts/import.csv"): P.MANAGE_DEBTS,
    ("GET", "/api/v1/debts"): P.VIEW,
    ("GET", "/api/v1/debts/{debt_id}"): P.VIEW,
    ("PATCH", "/api/v1/debts/{debt_id}"): P.MANAGE_DEBTS,
    ("POST", "/api/v1/debts/{debt_id}/statements"): P.WORK,
    ("GET", "/api/v1/debts/{debt_id}/messages"): P.VIEW,
    ("GET", "/api/v1/debts/{debt_id}/events"): P.VIEW,
    ("GET", "/api/v1/debts/{debt_id}/offers"): P.VIEW_AMOUNTS,
    ("GET", "/api/v1/debts/{debt_id}/plan"): P.VIEW_AMOUNTS,
    ("GET", "/api/v1/debts/{debt_id}/payment-codes"): P.VIEW_AMOUNTS,
    ("GET", "/api/v1/payments"): P.VIEW_AMOUNTS,
    ("POST", "/api/v1/payments/{payment_id}/reviewed"): P.MANAGE_DEBTS,
    ("GET", "/api/v1/analytics/summary"): P.VIEW_AMOUNTS,
    ("GET", "/api/v1/exports/debts.csv"): P.EXPORT,
    ("GET", "/api/v1/exports/messages.csv"): P.EXPORT,
    ("GET", "/api/v1/exports/payments.csv"): P.EXPORT,
    ("POST", "/simulator/sms"): P.MANAGE_DEBTS,
    ("POST", "/api/v1/replies/parse"): P.VIEW,
    ("GET", "/api/v1/conversations"): P.VIEW,
    ("GET", "/api/v1/inbound-texts"): P.VIEW,
    ("GET", "/api/v1/conversations/{conversation_id}"): P.VIEW,
    ("POST", "/api/v1/conversations/{conversation_id}/messages"): P.WORK,
    ("POST", "/api/v1/conversations/{conversation_id}/handled"): P.WORK,
    ("POST", "/api/v1/offer-rules"): P.CONFIGURE,
    ("GET", "/api/v1/offer-rules"): P.VIEW_AMOUNTS,
    ("GET", "/api/v1/offer-rules/{rule_id}"): P.VIEW_AMOUNTS,
    ("PATCH", "/api/v1/offer-rules/{rule_id}"): P.CONFIGURE,
    ("DELETE", "/api/v1/offer-rules/{rule_id}"): P.CONFIGURE,
    ("PUT", "/api/v1/callback-calendar"): P.CONFIGURE,
    ("GET", "/api/v1/callback-calendar"): P.VIEW,
    ("GET", "/api/v1/callbacks"): P.VIEW,
    ("GET", "/api/v1/callbacks/{callback_id}"): P.VIEW,
    ("GET", "/api/v1/callbacks/{callback_id}/brief"): P.VIEW,
    ("POST", "/api/v1/callbacks/{callback_id}/claim"): P.WORK,
    ("POST", "/api/v1/callbacks/{callback_id}/complete"): P.WORK,
    ("POST", "/api/v1/callbacks/{callback_id}/reschedule"): P.WORK,
    ("POST", "/api/v1/callbacks/{callback_id}/cancel"): P.WORK,
    # A person's verdict on a parked outbox message (issue 11).
    ("POST", "/api/v1/messages/{message_id}/review"): P.WORK,
    # Suppressions and the consent ledger (issue 16).
    ("POST", "/api/v1/debts/{debt_id}/suppressions"): P.MANAGE_DEBTS,
    ("GET", "/api/v1/debts/{debt_id}/suppressions"): P.VIEW,
    ("DELETE", "/api/v1/suppressions/{suppression_id}"): P.MANAGE_DEBTS,
    ("GET", "/api/v1/consent-ledger"): P.VIEW,
    ("GET", "/api/v1/consent-ledger.csv"): P.EXPORT,
    ("POST", "/api/v1/consent-ledger"): P.MANAGE_DEBTS,
    # The dry run of the creditor's rules (issue 16).
    ("POST", "/api/v1/simulations"): P.CONFIGURE,
    ("GET", "/api/v1/sending"): P.VIEW,
    ("POST", "/api/v1/sending/deliverability/resume"): P.CONFIGURE,
}

# The console's pages and forms: the signed-in user's role decides (the console's own
# role tests, with users of each role, are in test_console_pages.py).
CONSOLE_DECISIONS: dict[tuple[str, str], Permission] = {
    ("GET", "/console"): P.VIEW,
    ("GET", "/console/debts"): P.VIEW,
    ("GET", "/console/debts/export.csv"): P.EXPORT,
    ("GET", "/console/exports/messages.csv"): P.EXPORT,
    ("GET", "/console/exports/payments.csv"): P.EXPORT,
    ("GET", "/console/debts/{debt_id}"): P.VIEW,
    ("POST", "/console/debts/{debt_id}/resume"): P.MANAGE_DEBTS,
    ("POST", "/console/debts/{debt_id}/close"): P.MANAGE_DEBTS,
    ("POST", "/console/debts/{debt_id}/pause"): P.MANAGE_DEBTS,
    ("POST", "/console/debts/{debt_id}/book-call"): P.WORK,
    ("GET", "/console/inbox"): P.VIEW,
    ("POST", "/console/inbox/{conversation_id}/reply"): P.WORK,
    ("POST", "/console/inbox/{conversation_id}/assign"): P.WORK,
    ("POST", "/console/inbox/{conversation_id}/handled"): P.WORK,
    ("GET", "/console/callbacks"): P.VIEW,
    ("POST", "/console/callbacks/{callback_id}/claim"): P.WORK,
    ("POST", "/console/callbacks/{callback_id}/complete"): P.WORK,
    ("POST", "/console/callbacks/{callback_id}/reschedule"): P.WORK,
    ("GET", "/console/rules"): P.VIEW_AMOUNTS,
    ("GET", "/console/rules/new"): P.CONFIGURE,
    ("POST", "/console/rules/new"): P.CONFIGURE,
    ("GET", "/console/rules/{rule_id}"): P.VIEW_AMOUNTS,
    ("POST", "/console/rules/{rule_id}"): P.CONFIGURE,
    ("POST", "/console/rules/preview"): P.VIEW_AMOUNTS,
    ("GET", "/console/settings"): P.VIEW,
    ("POST", "/console/settings"): P.CONFIGURE,
    ("GET", "/console/import"): P.VIEW,
    ("POST", "/console/import"): P.MANAGE_DEBTS,
    ("GET", "/console/analytics"): P.VIEW_AMOUNTS,
    # The dry run: the same permission as POST /api/v1/simulations.
    ("GET", "/console/simulation"): P.CONFIGURE,
    ("POST", "/console/simulation"): P.CONFIGURE,
    ("POST", "/console/sending/resume"): P.CONFIGURE,
}

# Endpoints without a principal, and why.
PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): "process probe",
    ("GET", "/readyz"): "database probe",
    ("GET", "/openapi.json"): "the API's description",
    ("GET", "/docs"): "Swagger UI",
    ("GET", "/docs/oauth2-redirect"): "Swagger UI",
    ("GET", "/redoc"): "ReDoc",
    ("POST", "/webhooks/twilio/sms"): "Twilio, signature-checked",
    ("POST", "/webhooks/twilio/status"): "Twilio, signature-checked",
    ("POST", "/webhooks/payments"): "the processor, HMAC-checked",
    ("GET", "/p/{token}"): "the debtor's payment page, by unguessable token",
    ("GET", "/p/{token}/barcode.svg"): "the debtor's payment page, by unguessable token",
    ("GET", "/p/{token}/barcode.png"): "the debtor's payment page, by unguessable token",
    ("GET", "/console/login"): "the console's sign-in form",
    ("POST", "/console/login"): "signing in (CSRF-checked, throttled)",
    ("POST", "/console/logout"): "signing out (CSRF-checked)",
    ("POST", "/console/language"): "the language switch (CSRF-checked; a cookie)",
}
# Mounted static files (no methods of their own).
# Swagger UI and ReDoc files; the console's CSS and scripts.
PUBLIC_MOUNTS: set[str] = {"/docs/assets", "/console/static"}

DUMMY_ID = "00000000-0000-4000-8000-000000000000"


def _routes(app: FastAPI) -> dict[tuple[str, str], Any]:
    found: dict[tuple[str, str], Any] = {}
    for context in iter_route_contexts(app.routes):
        methods = getattr(context, "methods", None) or set()
        for method in methods - {"HEAD"}:
            found[(method, str(context.path))] = context.original_route
        if not methods:
            found[("MOUNT", str(context.path))] = context.original_route
    return found


def _authorizers(dependant: Dependant) -> list[Authorize]:
    found = [dependant.call] if isinstance(dependant.call, Authorize) else []
    for sub in dependant.dependencies:
        found.extend(_authorizers(sub))
    return found


def test_every_route_has_a_role_decision(app: FastAPI) -> None:
    routes = set(_routes(app))
    decided = (
        set(DECISIONS)
        | set(CONSOLE_DECISIONS)
        | set(PUBLIC)
        | {("MOUNT", path) for path in PUBLIC_MOUNTS}
    )
    assert routes - decided == set(), "new endpoints need a role decision in DECISIONS/PUBLIC"
    assert decided - routes == set(), "decisions for endpoints that no longer exist"


def test_each_route_declares_exactly_its_permission(app: FastAPI) -> None:
    for key, route in _routes(app).items():
        if not isinstance(route, APIRoute):
            continue
        permissions = [a.permission for a in _authorizers(route.dependant)]
        if key in PUBLIC:
            assert permissions == [], key
        else:
            assert permissions == [{**DECISIONS, **CONSOLE_DECISIONS}[key]], key


@pytest.fixture
def keys(db: Database, clock: FixedClock) -> dict[Role, dict[str, str]]:
    with db.transaction() as session:
        creditor = create_creditor(session, clock, "Roles Co")
        return {
            role: {
                "Authorization": f"Bearer {create_api_key(session, creditor, clock, role=role)[1]}"
            }
            for role in Role
        }


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(("method", "path"), sorted(DECISIONS))
def test_the_role_decides_on_every_endpoint(
    client: TestClient,
    keys: dict[Role, dict[str, str]],
    role: Role,
    method: str,
    path: str,
) -> None:
    url = re.sub(r"\{[^}]+\}", DUMMY_ID, path)
    response = client.request(method, url, headers=keys[role], json={})
    allowed = DECISIONS[(method, path)] in GRANTS[role]
    if allowed:
        assert response.status_code not in (401, 403), response.text
    else:
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "forbidden"
    # Without a key, always 401.
    assert client.request(method, url, json={}).status_code == 401


def test_the_roles_are_the_products() -> None:
    assert GRANTS[Role.ADMIN] == set(Permission)
    # Agents: conversations, callbacks, messages; never amounts, imports or settings.
    assert GRANTS[Role.AGENT] == {P.VIEW, P.WORK}
    # Viewers read (everything) and change nothing.
    assert GRANTS[Role.VIEWER] == {P.VIEW, P.VIEW_AMOUNTS, P.EXPORT}


def _import(client: TestClient, headers: dict[str, str], amount: int) -> Any:
    return client.post(
        "/api/v1/debts",
        headers=headers,
        json={
            "items": [
                {
                    "external_id": "R-1",
                    "debtor": {"name": "Ana Lima", "phone": "+14155550142"},
                    "amount": amount,
                    "currency": "USD",
                    "due_date": "2026-10-01",
                }
            ]
        },
    )


def test_an_agent_sees_no_amounts_and_cannot_change_them(
    client: TestClient, keys: dict[Role, dict[str, str]], db: Database
) -> None:
    created = _import(client, keys[Role.ADMIN], 12000).json()["results"][0]
    debt_id = created["id"]
    agent, viewer = keys[Role.AGENT], keys[Role.VIEWER]

    one = client.get(f"/api/v1/debts/{debt_id}", headers=agent).json()
    assert (one["status"], one["amount"], one["balance"]) == ("open", None, None)
    [listed] = client.get("/api/v1/debts", headers=agent).json()["items"]
    assert (listed["amount"], listed["balance"]) == (None, None)
    seen = client.get(f"/api/v1/debts/{debt_id}", headers=viewer).json()
    assert (seen["amount"], seen["balance"]) == (12000, 12000)

    assert _import(client, agent, 1).status_code == 403
    csv = "external_id,name,phone,amount,currency,due_date\nR-1,Ana,+14155550142,1,USD,2026-10-01\n"
    assert (
        client.post(
            "/api/v1/debts/import.csv",
            headers={**agent, "Content-Type": "text/csv"},
            content=csv,
        ).status_code
        == 403
    )
    closing = client.patch(f"/api/v1/debts/{debt_id}", headers=agent, json={"status": "closed"})
    assert closing.status_code == 403
    for headers in (agent, viewer):
        assert _import(client, headers, 1).status_code == 403
    with db.transaction() as session:
        debt = session.scalars(select(Debt)).one()
        assert (debt.amount, debt.balance, debt.status) == (12000, 12000, "open")


def test_console_users_get_the_same_principal_and_roles(db: Database, clock: FixedClock) -> None:
    with db.transaction() as session:
        creditor = create_creditor(session, clock, "Console Co")
        user = create_user(
            session,
            creditor,
            email="agent@console.example.com",
            password="a long enough password",
            role="agent",
            now=clock.now(),
            actor="test",
        )
        request = Request({"type": "http", "session": {"user_id": user.id}})
        principal = console_principal(request, session)
        assert (principal.creditor_id, principal.role, principal.user_id) == (
            creditor.id,
            Role.AGENT,
            user.id,
        )
        assert principal.actor == f"user:{user.id}" and principal.api_key_id is None
        assert principal.can(P.WORK) and not principal.sees_amounts
        with pytest.raises(LoginRequired):
            console_principal(Request({"type": "http", "session": {}}), session)
        with pytest.raises(LoginRequired):
            console_principal(Request({"type": "http"}), session)
        user.disabled_at = clock.now()
        with pytest.raises(LoginRequired):
            console_principal(request, session)


def test_an_agent_reads_the_callback_brief_without_amounts(
    client: TestClient, db: Database, clock: FixedClock
) -> None:
    admin = make_tenant(db, clock, "Brief Co", contact_phone="+14155550100")
    put_calendar(client, admin)
    import_debt(client, admin, debtor_phone="+12125550101", debtor_timezone="America/New_York")
    text(client, clock, "+12125550101", "call me monday at 10am")
    [booked] = callbacks(db)
    with db.transaction() as session:
        creditor = session.get(Creditor, admin.creditor_id)
        assert creditor is not None
        _, agent_key = create_api_key(session, creditor, clock, role="agent")
    url = f"/api/v1/callbacks/{booked.id}/brief"
    full = client.get(url, headers=admin.headers).json()["debt"]
    assert full["balance"] > 0 and full["balance_display"]
    brief = client.get(url, headers={"Authorization": f"Bearer {agent_key}"}).json()
    assert (brief["debt"]["amount"], brief["debt"]["balance"]) == (None, None)
    assert brief["debt"]["balance_display"] is None
    assert brief["messages"], "the agent still reads the whole conversation"
