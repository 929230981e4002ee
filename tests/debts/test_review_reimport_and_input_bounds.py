"""Debt review by a person, re-import rules, number-level opt-outs, input bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.clock import FixedClock
from app.db import Database
from app.debts.models import Debtor, Event
from app.messaging.models import Message
from tests.conftest import Tenant, make_tenant
from tests.helpers import debt_row, import_debt, outbound_bodies, send_sms

NY = "+12125550123"


def simple_rule(**overrides: object) -> dict[str, object]:
    """An offer rule with three installments and no discount or interest."""
    return {
        "name": "r",
        "priority": 1,
        "lump_sum_discount_pct": "0",
        "lump_sum_valid_days": 0,
        "installment_counts": [3],
        "monthly_interest_pct": "0",
        "min_installment": 100,
        "first_installment_in_days": 10,
        **overrides,
    }


def patch(
    client: TestClient, tenant: Tenant, debt_id: str, body: dict[str, object]
) -> dict[str, object]:
    response = client.patch(f"/api/v1/debts/{debt_id}", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


def test_a_person_resumes_a_disputed_debt_or_closes_it(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant, debtor_phone=NY)
    send_sms(client, NY, "this is not my debt")
    resumed = patch(
        client,
        tenant,
        debt_id,
        {"status": "open", "needs_review": False, "note": "checked the contract"},
    )
    assert resumed["status"] == "open" and resumed["needs_review"] is False
    assert (
        client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers).status_code
        == 202
    )
    closed = patch(client, tenant, debt_id, {"status": "closed"})
    assert closed["status"] == "closed"
    with db.transaction() as session:
        statement = session.scalars(select(Message).where(Message.kind == "statement")).one()
        kinds = list(session.scalars(select(Event.kind).where(Event.debt_id == debt_id)))
    assert statement.status == "canceled"
    assert kinds.count("debt.status") == 3 and "debt.needs_review" in kinds
    assert "messages.canceled" in kinds
    again = client.patch(
        f"/api/v1/debts/{debt_id}", json={"status": "closed"}, headers=tenant.headers
    )
    assert again.status_code == 200
    bad = client.patch(
        f"/api/v1/debts/{debt_id}", json={"status": "settled"}, headers=tenant.headers
    )
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "status"


def test_reimport_cannot_change_an_agreed_plan_and_settles_a_covered_debt(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    client.post(
        "/api/v1/offer-rules",
        json=simple_rule(),
        headers=tenant.headers,
    )
    debt_id = import_debt(client, tenant, debtor_phone=NY, amount=12360)
    send_sms(client, NY, "PLAN")
    clock.advance(timedelta(seconds=1))
    send_sms(client, NY, "1")
    results = client.post(
        "/api/v1/debts",
        json={"items": [debt_row(debtor_phone=NY, amount=99999)]},
        headers=tenant.headers,
    ).json()["results"]
    assert results[0]["status"] == "error" and results[0]["errors"][0]["field"] == "amount"
    same = client.post(
        "/api/v1/debts",
        json={"items": [debt_row(debtor_phone=NY, amount=12360, description="renamed")]},
        headers=tenant.headers,
    ).json()["results"][0]
    assert same["status"] == "updated"
    # An open debt whose new amount is already covered by payments is settled.
    other = import_debt(client, tenant, external_id="B", debtor_phone="+12125550124", amount=5000)
    with db.transaction() as session:
        from app.debts.models import Debt

        row = session.get(Debt, other)
        assert row is not None
        row.balance = 1000  # 4,000 paid
    import_debt(client, tenant, external_id="B", debtor_phone="+12125550124", amount=4000)
    view = client.get(f"/api/v1/debts/{other}", headers=tenant.headers).json()
    assert (view["status"], view["balance"]) == ("settled", 0)
    refused = client.post(f"/api/v1/debts/{other}/statements", headers=tenant.headers)
    assert refused.status_code == 409
    assert (
        client.get(f"/api/v1/debts/{debt_id}", headers=tenant.headers).json()["status"] == "in_plan"
    )


def test_stop_from_an_unknown_number_holds_when_it_is_imported_later(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    send_sms(client, NY, "STOP")
    debt_id = import_debt(client, tenant, debtor_phone=NY)
    with db.transaction() as session:
        assert session.scalars(select(Debtor.contact_status)).one() == "opted_out"
    assert (
        client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers).status_code
        == 409
    )
    clock.advance(timedelta(seconds=1))
    send_sms(client, NY, "START")
    assert (
        client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers).status_code
        == 202
    )
    # A later creditor importing the number after a new STOP gets it opted out as well.
    clock.advance(timedelta(seconds=1))
    send_sms(client, NY, "STOP")
    other = make_tenant(db, clock, "Second Lender")
    import_debt(client, other, debtor_phone=NY)
    with db.transaction() as session:
        assert set(session.scalars(select(Debtor.contact_status))) == {"opted_out"}


def test_agent_answer_at_night_waits_for_the_window(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    import_debt(client, tenant, debtor_phone=NY)
    clock.set(datetime(2026, 11, 26, 3, 0, tzinfo=UTC))  # 22:00 in New York
    send_sms(client, NY, "hmm")
    [conversation] = client.get("/api/v1/conversations", headers=tenant.headers).json()["items"]
    clock.advance(timedelta(minutes=2))
    sent = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        json={"body": "We will text you tomorrow."},
        headers=tenant.headers,
    )
    message = sent.json()["message"]
    assert message["status"] == "scheduled" and message["send_after"].startswith("2026-11-26T13:00")
    # The engine's own immediate answer to the text went at once.
    assert "did not understand" in outbound_bodies(db, NY)[0]


def test_out_of_range_inputs_are_422_not_500(client: TestClient, tenant: Tenant) -> None:
    results = client.post(
        "/api/v1/debts", json={"items": [debt_row(due_date="0001-01-02")]}, headers=tenant.headers
    ).json()["results"]
    assert results[0]["errors"][0]["field"] == "due_date"
    csv = (
        "external_id,name,phone,amount,currency,due_date\n"
        "X,Ann,+14155550123,\u00b2,USD,2026-10-01\n"
    )
    summary = client.post(
        "/api/v1/debts/import.csv",
        content=csv.encode(),
        headers={**tenant.headers, "Content-Type": "text/csv"},
    ).json()
    assert summary["failed"] == 1 and summary["errors"][0]["errors"][0]["field"] == "amount"
    rule = client.post(
        "/api/v1/offer-rules",
        json=simple_rule(min_installment=10**20),
        headers=tenant.headers,
    )
    assert rule.status_code == 422
    day = client.get("/api/v1/callbacks?day=9999-12-31", headers=tenant.headers)
    assert day.status_code == 422
    parsed = client.post(
        "/api/v1/replies/parse", json={"text": "PAY", "lang": "en"}, headers=tenant.headers
    )
    assert parsed.status_code == 200 and parsed.json()["intent"] == "PAY"
    language = client.patch(
        "/api/v1/creditor", json={"default_language": "pt"}, headers=tenant.headers
    )
    assert language.json()["default_language"] == "pt-BR"


def test_creditor_name_clash_is_422(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    make_tenant(db, clock, "Taken Name")
    response = client.patch("/api/v1/creditor", json={"name": "Taken Name"}, headers=tenant.headers)
    assert response.status_code == 422 and response.json()["error"]["fields"][0]["field"] == "name"


def test_reimport_with_a_new_amount_retires_the_old_codes(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant, debtor_phone=NY, amount=10000)
    send_sms(client, NY, "PAY")
    [code] = client.get(f"/api/v1/debts/{debt_id}/payment-codes", headers=tenant.headers).json()[
        "items"
    ]
    assert code["status"] == "active"
    import_debt(client, tenant, debtor_phone=NY, amount=50000)
    [code] = client.get(f"/api/v1/debts/{debt_id}/payment-codes", headers=tenant.headers).json()[
        "items"
    ]
    assert code["status"] == "superseded"
    clock.advance(timedelta(seconds=1))
    send_sms(client, NY, "PAY")
    codes = client.get(f"/api/v1/debts/{debt_id}/payment-codes", headers=tenant.headers).json()[
        "items"
    ]
    assert sorted((c["status"], c["amount"]) for c in codes) == [
        ("active", 50000),
        ("superseded", 10000),
    ]


def test_booked_calls_end_with_dispute_stop_wrong_number_settlement_and_closing(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    from tests.callbacks_support import callbacks, put_calendar
    from tests.payments_support import payment_body, post_payment

    put_calendar(client, tenant)
    phones = ["+12125550131", "+12125550132", "+12125550133", "+12125550134", "+12125550135"]
    debt_ids = [
        import_debt(client, tenant, external_id=f"CB-{i}", debtor_phone=phone)
        for i, phone in enumerate(phones)
    ]
    for phone in phones:
        clock.advance(timedelta(seconds=1))
        send_sms(client, phone, "CALL")
        clock.advance(timedelta(seconds=1))
        send_sms(client, phone, "A")
    assert [c.status for c in callbacks(db)] == ["booked"] * 5
    clock.advance(timedelta(seconds=1))
    send_sms(client, phones[0], "this is not my debt")
    send_sms(client, phones[1], "STOP")
    send_sms(client, phones[2], "wrong number")
    send_sms(client, phones[3], "PAY")
    [code] = client.get(
        f"/api/v1/debts/{debt_ids[3]}/payment-codes", headers=tenant.headers
    ).json()["items"]
    post_payment(client, payment_body(code["reference"], code["amount"], payment_id="cb-pay"))
    patch(client, tenant, debt_ids[4], {"status": "closed"})
    assert [c.status for c in callbacks(db)] == ["canceled"] * 5
    with db.transaction() as session:
        reasons = {
            e.data["reason"] if e.data else None
            for e in session.scalars(select(Event).where(Event.kind == "callback.canceled"))
        }
    assert reasons >= {
        "debtor disputes the debt",
        "debtor opted out",
        "wrong number",
        "debt paid in full",
        "debt closed",
    }


def test_payment_page_shows_the_creditors_legal_identity(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    response = client.patch(
        "/api/v1/creditor",
        json={
            "legal_name": "Acme Finance Ltda",
            "tax_id": "12.345.678/0001-90",
            "address": "Av. Paulista 1000, Sao Paulo",
        },
        headers=tenant.headers,
    )
    assert response.status_code == 200 and response.json()["tax_id"] == "12.345.678/0001-90"
    bad = client.patch("/api/v1/creditor", json={"tax_id": "<script>"}, headers=tenant.headers)
    assert bad.status_code == 422
    debt_id = import_debt(client, tenant, debtor_phone=NY)
    send_sms(client, NY, "PAY")
    [code] = client.get(f"/api/v1/debts/{debt_id}/payment-codes", headers=tenant.headers).json()[
        "items"
    ]
    page = client.get(code["url"].removeprefix("https://parley.example.com")).text
    assert "Acme Finance Ltda, 12.345.678/0001-90, Av. Paulista 1000, Sao Paulo" in page


def test_a_debt_moved_to_another_number_is_forgotten_by_the_old_one(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    client.post(
        "/api/v1/offer-rules",
        json=simple_rule(),
        headers=tenant.headers,
    )
    debt_id = import_debt(client, tenant, debtor_phone=NY)
    clock.set(datetime(2026, 11, 25, 11, 0, tzinfo=UTC))  # 06:00 in New York: held
    client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
    send_sms(client, NY, "PLAN")
    import_debt(client, tenant, debtor_phone="+12125550199")  # the right person's number
    clock.advance(timedelta(seconds=1))
    send_sms(client, NY, "1")
    with db.transaction() as session:
        statement = session.scalars(select(Message).where(Message.kind == "statement")).one()
        from app.offers.models import Plan

        assert session.scalars(select(Plan)).first() is None
    assert statement.status == "canceled"
    assert "no balance due" in outbound_bodies(db, NY)[-1]


def test_malformed_csv_and_control_characters_are_refused_whole(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    from app.debts.models import Debt

    good = "".join(f"G-{i},Ann,+1415555{i:04d},en,,100,USD,2026-10-01,\n" for i in range(1, 700))
    broken = (
        "external_id,name,phone,language,timezone,amount,currency,due_date,description\n"
        + good
        + 'BAD,"Unclosed,+14155550123,en,,100,USD,2026-10-01,\n'
        + ("x" * 200_000)
        + "\n"
    )
    response = client.post(
        "/api/v1/debts/import.csv",
        content=broken.encode(),
        headers={**tenant.headers, "Content-Type": "text/csv"},
    )
    assert response.status_code == 422 and response.json()["error"]["fields"][0]["field"] == "file"
    with db.transaction() as session:
        assert session.scalars(select(Debt)).first() is None
    rows = client.post(
        "/api/v1/debts",
        json={"items": [debt_row("N-1", debtor_name="Ann\x00"), debt_row("N-2", amount=10**30)]},
        headers=tenant.headers,
    ).json()["results"]
    assert [r["errors"][0]["field"] for r in rows] == ["debtor.name", "amount"]


def test_agent_text_to_a_blocked_number_is_409(
    client: TestClient, tenant: Tenant, clock: FixedClock
) -> None:
    import_debt(client, tenant, debtor_phone=NY)
    send_sms(client, NY, "hmm")
    clock.advance(timedelta(seconds=1))
    send_sms(client, NY, "STOP")
    [conversation] = client.get("/api/v1/conversations", headers=tenant.headers).json()["items"]
    response = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        json={"body": "hello"},
        headers=tenant.headers,
    )
    assert response.status_code == 409
