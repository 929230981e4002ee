"""`GET /api/v1/analytics/summary`: figures, funnel, intents, plans, recovery over time
and cohorts, from a portfolio driven through the real flows (import, statements sent
by the worker, replies through the Twilio webhook, a payment through its webhook)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.clock import FixedClock
from app.db import Database
from app.worker import OutboxWorker
from tests.conftest import Tenant
from tests.helpers import import_debt, send_sms
from tests.payments_support import issue_now, payment_body, post_payment

NY, MIAMI, SAO_PAULO = "+12125550101", "+13055550102", "+5511987654321"


@pytest.fixture
def portfolio(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock, worker: OutboxWorker
) -> dict[str, str]:
    ids = {
        "A": import_debt(
            client, tenant, external_id="A", debtor_phone=NY, amount=10000, due_date="2026-10-29"
        ),
        "B": import_debt(
            client,
            tenant,
            external_id="B",
            debtor_phone=MIAMI,
            amount=20000,
            due_date="2026-06-01",
        ),
        "C": import_debt(
            client,
            tenant,
            external_id="C",
            debtor_phone=SAO_PAULO,
            debtor_language="pt-BR",
            amount=5000,
            currency="BRL",
            due_date="2026-12-10",
        ),
    }
    for key in ("A", "B"):
        queued = client.post(f"/api/v1/debts/{ids[key]}/statements", headers=tenant.headers)
        assert queued.status_code == 202
    worker.run_once()
    send_sms(client, NY, "I'll pay on Friday")
    send_sms(client, MIAMI, "STOP")
    code = issue_now(db, clock, tenant, ids["A"])
    paid = post_payment(client, payment_body(code.reference, 4000, currency="USD"))
    assert paid.json()["status"] == "applied"
    return ids


def _summary(client: TestClient, tenant: Tenant, **params: Any) -> dict[str, Any]:
    response = client.get("/api/v1/analytics/summary", params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_summary_counts_the_portfolio(
    client: TestClient, tenant: Tenant, portfolio: dict[str, str]
) -> None:
    body = _summary(client, tenant)
    assert body["currency"] == "USD" and body["currencies"] == ["USD", "BRL"]
    assert {k: body[k] for k in ("debts", "contacted", "replied", "recovered_amount")} == {
        "debts": 3,
        "contacted": 2,
        "replied": 2,
        "recovered_amount": 4000,
    }
    assert body["portfolio_amount"] == 30000
    assert body["recovery_rate"] == pytest.approx(4000 / 30000, abs=1e-4)
    # A's $40.00 payment lowered the balance promised on: the promise is kept as it lands.
    assert (body["promises_made"], body["promises_kept"]) == (1, 1)
    assert body["opt_outs"] == 1 and body["opt_out_rate"] == 0.5
    assert [(s["stage"], s["debts"]) for s in body["funnel"]] == [
        ("contacted", 2),
        ("replied", 2),
        ("intent", 1),
        ("promise_or_plan", 1),
        ("paid", 1),
    ]
    assert body["intents_by_language"]["en"]["PROMISE"] == 1
    assert sum(body["intents_by_language"]["en"].values()) == 2
    assert body["plans"]["created"] == 0 and body["plans"]["completion_rate"] == 0.0
    assert [
        (c["due_month"], c["debts"], c["amount"], c["recovered"]) for c in body["by_due_month"]
    ] == [
        ("2026-06", 1, 20000, 0),
        ("2026-10", 1, 10000, 4000),
    ]
    assert body["by_due_month"][1]["recovery_rate"] == 0.4
    assert [(c["bucket"], c["debts"]) for c in body["by_days_past_due"]] == [
        ("1-30", 1),
        ("91-180", 1),
    ]
    assert body["recovery_over_time"] == {
        "interval": "month",
        "points": [{"period": "2026-11", "amount": 4000}],
    }


def test_a_period_and_another_currency(
    client: TestClient, tenant: Tenant, portfolio: dict[str, str]
) -> None:
    november = _summary(client, tenant, **{"from": "2026-11-01", "to": "2026-11-30"})
    assert november["period"] == {"from": "2026-11-01", "to": "2026-11-30"}
    assert november["recovered_amount"] == 4000
    points = november["recovery_over_time"]["points"]
    assert november["recovery_over_time"]["interval"] == "day" and len(points) == 30
    assert [p for p in points if p["amount"]] == [{"period": "2026-11-25", "amount": 4000}]
    weekly = _summary(client, tenant, **{"from": "2026-11-01", "to": "2026-11-30"}, interval="week")
    assert {"period": "2026-W48", "amount": 4000} in weekly["recovery_over_time"]["points"]

    # Before the portfolio was loaded: nothing in scope, nothing happened.
    january = _summary(client, tenant, **{"from": "2026-01-01", "to": "2026-01-31"})
    assert (january["debts"], january["contacted"], january["recovered_amount"]) == (0, 0, 0)
    assert all(stage["debts"] == 0 for stage in january["funnel"])
    assert january["opt_outs"] == 0 and january["promises_made"] == 0

    reais = _summary(client, tenant, currency="brl")
    assert (reais["currency"], reais["recovered_amount"], reais["portfolio_amount"]) == (
        "BRL",
        0,
        5000,
    )
    assert [(c["bucket"], c["debts"]) for c in reais["by_days_past_due"]] == [("not_due", 1)]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-12-01", "to": "2026-11-01"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"currency": "ABC"}, "currency"),
        ({"interval": "hour"}, "interval"),
    ],
)
def test_bad_parameters_name_the_field(
    client: TestClient, tenant: Tenant, params: dict[str, str], field: str
) -> None:
    response = client.get("/api/v1/analytics/summary", params=params, headers=tenant.headers)
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == field


def test_an_empty_creditor_has_zeros(client: TestClient, tenant: Tenant) -> None:
    body = _summary(client, tenant)
    assert (body["debts"], body["currency"], body["recovery_rate"]) == (0, None, 0.0)
    assert body["recovery_over_time"]["points"] == []
