"""Real negotiation by SMS (issue 14), end to end through the signed Twilio webhook:
debtor-proposed terms, counter-offers inside the rules, and no dead ends."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.callbacks.models import Callback
from app.clock import FixedClock
from app.conversations.models import Conversation
from app.db import Database
from app.events import Event
from tests.callbacks_support import put_calendar
from tests.conftest import Tenant
from tests.helpers import import_debt, outbound_bodies, send_sms

NY = "+12125550123"
MX = "+525512345678"
BR = "+5511987654321"
ES = "+34612345678"

RULE: dict[str, Any] = {
    "name": "standard",
    "priority": 1,
    "lump_sum_discount_pct": "0",
    "lump_sum_valid_days": 7,
    "installment_counts": [3, 6, 12],
    "monthly_interest_pct": "0",
    "min_installment": 2000,
    "first_installment_in_days": 30,
}


def make_rule(client: TestClient, tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    response = client.post(
        "/api/v1/offer-rules", json={**RULE, **overrides}, headers=tenant.headers
    )
    assert response.status_code == 201 or response.status_code == 200, response.text
    return dict(response.json())


def say(client: TestClient, clock: FixedClock, phone: str, body: str) -> None:
    clock.advance(timedelta(seconds=2))
    send_sms(client, phone, body)


def plan_of(client: TestClient, tenant: Tenant, debt_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/debts/{debt_id}/plan", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def events(db: Database, kind: str) -> list[Event]:
    with db.transaction() as session:
        return list(session.scalars(select(Event).where(Event.kind == kind)))


def conversation(db: Database) -> Conversation:
    with db.transaction() as session:
        return session.scalars(select(Conversation)).one()


def assert_inside(plan: dict[str, Any], rule: dict[str, Any], balance: int) -> None:
    amounts = [i["amount"] for i in plan["installments"]]
    assert sum(amounts) == plan["total"] >= balance
    assert all(a >= rule["min_installment"] for a in amounts)
    assert len(amounts) <= max(rule["installment_counts"])
    dates = [date.fromisoformat(i["due_date"]) for i in plan["installments"]]
    assert dates == sorted(dates)


# ---------------------------------------------------------------- own terms, 2 texts


def test_english_debtor_agrees_their_own_monthly_amount_in_two_texts(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    rule = make_rule(client, tenant)
    debt_id = import_debt(client, tenant, debtor_phone=NY, amount=25100)
    say(client, clock, NY, "could I send you 40 dollars every month?")
    [proposal] = outbound_bodies(db, NY)
    assert "we can do that: 6 x $40.00 + a last one of $11.00" not in proposal
    # $11 is below the $20 minimum: it joins the sixth payment, and the text says so.
    assert "5 x $40.00 + a last one of $51.00 monthly" in proposal, proposal
    assert "Reply YES or 1" in proposal
    say(client, clock, NY, "yes")
    plan = plan_of(client, tenant, debt_id)
    assert [i["amount"] for i in plan["installments"]] == [4000] * 5 + [5100]
    assert_inside(plan, rule, 25100)
    confirmation = outbound_bodies(db, NY)[-1]
    assert "plan agreed: 5 x $40.00 + a last one of $51.00 monthly" in confirmation
    [countered] = events(db, "plan.countered")
    [accepted] = events(db, "plan.accepted")
    assert countered.data["rule_version"] == accepted.data["rule_version"] == 1
    assert countered.data["adjusted"] == ["min_installment"]
    assert not conversation(db).needs_attention


def test_spanish_mexican_debtor_pays_pesos_monthly_on_payday(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    rule = make_rule(client, tenant, name="mx", currency="MXN", min_installment=20000)
    debt_id = import_debt(
        client, tenant, debtor_phone=MX, debtor_language="es", amount=350000, currency="MXN"
    )
    say(client, clock, MX, "puedo pagar 500 pesos al mes, me pagan el dia 15")
    [proposal] = outbound_bodies(db, MX)
    # Mexican money is written the Mexican way, and the plan falls on the 15th.
    assert "podemos hacerlo: 7 x $500.00 mensuales desde el 15/" in proposal, proposal
    assert "total $3,500.00" in proposal and "Responda SI o 1" in proposal
    say(client, clock, MX, "sí")
    plan = plan_of(client, tenant, debt_id)
    assert [i["amount"] for i in plan["installments"]] == [50000] * 7
    assert all(date.fromisoformat(i["due_date"]).day == 15 for i in plan["installments"])
    assert_inside(plan, rule, 350000)
    assert "plan acordado: 7 x $500.00 mensuales" in outbound_bodies(db, MX)[-1]
    [proposed] = events(db, "plan.proposed")
    assert proposed.data["rule_version"] == 1 and proposed.data["adjusted"] == []


def test_portuguese_debtor_pays_half_now_and_the_rest_in_two_months(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    rule = make_rule(client, tenant, name="br", currency="BRL")
    debt_id = import_debt(
        client, tenant, debtor_phone=BR, debtor_language="pt-BR", amount=80000, currency="BRL"
    )
    say(client, clock, BR, "posso pagar metade hoje e o resto daqui a dois meses")
    [proposal] = outbound_bodies(db, BR)
    assert "R$ 400,00 hoje, depois R$ 400,00 em" in proposal, proposal
    assert "Responda SIM ou 1" in proposal
    say(client, clock, BR, "sim")
    plan = plan_of(client, tenant, debt_id)
    [down, rest] = plan["installments"]
    assert down["amount"] == rest["amount"] == 40000
    today = clock.now().astimezone().date()
    assert date.fromisoformat(down["due_date"]) <= today + timedelta(days=1)
    assert (date.fromisoformat(rest["due_date"]) - date.fromisoformat(down["due_date"])).days in (
        59,
        60,
        61,
        62,
    )
    assert_inside(plan, rule, 80000)
    assert down["payment_code"]


def test_counter_offer_at_the_rule_limits_and_choice_one_accepts(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    rule = make_rule(client, tenant)
    debt_id = import_debt(client, tenant, debtor_phone=NY, amount=60000)
    say(client, clock, NY, "I can only do $10 a month")
    [counter] = outbound_bodies(db, NY)
    # $10 is below the minimum and $600 would take 60 months: 12 x $50 is the closest.
    assert "the closest we can offer is 12 x $50.00 monthly" in counter, counter
    say(client, clock, NY, "1")
    plan = plan_of(client, tenant, debt_id)
    assert plan["installment_count"] == 12
    assert_inside(plan, rule, 60000)
    [countered] = events(db, "plan.countered")
    assert set(countered.data["adjusted"]) >= {"min_installment"}


def test_weekly_terms_counter_as_monthly_when_the_rule_allows_only_monthly(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    make_rule(client, tenant)
    import_debt(client, tenant, debtor_phone=NY, amount=26000)
    say(client, clock, NY, "can I pay 25 a week?")
    [counter] = outbound_bodies(db, NY)
    assert "closest we can offer" in counter and "monthly" in counter, counter


def test_weekly_terms_kept_when_the_rule_allows_weekly(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    rule = make_rule(client, tenant, periodicities=["monthly", "weekly"])
    assert rule["periodicities"] == ["monthly", "weekly"]
    debt_id = import_debt(client, tenant, debtor_phone=NY, amount=10000)
    say(client, clock, NY, "can I pay 25 a week?")
    assert "we can do that: 4 x $25.00 weekly" in outbound_bodies(db, NY)[-1]
    say(client, clock, NY, "ok")
    plan = plan_of(client, tenant, debt_id)
    dates = [date.fromisoformat(i["due_date"]) for i in plan["installments"]]
    assert [(b - a).days for a, b in pairwise(dates)] == [7, 7, 7]


def test_down_payment_below_the_rule_minimum_is_raised(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    make_rule(client, tenant, down_payment_min_pct="30")
    debt_id = import_debt(client, tenant, debtor_phone=NY, amount=50000)
    say(client, clock, NY, "I can pay 50 now and the rest in 3 payments")
    counter = outbound_bodies(db, NY)[-1]
    assert "$150.00 today, then 2 x $116.67 + a last one of $116.66 monthly" in counter
    say(client, clock, NY, "yes")
    amounts = [i["amount"] for i in plan_of(client, tenant, debt_id)["installments"]]
    assert amounts[0] == 15000 and sum(amounts) == 50000 and len(amounts) == 4


def test_down_payment_not_allowed_is_countered_without_one(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    make_rule(client, tenant, down_payment_allowed=False)
    import_debt(client, tenant, debtor_phone=NY, amount=50000)
    say(client, clock, NY, "200 now and the rest in 3 payments")
    counter = outbound_bodies(db, NY)[-1]
    assert "closest we can offer is 2 x $166.67 + a last one of $166.66" in counter
    assert "today" not in counter


def test_due_day_moves_only_as_far_as_the_rule_allows(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    make_rule(client, tenant, due_day_max_shift_days=3, first_installment_in_days=10)
    debt_id = import_debt(client, tenant, debtor_phone=NY, amount=60000)
    # Today is Nov 25 (New York); the default first due date is Dec 5; the 20th is too far.
    say(client, clock, NY, "can I pay in 6 installments on the 20th of each month?")
    assert "closest we can offer" in outbound_bodies(db, NY)[-1]
    say(client, clock, NY, "yes")
    first = plan_of(client, tenant, debt_id)["installments"][0]["due_date"]
    assert first in ("2026-12-08", "2026-12-02")


def test_rule_created_as_in_the_contract_negotiates_with_defaults(
    client: TestClient, tenant: Tenant
) -> None:
    rule = make_rule(client, tenant)
    assert rule["down_payment_allowed"] is True
    assert rule["down_payment_min_pct"] == "0"
    assert rule["periodicities"] == ["monthly"]
    assert rule["due_day_max_shift_days"] is None
    assert rule["hardship_installment_counts"] is None and rule["hardship_pause_days"] == 0


def test_bad_negotiation_settings_are_refused_naming_the_field(
    client: TestClient, tenant: Tenant
) -> None:
    response = client.post(
        "/api/v1/offer-rules", json={**RULE, "periodicities": ["daily"]}, headers=tenant.headers
    )
    assert response.status_code == 422 and "periodicities" in response.text
    response = client.post(
        "/api/v1/offer-rules", json={**RULE, "down_payment_min_pct": "150"}, headers=tenant.headers
    )
    assert response.status_code == 422 and "down_payment_min_pct" in response.text


def test_a_changed_rule_makes_the_proposal_stale(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    rule = make_rule(client, tenant)
    debt_id = import_debt(client, tenant, debtor_phone=NY, amount=24000)
    say(client, clock, NY, "can I pay 40 a month")
    client.patch(
        f"/api/v1/offer-rules/{rule['id']}", json={"min_installment": 8000}, headers=tenant.headers
    )
    say(client, clock, NY, "yes")
    assert client.get(f"/api/v1/debts/{debt_id}/plan", headers=tenant.headers).status_code == 404
    assert "changed" in outbound_bodies(db, NY)[-1]


# ------------------------------------------------------------------------ hardship


def test_hardship_gets_empathy_hardship_offers_and_a_person(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    make_rule(client, tenant, hardship_installment_counts=[24], hardship_pause_days=30)
    import_debt(client, tenant, debtor_phone=BR, debtor_language="pt-BR", amount=120000)
    say(client, clock, BR, "perdi meu emprego e estou sem dinheiro")
    [answer] = outbound_bodies(db, BR)
    assert answer.startswith("Sentimos muito") and "24x" in answer, answer
    assert "Uma pessoa da nossa equipe" in answer
    assert conversation(db).needs_attention
    assert "hardship" in (conversation(db).attention_reason or "")


def test_hardship_with_terms_proposes_within_the_hardship_limits(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    make_rule(client, tenant, hardship_installment_counts=[24])
    debt_id = import_debt(client, tenant, debtor_phone=NY, amount=48000)
    say(client, clock, NY, "I lost my job, I can only pay $20 a month")
    answer = outbound_bodies(db, NY)[-1]
    assert "we can do that: 24 x $20.00 monthly" in answer, answer
    say(client, clock, NY, "yes")
    assert plan_of(client, tenant, debt_id)["installment_count"] == 24


# ----------------------------------------------------------------------- dead ends


@pytest.mark.parametrize(
    ("phone", "language", "text", "answer"),
    [
        (NY, "en", "thanks!", "you're welcome"),
        (BR, "pt-BR", "obrigado", "por nada"),
        (MX, "es", "gracias", "con gusto"),
        (NY, "en", "👍", "you're welcome"),
    ],
)
def test_courtesies_get_a_polite_close_and_no_human_queue(
    client: TestClient,
    tenant: Tenant,
    db: Database,
    clock: FixedClock,
    phone: str,
    language: str,
    text: str,
    answer: str,
) -> None:
    import_debt(client, tenant, debtor_phone=phone, debtor_language=language)
    say(client, clock, phone, text)
    [close] = outbound_bodies(db, phone)
    assert answer in close, close
    assert not conversation(db).needs_attention
    say(client, clock, phone, text)
    assert len(outbound_bodies(db, phone)) == 1  # one close a day, never a ping-pong


def test_a_choice_outside_the_menu_shows_the_menu_again(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    make_rule(client, tenant)
    import_debt(client, tenant, debtor_phone=NY, amount=60000)
    say(client, clock, NY, "PLAN")
    [menu] = outbound_bodies(db, NY)
    say(client, clock, NY, "5")
    again = outbound_bodies(db, NY)[-1]
    assert again == f"That is not one of the options. {menu}"
    assert not conversation(db).needs_attention


def test_paid_asks_the_date_and_understands_yesterday(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    import_debt(client, tenant, debtor_phone=NY)
    say(client, clock, NY, "I already paid")
    assert "When did you pay?" in outbound_bodies(db, NY)[-1]
    say(client, clock, NY, "yesterday")
    assert "We noted your payment of Nov 24, 2026" in outbound_bodies(db, NY)[-1]
    [reported] = events(db, "payment.reported")
    assert reported.to_value == "2026-11-24"


def test_paguei_ontem_is_understood_at_once(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    import_debt(client, tenant, debtor_phone=BR, debtor_language="pt-BR")
    say(client, clock, BR, "paguei ontem")
    assert "Registramos seu pagamento de 24/11/2026" in outbound_bodies(db, BR)[-1]


def test_stop_and_start_confirmations_stay_in_the_debtors_language(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    import_debt(client, tenant, debtor_phone=MX, debtor_language="es")
    say(client, clock, MX, "STOP")
    stop = outbound_bodies(db, MX)[-1]
    assert "se dio de baja" in stop and "Responda ALTA" in stop and "START" not in stop
    say(client, clock, MX, "START")
    assert "volvera a recibir" in outbound_bodies(db, MX)[-1]
    import_debt(client, tenant, external_id="INV-2", debtor_phone=BR, debtor_language="pt-BR")
    say(client, clock, BR, "STOP")
    assert "Responda VOLTAR" in outbound_bodies(db, BR)[-1]
    say(client, clock, BR, "VOLTAR")
    assert "voce voltara a receber" in outbound_bodies(db, BR)[-1]


def test_money_follows_the_debtors_country(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    mx = import_debt(
        client, tenant, debtor_phone=MX, debtor_language="es", amount=350000, currency="MXN"
    )
    es = import_debt(
        client,
        tenant,
        external_id="INV-2",
        debtor_phone=ES,
        debtor_language="es",
        amount=350000,
        currency="EUR",
    )
    for debt_id in (mx, es):
        client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
    assert "$3,500.00" in outbound_bodies(db, MX)[0]
    assert "3.500,00 €" in outbound_bodies(db, ES)[0]


# ------------------------------------------------------------- contact preferences


@pytest.mark.parametrize(
    ("phone", "language", "text", "window", "weekdays_only", "confirmation"),
    [
        (BR, "pt-BR", "por favor me mande mensagem so a noite", ("18:00", "21:00"), False, "18:00"),
        (NY, "en", "please don't text me during work hours", ("18:00", "21:00"), False, "6:00 PM"),
        (MX, "es", "no me escriban los fines de semana", (None, None), True, "lunes a viernes"),
    ],
)
def test_contact_preference_is_stored_shown_and_confirmed(
    client: TestClient,
    tenant: Tenant,
    db: Database,
    clock: FixedClock,
    phone: str,
    language: str,
    text: str,
    window: tuple[str | None, str | None],
    weekdays_only: bool,
    confirmation: str,
) -> None:
    debt_id = import_debt(client, tenant, debtor_phone=phone, debtor_language=language)
    say(client, clock, phone, text)
    debt = client.get(f"/api/v1/debts/{debt_id}", headers=tenant.headers).json()
    assert debt["contact_window"] == {
        "start": window[0],
        "end": window[1],
        "weekdays_only": weekdays_only,
    }
    assert debt["debtor"]["contact_status"] == "active"
    assert confirmation in outbound_bodies(db, phone)[-1]
    assert not conversation(db).needs_attention


def test_the_governor_holds_initiated_texts_for_the_debtors_window(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant, debtor_phone=NY)
    say(client, clock, NY, "only text me in the evening please")
    # 10:00 in New York: the creditor's window is open, the debtor's is not.
    response = client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
    assert response.status_code == 202
    messages = client.get(f"/api/v1/debts/{debt_id}/messages", headers=tenant.headers).json()
    [statement] = [m for m in messages["items"] if m["kind"] == "statement"]
    assert statement["send_after"] is not None
    assert statement["send_after"].startswith("2026-11-25T23:00")  # 18:00 EST


# ------------------------------------------------------------------------ callbacks


def test_a_taken_call_time_is_said_so_with_the_nearest_times_in_12_hours(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    put_calendar(client, tenant, capacity=1)
    first, second = "+12125550101", "+12125550102"
    import_debt(client, tenant, external_id="C-1", debtor_phone=first)
    import_debt(client, tenant, external_id="C-2", debtor_phone=second)
    say(client, clock, first, "call me monday at 3pm")
    assert "Mon 30 Nov 3:00-3:30 PM" in outbound_bodies(db, first)[-1]
    say(client, clock, second, "call me monday at 3pm")
    answer = outbound_bodies(db, second)[-1]
    assert "sorry, 3:00 PM is already taken" in answer, answer
    assert "2:30-3:00 PM" in answer and "3:30-4:00 PM" in answer
    say(client, clock, second, "B")
    assert "we will call you on" in outbound_bodies(db, second)[-1]


def test_ok_after_a_booked_call_never_cancels_it(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    put_calendar(client, tenant, capacity=1)
    import_debt(client, tenant, debtor_phone=NY)
    say(client, clock, NY, "call me monday at 3pm")
    assert "Reply X to cancel" in outbound_bodies(db, NY)[-1]
    say(client, clock, NY, "ok")
    assert "canceled" not in outbound_bodies(db, NY)[-1]
    with db.transaction() as session:
        [call] = session.scalars(select(Callback)).all()
        assert call.status == "booked"


def test_parse_endpoint_shows_the_proposed_terms_like_the_cli(
    client: TestClient, tenant: Tenant
) -> None:
    body = client.post(
        "/api/v1/replies/parse",
        json={"text": "could I send you 40 dollars every month on the 5th?"},
        headers=tenant.headers,
    ).json()
    assert body["intent"] == "PLAN"
    assert body["terms"]["amount"] == "40" and body["terms"]["periodicity"] == "monthly"
    assert body["terms"]["day"] == 5
    pref = client.post(
        "/api/v1/replies/parse",
        json={"text": "so me mande mensagem a noite"},
        headers=tenant.headers,
    ).json()
    assert pref["intent"] == "PREFERENCE"
    assert pref["contact_preference"] == {"start": "18:00", "end": "21:00", "weekdays_only": False}


def test_a_bare_yes_to_a_menu_of_several_options_asks_which(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    make_rule(client, tenant)
    import_debt(client, tenant, debtor_phone=NY, amount=60000)
    say(client, clock, NY, "PLAN")
    [menu] = outbound_bodies(db, NY)
    say(client, clock, NY, "yes")
    assert outbound_bodies(db, NY)[-1] == f"Which option would you like? {menu}"
    assert not conversation(db).needs_attention
    say(client, clock, NY, "2")
    assert "plan agreed" in outbound_bodies(db, NY)[-1]
