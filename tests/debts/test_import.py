"""Debt import through the API, CSV upload and the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.clock import FixedClock
from app.db import Database
from app.debts.models import Debt, Debtor, Event
from tests.conftest import Tenant, make_tenant
from tests.helpers import debt_row


def post(client: TestClient, tenant: Tenant, rows: list[object]) -> list[dict[str, object]]:
    response = client.post("/api/v1/debts", json={"items": rows}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    results: list[dict[str, object]] = response.json()["results"]
    return results


def test_valid_rows_are_stored_and_invalid_rows_explained_in_order(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    rows: list[object] = [
        debt_row("A-1"),
        debt_row("A-2", debtor_phone="12345"),
        debt_row("A-3", amount=-5),
        debt_row("A-4", amount=10.5),
        debt_row("A-5", currency="XYZ"),
        debt_row("A-6", due_date="2026-13-01"),
        debt_row("A-7", debtor_name=""),
        debt_row("A-8", debtor_phone="+551133334444"),
        debt_row("A-9", debtor_timezone="Mars/Olympus"),
        debt_row("A-10", debtor_language="fr"),
        debt_row("A-11", amount="100"),
        {"debtor": {"name": "x", "phone": "+14155550123"}},
        "not an object",
        debt_row("A-12", debtor_phone="(415) 555-0199", debtor_language="es-MX"),
    ]
    results = post(client, tenant, rows)
    assert [r["status"] for r in results] == ["created", *["error"] * 12, "created"]
    fields = [r["errors"][0]["field"] for r in results[1:13]]  # type: ignore[index]
    assert fields == [
        "debtor.phone",
        "amount",
        "amount",
        "currency",
        "due_date",
        "debtor.name",
        "debtor.phone",
        "debtor.timezone",
        "debtor.language",
        "amount",
        "external_id",
        "",
    ]
    assert "integer" in results[3]["errors"][0]["message"]  # type: ignore[index]
    assert "mobile" in results[7]["errors"][0]["message"]  # type: ignore[index]
    assert results[0]["external_id"] == "A-1" and results[0]["id"]
    with db.transaction() as session:
        assert session.scalar(select(func.count(Debt.id))) == 2
        debtor = session.scalars(select(Debtor).where(Debtor.phone == "+14155550199")).one()
        assert debtor.language == "es"
        assert debtor.timezone == "America/Los_Angeles"


def test_reimport_updates_never_duplicates(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    first = post(client, tenant, [debt_row("B-1")])[0]
    again = post(client, tenant, [debt_row("B-1", amount=20000, due_date="2026-11-10")])[0]
    assert again["status"] == "updated" and again["id"] == first["id"]
    debt = client.get(f"/api/v1/debts/{first['id']}", headers=tenant.headers).json()
    assert debt["amount"] == 20000 and debt["balance"] == 20000
    assert debt["due_date"] == "2026-11-10"
    with db.transaction() as session:
        assert session.scalar(select(func.count(Debt.id))) == 1
        kinds = list(session.scalars(select(Event.kind).where(Event.debt_id == first["id"])))
    assert kinds.count("debt.created") == 1 and kinds.count("debt.updated") == 1


def test_debts_of_one_phone_share_one_debtor(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    results = post(
        client,
        tenant,
        [debt_row("C-1"), debt_row("C-2", debtor_phone="4155550123"), debt_row("C-3")],
    )
    assert all(r["status"] == "created" for r in results)
    with db.transaction() as session:
        assert session.scalar(select(func.count(Debtor.id))) == 1
        assert session.scalar(select(func.count(Debt.id))) == 3


def test_timezone_and_language_defaults(
    client: TestClient, db: Database, clock: FixedClock
) -> None:
    brazil = make_tenant(db, clock, "Loja BR", country="BR", default_language="pt-BR")
    results = post(
        client,
        brazil,
        [
            debt_row("D-1", debtor_phone="11987654321", currency="BRL"),
            debt_row("D-2", debtor_phone="+34612345678", currency="EUR", debtor_language="es"),
            debt_row("D-3", debtor_phone="+14155550123", debtor_timezone="America/New_York"),
        ],
    )
    ids = [r["id"] for r in results]
    debts = [client.get(f"/api/v1/debts/{i}", headers=brazil.headers).json() for i in ids]
    assert debts[0]["debtor"] | {"id": None} == debts[0]["debtor"] | {
        "id": None,
        "phone": "+5511987654321",
        "language": "pt-BR",
        "timezone": "America/Sao_Paulo",
    }
    assert debts[1]["debtor"]["timezone"] == "Europe/Madrid"
    assert debts[1]["debtor"]["language"] == "es"
    assert debts[2]["debtor"]["timezone"] == "America/New_York"


def test_request_shape_errors_are_422(client: TestClient, tenant: Tenant) -> None:
    response = client.post("/api/v1/debts", json={"rows": []}, headers=tenant.headers)
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "items"


CSV_HEADER = "external_id,name,phone,language,timezone,amount,currency,due_date,description\n"


def test_csv_upload_streams_rows(client: TestClient, tenant: Tenant, db: Database) -> None:
    lines = [CSV_HEADER]
    for i in range(1, 1201):
        lines.append(f"E-{i},Person {i},+1415555{i % 10000:04d},en,,{1000 + i},USD,2026-10-01,\n")
    lines.append("E-bad,Bad Amount,+14155550123,en,,12.50,USD,2026-10-01,\n")
    body = "".join(lines).encode()
    response = client.post(
        "/api/v1/debts/import.csv",
        files={"file": ("debts.csv", body, "text/csv")},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary["total"] == 1201 and summary["created"] == 1200 and summary["failed"] == 1
    assert summary["errors"][0]["line"] == 1202
    assert summary["errors"][0]["errors"][0]["field"] == "amount"
    raw = client.post(
        "/api/v1/debts/import.csv",
        content=body,
        headers={**tenant.headers, "Content-Type": "text/csv"},
    ).json()
    assert raw["updated"] == 1200 and raw["created"] == 0
    with db.transaction() as session:
        assert session.scalar(select(func.count(Debt.id))) == 1200


def test_empty_or_binary_csv_is_rejected(client: TestClient, tenant: Tenant) -> None:
    empty = client.post(
        "/api/v1/debts/import.csv",
        content=b"",
        headers={**tenant.headers, "Content-Type": "text/csv"},
    )
    assert empty.status_code == 422 and empty.json()["error"]["fields"][0]["field"] == "file"
    binary = client.post(
        "/api/v1/debts/import.csv",
        content=b"\xff\xfe\x00bad",
        headers={**tenant.headers, "Content-Type": "text/csv"},
    )
    assert binary.status_code == 422


def test_cli_import_prints_progress_and_summary(
    tmp_path: Path, database_url: str, db: Database, clock: FixedClock
) -> None:
    make_tenant(db, clock, "CSV Co")
    path = tmp_path / "debts.csv"
    path.write_text(
        CSV_HEADER
        + "F-1,Ann,+14155550101,en,,5000,USD,2026-10-01,x\n"
        + "F-2,Bob,+14155550102,es,,7000,USD,2026-10-02,\n"
        + "F-3,Cy,nope,en,,7000,USD,2026-10-02,\n"
    )
    env = {"PARLEY_DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "import", str(path), "--creditor", "CSV Co"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1, done.stderr
    assert "3 rows" in done.stdout and "2 created" in done.stdout and "1 failed" in done.stdout
    assert "line 4 (F-3): debtor.phone" in done.stdout
    assert "rows/s" in done.stderr
    unknown = subprocess.run(
        [sys.executable, "-m", "app.cli", "import", str(path), "--creditor", "Nope"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert unknown.returncode == 2 and "no creditor named" in unknown.stderr


def test_numbers_with_several_zones(client: TestClient, tenant: Tenant, db: Database) -> None:
    results = post(
        client,
        tenant,
        [
            debt_row("Z-1", debtor_phone="+34612345678", currency="EUR"),
            debt_row("Z-2", debtor_phone="+79161234567", currency="RUB"),
            debt_row(
                "Z-3", debtor_phone="+79161234568", currency="RUB", debtor_timezone="Europe/Moscow"
            ),
        ],
    )
    assert [r["status"] for r in results] == ["created", "error", "created"]
    assert results[1]["errors"][0]["field"] == "debtor.timezone"  # type: ignore[index]
    with db.transaction() as session:
        spanish = session.scalars(select(Debtor).where(Debtor.phone == "+34612345678")).one()
        russian = session.scalars(select(Debtor).where(Debtor.phone == "+79161234568")).one()
    assert (spanish.timezone, spanish.other_timezones) == ("Europe/Madrid", ["Atlantic/Canary"])
    assert (russian.timezone, russian.other_timezones) == ("Europe/Moscow", None)
