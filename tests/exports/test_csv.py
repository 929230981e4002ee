"""CSV exports of debts, messages and payments: streamed, scoped to the creditor, and
safe to open in a spreadsheet (formula injection neutralised)."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.clock import FixedClock
from app.db import Database
from app.debts.models import Debt
from app.exports.csv_stream import BATCH_ROWS, neutralize, stream_csv
from app.worker import OutboxWorker
from tests.conftest import Tenant, make_tenant
from tests.helpers import debt_row, import_debt, send_sms
from tests.payments_support import issue_now, payment_body, post_payment


def _rows(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Ana = Bo", "Ana = Bo"),
        ("", ""),
        (None, ""),
        (-5, -5),
        (12360, 12360),
        (True, "true"),
    ],
)
def test_cells_that_would_run_as_formulas_are_neutralised(value: Any, cell: Any) -> None:
    assert neutralize(value) == cell


def test_debts_export_is_neutralised_and_filtered(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    rows = [
        debt_row("-2+3", debtor_name="=cmd|' /C calc'!A0", description="@SUM(1+1)*cmd|"),
        debt_row("INV-2", debtor_phone="+12125550101", debtor_name="Ana Lima", amount=500),
    ]
    assert (
        client.post("/api/v1/debts", json={"items": rows}, headers=tenant.headers).status_code
        == 200
    )
    exported = _rows(client.get("/api/v1/exports/debts.csv", headers=tenant.headers))
    # Loaded in one instant: oldest first, then by id.
    by_id = {r["external_id"]: r for r in exported}
    assert sorted(by_id) == ["'-2+3", "INV-2"]
    first = by_id["'-2+3"]
    assert first["debtor_name"] == "'=cmd|' /C calc'!A0"
    assert first["description"] == "'@SUM(1+1)*cmd|"
    assert first["debtor_phone"] == "'+14155550123"
    assert (first["amount"], first["balance"], first["currency"]) == ("12360", "12360", "USD")
    assert by_id["INV-2"]["debtor_name"] == "Ana Lima"

    only = _rows(client.get("/api/v1/exports/debts.csv?q=ana", headers=tenant.headers))
    assert [r["external_id"] for r in only] == ["INV-2"]
    bad = client.get("/api/v1/exports/debts.csv?status=lost", headers=tenant.headers)
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "status"

    other = make_tenant(db, clock, "Other Co")
    assert _rows(client.get("/api/v1/exports/debts.csv", headers=other.headers)) == []


def test_messages_and_payments_exports(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock, worker: OutboxWorker
) -> None:
    debt_id = import_debt(client, tenant, debtor_phone="+12125550101")
    client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
    worker.run_once()
    send_sms(client, "+12125550101", "=1+1 is what I owe?")
    messages = _rows(client.get("/api/v1/exports/messages.csv", headers=tenant.headers))
    inbound = [m for m in messages if m["direction"] == "inbound"]
    assert [m["body"] for m in inbound] == ["'=1+1 is what I owe?"]
    assert inbound[0]["from_phone"] == "'+12125550101"
    statement = next(m for m in messages if m["kind"] == "statement")
    assert statement["debt_external_id"] == "INV-1" and statement["sent_at"]
    none = _rows(
        client.get(
            "/api/v1/exports/messages.csv?from=2026-01-01&to=2026-01-31", headers=tenant.headers
        )
    )
    assert none == []

    code = issue_now(db, clock, tenant, debt_id)
    post_payment(client, payment_body(code.reference, 2000, payment_id="p-1"))
    [payment] = _rows(client.get("/api/v1/exports/payments.csv", headers=tenant.headers))
    assert (payment["payment_id"], payment["amount"], payment["status"]) == (
        "p-1",
        "2000",
        "applied",
    )
    assert payment["debt_external_id"] == "INV-1"
    assert (
        _rows(
            client.get("/api/v1/exports/payments.csv?status=needs_review", headers=tenant.headers)
        )
        == []
    )
    bad = client.get(
        "/api/v1/exports/payments.csv?from=2026-12-01&to=2026-11-01", headers=tenant.headers
    )
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "from"


def test_a_large_export_streams_in_chunks_across_batches(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    count = BATCH_ROWS * 2 + 7
    rows = [debt_row(f"BULK-{i:05d}", debtor_phone=f"+1212555{i:04d}") for i in range(count)]
    response = client.post("/api/v1/debts", json={"items": rows}, headers=tenant.headers)
    assert response.status_code == 200
    query = (
        select(Debt.external_id)
        .where(Debt.creditor_id == tenant.creditor_id)
        .order_by(Debt.created_at, Debt.id)
    )
    chunks = list(stream_csv(db, ["external_id"], query, lambda row: (row[0],), chunk_bytes=4096))
    assert len(chunks) >= count * len("BULK-00000\r\n") // 4096
    lines = "".join(chunks).lstrip("\ufeff").splitlines()
    assert lines[0] == "external_id" and len(lines) == count + 1
    assert len(set(lines[1:])) == count
    exported = _rows(client.get("/api/v1/exports/debts.csv", headers=tenant.headers))
    assert len(exported) == count
