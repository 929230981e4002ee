"""Offer rules API, offers for a debt, PLAN menus, plans and their lifecycle."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.clock import FixedClock
from app.creditors.models import Creditor
from app.db import Database, new_id
from app.debts.models import Debt, Debtor, Event
from app.offers.models import Installment, OfferRuleVersion, Plan
from app.offers.service import apply_payment_to_plan, compute_offers, create_rule
from app.worker import OutboxWorker
from tests.conftest import Tenant, make_tenant
from tests.helpers import import_debt, outbound_bodies, send_sms

NY = "+12125550123"
T0 = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


def rule(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "standard",
        "priority": 10,
        "min_balance": 1000,
        "max_balance": 1_000_000,
        "min_days_past_due": 0,
        "max_days_past_due": 365,
        "lump_sum_discount_pct": "10",
        "lump_sum_valid_days": 7,
        "installment_counts": [3, 6, 12],
        "monthly_interest_pct": "0",
        "min_installment": 1000,
        "first_installment_in_days": 30,
    }
    body.update(overrides)
    return body


def post_rule(client: TestClient, tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    response = client.post("/api/v1/offer-rules", json=rule(**overrides), headers=tenant.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_rule_round_trip(client: TestClient, tenant: Tenant) -> None:
    created = post_rule(client, tenant, monthly_interest_pct="1.99", tags=["retail"])
    assert created["lump_sum_discount_pct"] == "10"
    assert created["monthly_interest_pct"] == "1.99"
    assert created["installment_counts"] == [3, 6, 12] and created["version"] == 1
    assert (
        client.get(f"/api/v1/offer-rules/{created['id']}", headers=tenant.headers).json() == created
    )
    assert [r["id"] for r in client.get("/api/v1/offer-rules", headers=tenant.headers).json()] == [
        created["id"]
    ]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"lump_sum_discount_pct": 10.5}, "lump_sum_discount_pct"),
        ({"lump_sum_discount_pct": "101"}, "lump_sum_discount_pct"),
        ({"lump_sum_discount_pct": "-1"}, "lump_sum_discount_pct"),
        ({"lump_sum_discount_pct": "abc"}, "lump_sum_discount_pct"),
        ({"monthly_interest_pct": "1.23456"}, "monthly_interest_pct"),
        ({"installment_counts": [0, 3]}, "installment_counts"),
        ({"installment_counts": [61]}, "installment_counts"),
        ({"installment_counts": [3, 3]}, "installment_counts"),
        ({"min_installment": 0}, "min_installment"),
        ({"min_balance": 5000, "max_balance": 10}, ""),
        ({"min_days_past_due": 90, "max_days_past_due": 30}, ""),
        ({"currency": "ZZZ"}, "currency"),
        ({"name": ""}, "name"),
        ({"priority": -1}, "priority"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_invalid_rules_are_refused_with_the_field(
    client: TestClient, tenant: Tenant, overrides: dict[str, Any], field: str
) -> None:
    response = client.post("/api/v1/offer-rules", json=rule(**overrides), headers=tenant.headers)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert any(field in f["field"] for f in error["fields"]), error
    assert client.get("/api/v1/offer-rules", headers=tenant.headers).json() == []


def test_overlapping_rules_of_equal_priority_are_refused(
    client: TestClient, tenant: Tenant
) -> None:
    post_rule(client, tenant)
    clash = client.post("/api/v1/offer-rules", json=rule(name="other"), headers=tenant.headers)
    assert clash.status_code == 422 and "overlaps" in clash.json()["error"]["message"]
    post_rule(client, tenant, name="other", priority=20)
    post_rule(client, tenant, name="big", priority=10, min_balance=2_000_000, max_balance=None)
    dup = client.post("/api/v1/offer-rules", json=rule(priority=99), headers=tenant.headers)
    assert dup.status_code == 422 and dup.json()["error"]["fields"][0]["field"] == "name"


def test_editing_creates_a_version_and_deactivating_keeps_it(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    created = post_rule(client, tenant)
    patched = client.patch(
        f"/api/v1/offer-rules/{created['id']}",
        json={"lump_sum_discount_pct": "15"},
        headers=tenant.headers,
    ).json()
    assert patched["version"] == 2 and patched["lump_sum_discount_pct"] == "15"
    bad = client.patch(
        f"/api/v1/offer-rules/{created['id']}",
        json={"installment_counts": [99]},
        headers=tenant.headers,
    )
    assert bad.status_code == 422
    gone = client.delete(f"/api/v1/offer-rules/{created['id']}", headers=tenant.headers).json()
    assert gone["active"] is False and gone["version"] == 2
    with db.transaction() as session:
        versions = session.scalars(
            select(OfferRuleVersion).order_by(OfferRuleVersion.version)
        ).all()
    assert [v.terms["lump_sum_discount_pct"] for v in versions] == ["10", "15"]


def test_rules_need_an_admin_key_and_stay_private(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    created = post_rule(client, tenant)
    agent = make_tenant(db, clock, "Agent Co", role="agent")
    assert client.post("/api/v1/offer-rules", json=rule(), headers=agent.headers).status_code == 403
    assert (
        client.delete(f"/api/v1/offer-rules/{created['id']}", headers=agent.headers).status_code
        == 403
    )
    other = make_tenant(db, clock, "Other Co")
    assert (
        client.get(f"/api/v1/offer-rules/{created['id']}", headers=other.headers).status_code == 404
    )


def test_offers_explain_the_matching_rule(client: TestClient, tenant: Tenant) -> None:
    post_rule(client, tenant, name="small", priority=50, max_balance=5000)
    post_rule(client, tenant, name="standard", priority=10)
    post_rule(client, tenant, name="old", priority=5, min_days_past_due=90, max_days_past_due=None)
    debt_id = import_debt(client, tenant, amount=12360, due_date="2026-10-29")
    offers = client.get(f"/api/v1/debts/{debt_id}/offers", headers=tenant.headers).json()
    assert offers["rule"]["name"] == "standard" and offers["days_past_due"] == 27
    assert offers["lump_sum"] == {
        "amount": 11124,
        "discount": 1236,
        "discount_pct": "10",
        "expires_on": "2026-12-02",
    }
    assert [(p["count"], p["installment"], p["total"]) for p in offers["plans"]] == [
        (3, 4120, 12360),
        (6, 2060, 12360),
        (12, 1030, 12360),
    ]
    reasons = {r["name"]: r["reason"] for r in offers["rules"]}
    assert "above max_balance" in reasons["small"]
    assert reasons["standard"] == "highest-priority matching rule"
    assert "below min_days_past_due" in reasons["old"]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    balance=st.integers(1, 10**9),
    discount=st.decimals(0, 100, places=2, allow_nan=False, allow_infinity=False),
    rate=st.decimals(0, 10, places=4, allow_nan=False, allow_infinity=False),
    counts=st.lists(st.integers(1, 60), min_size=1, max_size=8, unique=True),
    min_installment=st.integers(1, 10**7),
    dpd=st.integers(0, 2000),
)
def test_offers_never_exceed_the_rule_limits(
    db: Database,
    tenant: Tenant,
    clock: FixedClock,
    balance: int,
    discount: Decimal,
    rate: Decimal,
    counts: list[int],
    min_installment: int,
    dpd: int,
) -> None:
    """Over random balances, rates and rules (stored and read back through the real
    database): the discount never exceeds the maximum, no installment falls below the
    minimum, no plan has more installments than the rule allows, and every plan's
    installments sum exactly to its total."""
    session = Session(db.engine, expire_on_commit=False)
    try:
        creditor = session.get(Creditor, tenant.creditor_id)
        assert creditor is not None
        create_rule(
            session,
            creditor,
            rule(
                lump_sum_discount_pct=str(discount),
                monthly_interest_pct=str(rate),
                installment_counts=counts,
                min_installment=min_installment,
                min_balance=None,
                max_balance=None,
                max_days_past_due=None,
            ),
            now=T0,
            actor="test",
        )
        debtor = Debtor(
            id=new_id(),
            creditor_id=creditor.id,
            name="P",
            phone=NY,
            language="en",
            timezone="America/New_York",
            contact_status="active",
            created_at=T0,
            updated_at=T0,
        )
        session.add(debtor)
        session.flush()
        debt = Debt(
            id=new_id(),
            creditor_id=creditor.id,
            debtor_id=debtor.id,
            external_id="H",
            amount=balance,
            balance=balance,
            currency="USD",
            due_date=date(2026, 11, 25) - timedelta(days=dpd),
            status="open",
            needs_review=False,
            created_at=T0,
            updated_at=T0,
        )
        session.add(debt)
        session.flush()
        offers = compute_offers(session, debt, date(2026, 11, 25))
        assert offers.rule is not None
        if offers.lump_sum is not None:
            assert offers.lump_sum.amount <= balance
            assert offers.lump_sum.discount * 100 <= balance * discount
        assert len(offers.plans) <= 3
        for option in offers.plans:
            assert option.count in counts and option.count <= 60
            assert len(option.amounts) == option.count
            assert sum(option.amounts) == option.total
            assert min(option.amounts) >= min_installment
            if rate == 0:
                assert option.total == balance
            else:
                assert option.total >= balance
    finally:
        session.rollback()
        session.close()


def plan_state(db: Database) -> tuple[Plan, list[Installment]]:
    with db.transaction() as session:
        plan = session.scalars(select(Plan).order_by(Plan.created_at.desc())).first()
        assert plan is not None
        installments = list(
            session.scalars(
                select(Installment)
                .where(Installment.plan_id == plan.id)
                .order_by(Installment.number)
            )
        )
        return plan, installments


def agree_plan(
    client: TestClient, tenant: Tenant, clock: FixedClock, choice: str = "2", **rule_overrides: Any
) -> str:
    post_rule(client, tenant, **rule_overrides)
    debt_id = import_debt(client, tenant, debtor_phone=NY, amount=12360, due_date="2026-10-29")
    clock.advance(timedelta(seconds=1))
    send_sms(client, NY, "can I pay in installments?")
    clock.advance(timedelta(seconds=1))
    send_sms(client, NY, choice)
    return debt_id


def test_plan_then_choice_creates_an_exact_plan(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = agree_plan(client, tenant, clock, monthly_interest_pct="2")
    menu, confirmation = outbound_bodies(db, NY)
    assert menu.startswith(
        "Acme Finance: installment options for your $123.60 balance. Reply 1: 3 x $"
    )
    assert "2: 6 x $" in menu and "3: 12 x $" in menu
    plan, installments = plan_state(db)
    assert plan.status == "active" and plan.installment_count == 6
    assert sum(i.amount for i in installments) == plan.total > 12360
    assert [i.due_date for i in installments] == [
        date(2026, 12, 25),
        date(2027, 1, 25),
        date(2027, 2, 25),
        date(2027, 3, 25),
        date(2027, 4, 25),
        date(2027, 5, 25),
    ]
    assert "plan agreed: 5 x $22.07 + a last one of $22.04 monthly" in confirmation
    assert "Dec 25, 2026" in confirmation
    assert "https://parley.example.com/p/" in confirmation
    debt = client.get(f"/api/v1/debts/{debt_id}", headers=tenant.headers).json()
    assert debt["status"] == "in_plan" and debt["balance"] == plan.total
    api_plan = client.get(f"/api/v1/debts/{debt_id}/plan", headers=tenant.headers).json()
    assert [i["amount"] for i in api_plan["installments"]] == [i.amount for i in installments]
    assert api_plan["installments"][0]["payment_code"]
    assert api_plan["installments"][0]["status"] == "pending"
    with db.transaction() as session:
        version = session.get(OfferRuleVersion, plan.rule_version_id)
        assert version is not None and version.terms["monthly_interest_pct"] == "2"
        kinds = set(session.scalars(select(Event.kind).where(Event.debt_id == debt_id)))
    assert {"plan.created", "debt.status", "debt.balance"} <= kinds


def test_editing_the_rule_never_changes_an_agreed_plan(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = agree_plan(client, tenant, clock)
    before = client.get(f"/api/v1/debts/{debt_id}/plan", headers=tenant.headers).json()
    [rule_row] = client.get("/api/v1/offer-rules", headers=tenant.headers).json()
    client.patch(
        f"/api/v1/offer-rules/{rule_row['id']}",
        json={"monthly_interest_pct": "5", "installment_counts": [2]},
        headers=tenant.headers,
    )
    after = client.get(f"/api/v1/debts/{debt_id}/plan", headers=tenant.headers).json()
    assert after == before


def test_stale_menu_is_offered_again(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    post_rule(client, tenant)
    import_debt(client, tenant, debtor_phone=NY, amount=12360)
    send_sms(client, NY, "PLAN")
    clock.advance(timedelta(seconds=1))
    import_debt(client, tenant, debtor_phone=NY, amount=9000)  # re-import changes the balance
    send_sms(client, NY, "1")
    assert "options have changed" in outbound_bodies(db, NY)[-1]
    with db.transaction() as session:
        assert session.scalars(select(Plan)).first() is None


def test_plan_without_matching_rule_goes_to_a_person(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    post_rule(client, tenant, min_balance=10_000_000, max_balance=None)
    import_debt(client, tenant, debtor_phone=NY)
    send_sms(client, NY, "parcelar")
    assert "parcelamento" in outbound_bodies(db, NY)[-1]


def test_plan_lifecycle_reminder_late_restored_then_broken_and_renegotiated(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock, worker: OutboxWorker
) -> None:
    debt_id = agree_plan(
        client,
        tenant,
        clock,
        choice="1",
        grace_days=5,
        break_after_days=20,
        reminder_days_before=3,
        monthly_interest_pct="1",
    )
    worker.run_once()
    plan, installments = plan_state(db)
    assert [i.due_date for i in installments] == [
        date(2026, 12, 25),
        date(2027, 1, 25),
        date(2027, 2, 25),
    ]
    regular = installments[0].amount
    # Three days before, at 10:00 New York time: the reminder with the code.
    clock.set(datetime(2026, 12, 22, 15, 0, tzinfo=UTC))
    worker.run_once()
    assert (
        f"installment 1 of ${regular / 100:.2f} is due Dec 25, 2026" in outbound_bodies(db, NY)[-1]
    )
    # Within grace: nothing new.
    clock.set(datetime(2026, 12, 29, 15, 0, tzinfo=UTC))
    count = len(outbound_bodies(db, NY))
    worker.run_once()
    assert len(outbound_bodies(db, NY)) == count
    # Past grace: late notice.
    clock.set(datetime(2026, 12, 31, 15, 0, tzinfo=UTC))
    worker.run_once()
    assert "was due Dec 25, 2026 and is still open" in outbound_bodies(db, NY)[-1]
    assert plan_state(db)[1][0].status == "late"
    # A payment covering the late installment restores the plan: it runs on.
    with db.transaction() as session:
        debt = session.get(Debt, debt_id)
        assert debt is not None
        debt.balance -= regular
        left = apply_payment_to_plan(
            session, debt, regular, first_installment_id=None, now=clock.now(), actor="test"
        )
    assert left == 0
    plan, installments = plan_state(db)
    assert plan.status == "active" and installments[0].status == "paid"
    clock.set(datetime(2027, 1, 10, 15, 0, tzinfo=UTC))
    worker.run_once()
    assert plan_state(db)[0].status == "active"
    # The second installment stays unpaid past the break period: broken, and the debtor
    # is offered to renegotiate the principal still owed (unearned interest removed).
    clock.set(datetime(2027, 2, 15, 15, 0, tzinfo=UTC))
    worker.run_once()
    plan, _ = plan_state(db)
    assert plan.status == "broken"
    left_to_pay = 12360 - regular
    assert (
        f"Reply PLAN for new options for the ${left_to_pay / 100:,.2f} left"
        in outbound_bodies(db, NY)[-1]
    )
    debt_view = client.get(f"/api/v1/debts/{debt_id}", headers=tenant.headers).json()
    assert debt_view["status"] == "open" and debt_view["balance"] == left_to_pay
    assert client.get(f"/api/v1/debts/{debt_id}/plan", headers=tenant.headers).json()["status"] == (
        "broken"
    )
    # Renegotiation: PLAN offers a new menu on what is left.
    clock.advance(timedelta(minutes=1))
    send_sms(client, NY, "PLAN")
    assert f"for your ${left_to_pay / 100:,.2f} balance" in outbound_bodies(db, NY)[-1]
    with db.transaction() as session:
        kinds = list(session.scalars(select(Event.kind).where(Event.debt_id == debt_id)))
    assert {"installment.late", "plan.restored", "plan.status", "installment.paid"} <= set(kinds)


def test_paying_every_installment_completes_the_plan(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = agree_plan(client, tenant, clock, choice="1")
    _, installments = plan_state(db)
    with db.transaction() as session:
        debt = session.get(Debt, debt_id)
        assert debt is not None
        # An over-payment of the first spreads onto the next ones in order.
        left = apply_payment_to_plan(
            session,
            debt,
            5000,
            first_installment_id=installments[0].id,
            now=clock.now(),
            actor="test",
        )
        assert left == 0
    _, installments = plan_state(db)
    assert [i.paid_amount for i in installments] == [4120, 880, 0]
    with db.transaction() as session:
        debt = session.get(Debt, debt_id)
        assert debt is not None
        left = apply_payment_to_plan(
            session, debt, 8000, first_installment_id=None, now=clock.now(), actor="test"
        )
    assert left == 640
    plan, installments = plan_state(db)
    assert plan.status == "completed" and all(i.status == "paid" for i in installments)


def test_a_menu_from_a_rule_changed_or_withdrawn_since_is_offered_again(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    created = post_rule(client, tenant)
    import_debt(client, tenant, debtor_phone=NY, amount=12360)
    send_sms(client, NY, "PLAN")
    client.patch(
        f"/api/v1/offer-rules/{created['id']}",
        json={"installment_counts": [3]},
        headers=tenant.headers,
    )
    clock.advance(timedelta(seconds=1))
    send_sms(client, NY, "3")  # 12 installments: no longer allowed
    assert "options have changed" in outbound_bodies(db, NY)[-1]
    with db.transaction() as session:
        assert session.scalars(select(Plan)).first() is None
    clock.advance(timedelta(seconds=1))
    send_sms(client, NY, "1")
    assert plan_state(db)[0].installment_count == 3


def test_agreeing_a_plan_ends_open_promises(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    from app.conversations.models import Promise

    post_rule(client, tenant)
    import_debt(client, tenant, debtor_phone=NY, amount=12360)
    send_sms(client, NY, "I'll pay on friday")
    clock.advance(timedelta(seconds=1))
    send_sms(client, NY, "PLAN")
    clock.advance(timedelta(seconds=1))
    send_sms(client, NY, "1")
    with db.transaction() as session:
        assert session.scalars(select(Promise.status)).one() == "canceled"
