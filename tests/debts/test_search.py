"""`GET /api/v1/debts?q=`: search by name, phone in any format and external id, filters,
totals; `GET /api/v1/debts/{id}/events`: the history, oldest first."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.clock import FixedClock
from app.creditors.models import Creditor
from app.db import Database
from app.security import create_api_key
from tests.conftest import Tenant, make_tenant
from tests.helpers import debt_row


@pytest.fixture
def portfolio(client: TestClient, tenant: Tenant) -> dict[str, str]:
    rows = [
        debt_row("INV-100", debtor_name="Alex Morgan", debtor_phone="+14155550123"),
        debt_row(
            "INV-200",
            debtor_name="Joana Silva",
            debtor_phone="+5511987654321",
            debtor_language="pt-BR",
            currency="BRL",
            due_date="2026-06-01",
            tags=["vip"],
        ),
        debt_row(
            "ACME_%-300",
            debtor_name="Luis O'Hara",
            debtor_phone="+12125550199",
            due_date="2026-11-20",
            tags=["vip-2"],
        ),
    ]
    response = client.post("/api/v1/debts", json={"items": rows}, headers=tenant.headers)
    assert response.status_code == 200
    return {r["external_id"]: r["id"] for r in response.json()["results"]}


def _find(client: TestClient, tenant: Tenant, **params: Any) -> tuple[set[str], int]:
    response = client.get("/api/v1/debts", params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    return {d["external_id"] for d in body["items"]}, body["total"]


@pytest.mark.parametrize(
    ("q", "found"),
    [
        ("alex", {"INV-100"}),
        ("SILVA", {"INV-200"}),
        ("o'hara", {"ACME_%-300"}),
        ("+14155550123", {"INV-100"}),
        ("(415) 555-0123", {"INV-100"}),
        ("415.555.0123", {"INV-100"}),
        ("4155550123", {"INV-100"}),
        ("+55 11 98765-4321", {"INV-200"}),
        ("98765-4321", {"INV-200"}),
        ("0199", {"ACME_%-300"}),
        ("inv-2", {"INV-200"}),
        ("INV", {"INV-100", "INV-200"}),
        # LIKE wildcards in q are literal characters.
        ("_%", {"ACME_%-300"}),
        ("%", {"ACME_%-300"}),
        ("nobody", set()),
    ],
)
def test_q_matches_name_phone_and_external_id(
    client: TestClient, tenant: Tenant, portfolio: dict[str, str], q: str, found: set[str]
) -> None:
    assert _find(client, tenant, q=q) == (found, len(found))


def test_filters_and_pagination_with_totals(
    client: TestClient, tenant: Tenant, portfolio: dict[str, str]
) -> None:
    assert _find(client, tenant, language="pt-BR") == ({"INV-200"}, 1)
    assert _find(client, tenant, tag="vip") == ({"INV-200"}, 1)
    # Today is 2026-11-25: INV-100 is 27 days late, INV-200 177, ACME 5.
    assert _find(client, tenant, min_days_past_due=30) == ({"INV-200"}, 1)
    assert _find(client, tenant, max_days_past_due=30) == ({"INV-100", "ACME_%-300"}, 2)
    assert _find(client, tenant, status="open", q="inv") == ({"INV-100", "INV-200"}, 2)
    assert _find(client, tenant, status="settled") == (set(), 0)
    pages = [_find(client, tenant, limit=2, offset=o) for o in (0, 2)]
    assert [len(ids) for ids, _ in pages] == [2, 1]
    assert all(total == 3 for _, total in pages)
    assert pages[0][0] | pages[1][0] == set(portfolio)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "lost"}, "status"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"min_days_past_due": -3}, "min_days_past_due"),
        ({"q": "x" * 201}, "q"),
    ],
)
def test_bad_search_parameters_name_the_field(
    client: TestClient, tenant: Tenant, params: dict[str, Any], field: str
) -> None:
    response = client.get("/api/v1/debts", params=params, headers=tenant.headers)
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == field


def test_search_stays_within_the_creditor(
    client: TestClient, tenant: Tenant, portfolio: dict[str, str], db: Database, clock: FixedClock
) -> None:
    other = make_tenant(db, clock, "Other Co")
    assert _find(client, other, q="alex") == (set(), 0)
    assert (
        client.get(
            f"/api/v1/debts/{portfolio['INV-100']}/events", headers=other.headers
        ).status_code
        == 404
    )


def test_events_oldest_first_with_actor_and_hidden_money_for_agents(
    client: TestClient, tenant: Tenant, portfolio: dict[str, str], db: Database, clock: FixedClock
) -> None:
    debt_id = portfolio["INV-100"]
    clock.advance(timedelta(minutes=1))
    changed = client.post(
        "/api/v1/debts",
        json={"items": [debt_row("INV-100", amount=9000)]},
        headers=tenant.headers,
    )
    assert changed.json()["results"][0]["status"] == "updated"
    clock.advance(timedelta(minutes=1))
    assert (
        client.patch(
            f"/api/v1/debts/{debt_id}", json={"status": "closed"}, headers=tenant.headers
        ).status_code
        == 200
    )
    response = client.get(f"/api/v1/debts/{debt_id}/events", headers=tenant.headers)
    assert response.status_code == 200
    body = response.json()
    items = body["items"]
    assert body["total"] == len(items) >= 3
    assert [i["at"] for i in items] == sorted(i["at"] for i in items)
    assert items[0]["type"] == "debt.created"
    assert items[-1]["type"] == "debt.status"
    assert (items[-1]["from_value"], items[-1]["to_value"]) == ("open", "closed")
    assert items[-1]["actor"].startswith("api_key:")
    assert items[-1]["actor_name"] == "default"
    money = [i for i in items if i["type"] in ("debt.updated", "debt.balance")]
    assert money and any(i["from_value"] or i["data"] for i in money)

    with db.transaction() as session:
        creditor = session.get(Creditor, tenant.creditor_id)
        assert creditor is not None
        _, agent_key = create_api_key(session, creditor, clock, role="agent")
    seen = client.get(
        f"/api/v1/debts/{debt_id}/events", headers={"Authorization": f"Bearer {agent_key}"}
    ).json()["items"]
    assert [i["type"] for i in seen] == [i["type"] for i in items]
    for event in seen:
        if event["type"] in ("debt.updated", "debt.balance", "debt.created"):
            assert (event["from_value"], event["to_value"], event["data"]) == (None, None, None)
    assert (seen[-1]["from_value"], seen[-1]["to_value"]) == ("open", "closed")
