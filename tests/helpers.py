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
