"""CALL by SMS end to end: the signed webhook, the slot menu in the debtor's zone and
language, booking by letter or by a stated time, cancel / another time, reminders
through the worker, and the agents' queue afterwards."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.callbacks.models import Callback
from app.clock import FixedClock
from app.db import Database
from app.messaging.models import Message
from app.worker import OutboxWorker
from tests.callbacks_support import (
    callbacks,
    conversation_of,
    event_kinds,
    last_body,
    ny_calendar,
    put_calendar,
    queue,
    text,
)
from tests.conftest import Tenant, make_tenant
from tests.helpers import import_debt, outbound_bodies

LA_PHONE = "+14155550123"  # the import infers America/Los_Angeles


def test_call_menu_choice_reminder_complete_end_to_end(
    client: TestClient, tenant: Tenant, clock: FixedClock, worker: OutboxWorker, db: Database
) -> None:
    put_calendar(client, tenant)  # New York 09-17, lead 60, reminder 60
    debt_id = import_debt(client, tenant)
    # 07:50 in Los Angeles, 10:50 in New York.
    clock.set(datetime(2026, 11, 25, 15, 50, tzinfo=UTC))

    text(client, clock, LA_PHONE, "CALL")
    assert worker.run_once() == 1
    # An answer goes out at once, even before the window; the calls themselves obey it
    # and the 60-minute lead: New York 12:00 = 09:00 in Los Angeles comes first.
    assert outbound_bodies(db, LA_PHONE) == [
        "Acme Finance: we can call you at these times (your local time). "
        "Reply A: Wed 9:00-9:30 AM, B: Wed 9:30-10:00 AM, C: Wed 10:00-10:30 AM"
    ]
    text(client, clock, LA_PHONE, "b")
    assert worker.run_once() == 1
    assert last_body(db, LA_PHONE) == (
        "Acme Finance: we will call you on Wed 25 Nov 9:30-10:00 AM (your local time). "
        "Reply X to cancel or CALL for another time."
    )
    [booked] = callbacks(db)
    assert booked.starts_at == datetime(2026, 11, 25, 17, 30, tzinfo=UTC)
    assert (booked.status, booked.debt_id, booked.seat) == ("booked", debt_id, 1)

    # Two messages from the debtor booked it; the agents see it at 12:30 New York,
    # 09:30 Los Angeles.
    [item] = queue(client, tenant, day="2026-11-25")
    assert item["debt_id"] == debt_id
    assert item["status"] == "booked"
    assert item["starts_at"].startswith("2026-11-25T17:30:00")
    assert item["ends_at"].startswith("2026-11-25T18:00:00")
    assert item["starts_at_local"] == "2026-11-25T12:30:00-05:00"
    assert item["debtor_starts_at_local"] == "2026-11-25T09:30:00-08:00"
    assert (item["debtor_name"], item["debtor_phone"]) == ("Alex Morgan", LA_PHONE)

    # No reminder before its time (60 minutes before the call).
    clock.set(datetime(2026, 11, 25, 16, 29, tzinfo=UTC))
    assert worker.run_once() == 0
    clock.set(datetime(2026, 11, 25, 16, 30, tzinfo=UTC))
    assert worker.run_once() == 1
    assert last_body(db, LA_PHONE) == (
        "Acme Finance: a reminder that we will call you on Wed 25 Nov 9:30-10:00 AM "
        "(your local time). Reply X to cancel or CALL for another time. "
        "Reply STOP to opt out."
    )
    assert worker.run_once() == 0  # reminded once
    with db.transaction() as session:
        reminder = session.scalars(select(Message).where(Message.kind == "callback_reminder")).one()
        assert reminder.initiated is True

    clock.set(datetime(2026, 11, 25, 17, 25, tzinfo=UTC))
    response = client.post(
        f"/api/v1/callbacks/{item['id']}/claim", json={"agent": "dana"}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["agent"]) == ("claimed", "dana")
    brief = client.get(f"/api/v1/callbacks/{item['id']}/brief", headers=tenant.headers).json()
    assert brief["debt"]["id"] == debt_id
    assert brief["debt"]["balance_display"] == "$123.60"
    assert [m["body"] for m in brief["messages"]][:2] == ["CALL", outbound_bodies(db, LA_PHONE)[0]]
    assert len(brief["messages"]) == 5

    clock.set(datetime(2026, 11, 25, 17, 45, tzinfo=UTC))
    response = client.post(
        f"/api/v1/callbacks/{item['id']}/complete",
        json={"outcome": "promise_to_pay", "notes": "pays Friday"},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    done = response.json()
    assert (done["status"], done["outcome"], done["notes"]) == (
        "completed",
        "promise_to_pay",
        "pays Friday",
    )
    kinds = event_kinds(db)
    for kind in (
        "callback_calendar.updated",
        "callback.booked",
        "callback.reminder_queued",
        "callback.claimed",
        "callback.completed",
    ):
        assert kind in kinds


def test_stated_time_books_the_nearest_slot_in_three_languages(
    client: TestClient, tenant: Tenant, clock: FixedClock, worker: OutboxWorker, db: Database
) -> None:
    put_calendar(client, tenant)
    # Tuesday 24 November, 10:00 New York: "tomorrow" is Wednesday (not Thanksgiving).
    clock.set(datetime(2026, 11, 24, 15, 0, tzinfo=UTC))
    people = [
        ("INV-EN", "+12125550101", "en", "America/New_York", "call me tomorrow at 3pm"),
        ("INV-PT", "+12125550102", "pt-BR", "America/Sao_Paulo", "amanhã às 15h"),
        ("INV-ES", "+12125550103", "es", "America/Mexico_City", "mañana a las 3"),
    ]
    for external_id, phone, language, zone, _ in people:
        import_debt(
            client,
            tenant,
            external_id=external_id,
            debtor_phone=phone,
            debtor_language=language,
            debtor_timezone=zone,
        )
    for _, phone, _, _, words in people:
        text(client, clock, phone, words)
    worker.run_once()

    # 15:00 in each debtor's own zone on Wednesday 25 November.
    booked = {c.starts_at for c in callbacks(db)}
    assert booked == {
        datetime(2026, 11, 25, 20, 0, tzinfo=UTC),  # New York 15:00
        datetime(2026, 11, 25, 18, 0, tzinfo=UTC),  # Sao Paulo 15:00 = New York 13:00
        datetime(2026, 11, 25, 21, 0, tzinfo=UTC),  # Mexico City 15:00 = New York 16:00
    }
    assert last_body(db, "+12125550101") == (
        "Acme Finance: we will call you on Wed 25 Nov 3:00-3:30 PM (your local time). "
        "Reply X to cancel or CALL for another time."
    )
    assert last_body(db, "+12125550102") == (
        "Acme Finance: vamos ligar para voce em qua 25/11 15:00-15:30 (seu horario local). "
        "Responda X para cancelar ou LIGAR para outro horario."
    )
    assert last_body(db, "+12125550103") == (
        "Acme Finance: le llamaremos el mie 25/11 15:00-15:30 (su hora local). "
        "Responda X para cancelar o LLAMAR para otro horario."
    )


def test_stated_time_on_a_holiday_offers_the_menu_instead(
    client: TestClient, tenant: Tenant, clock: FixedClock, db: Database
) -> None:
    put_calendar(client, tenant)
    import_debt(client, tenant, debtor_phone="+12125550101", debtor_timezone="America/New_York")
    # Wednesday 25 November 16:30 New York; tomorrow is Thanksgiving.
    clock.set(datetime(2026, 11, 25, 21, 30, tzinfo=UTC))
    text(client, clock, "+12125550101", "call me tomorrow at 3pm")
    assert callbacks(db) == []
    assert last_body(db, "+12125550101") == (
        "Acme Finance: sorry, we cannot call you at that time. "
        "Reply A: Fri 9:00-9:30 AM, B: Fri 9:30-10:00 AM, C: Fri 10:00-10:30 AM"
    )
    assert conversation_of(db, "+12125550101").menu_kind == "callback"


def test_a_day_without_a_time_offers_that_days_slots(
    client: TestClient, tenant: Tenant, clock: FixedClock, db: Database
) -> None:
    put_calendar(client, tenant)
    import_debt(client, tenant, debtor_phone="+12125550101", debtor_timezone="America/New_York")
    text(client, clock, "+12125550101", "can you call me on monday?")
    assert last_body(db, "+12125550101") == (
        "Acme Finance: we can call you at these times (your local time). "
        "Reply A: Mon 9:00-9:30 AM, B: Mon 9:30-10:00 AM, C: Mon 10:00-10:30 AM"
    )


def test_slots_respect_the_debtors_window_across_the_date_line(
    client: TestClient, db: Database, clock: FixedClock
) -> None:
    """A team in Auckland and a debtor in Honolulu, 23 hours apart: the team's Thursday
    morning is the debtor's Wednesday morning."""
    tenant = make_tenant(db, clock, "Kiwi Loans")
    put_calendar(
        client, tenant, timezone="Pacific/Auckland", holiday_country="NZ", lead_minutes=120
    )
    import_debt(
        client,
        tenant,
        debtor_phone="+18085550100",
        debtor_timezone="Pacific/Honolulu",
    )
    # 15:00 UTC = Thu 04:00 Auckland = Wed 05:00 Honolulu (before the debtor's window).
    text(client, clock, "+18085550100", "please call me")
    # Auckland 09:00 Thursday = 20:00 UTC Wednesday = Honolulu 10:00 Wednesday.
    assert last_body(db, "+18085550100") == (
        "Kiwi Loans: we can call you at these times (your local time). "
        "Reply A: Wed 10:00-10:30 AM, B: Wed 10:30-11:00 AM, C: Wed 11:00-11:30 AM"
    )
    text(client, clock, "+18085550100", "A")
    [booked] = callbacks(db)
    assert booked.starts_at == datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
    # The agents' queue is by the team's day: Thursday in Auckland.
    [item] = queue(client, tenant, day="2026-11-26")
    assert item["starts_at_local"] == "2026-11-26T09:00:00+13:00"
    assert item["debtor_starts_at_local"] == "2026-11-25T10:00:00-10:00"
    assert queue(client, tenant, day="2026-11-25") == []


def test_debtor_ahead_of_the_team_gets_only_slots_inside_their_window(
    client: TestClient, tenant: Tenant, clock: FixedClock, db: Database
) -> None:
    """New York's afternoon is Auckland's next morning: only New York 14:00-17:00 fits
    the Auckland debtor's 08:00-21:00."""
    put_calendar(client, tenant)
    import_debt(client, tenant, debtor_phone="+12125550101", debtor_timezone="Pacific/Auckland")
    text(client, clock, "+12125550101", "CALL")
    assert last_body(db, "+12125550101") == (
        "Acme Finance: we can call you at these times (your local time). "
        "Reply A: Thu 8:00-8:30 AM, B: Thu 8:30-9:00 AM, C: Thu 9:00-9:30 AM"
    )
    options = conversation_of(db, "+12125550101").menu_options or []
    assert [o["starts_at"] for o in options] == [
        "2026-11-25T19:00:00+00:00",  # New York Wednesday 14:00
        "2026-11-25T19:30:00+00:00",
        "2026-11-25T20:00:00+00:00",
    ]


def test_no_slot_in_the_horizon_says_so_and_flags_a_human(
    client: TestClient, tenant: Tenant, clock: FixedClock, db: Database
) -> None:
    """New York 09-17 is 23:00-07:00 in Tokyo: never inside the debtor's window."""
    put_calendar(client, tenant)
    import_debt(client, tenant, debtor_phone="+12125550101", debtor_timezone="Asia/Tokyo")
    text(client, clock, "+12125550101", "CALL")
    assert last_body(db, "+12125550101") == (
        "Acme Finance: we have no callback times open right now. A person from our team "
        "will contact you."
    )
    conversation = conversation_of(db, "+12125550101")
    assert conversation.needs_attention is True
    assert conversation.menu_kind is None
    assert callbacks(db) == []


def test_without_a_calendar_a_person_calls_back(
    client: TestClient, tenant: Tenant, clock: FixedClock, db: Database
) -> None:
    import_debt(client, tenant)
    text(client, clock, LA_PHONE, "CALL")
    assert last_body(db, LA_PHONE) == (
        "Acme Finance: thank you. A person from our team will call you back during business hours."
    )
    assert conversation_of(db, LA_PHONE).needs_attention is True
    assert callbacks(db) == []


def test_slots_skip_holidays_closed_dates_and_closed_weekdays(
    client: TestClient, tenant: Tenant, clock: FixedClock, db: Database
) -> None:
    put_calendar(client, tenant, closed_dates=["2026-11-27"], slot_minutes=60)
    import_debt(client, tenant, debtor_phone="+12125550101", debtor_timezone="America/New_York")
    # Wednesday 17:00 New York: closed for the day. Thursday is Thanksgiving, Friday a
    # closed date, the weekend is left out: Monday 30 November.
    clock.set(datetime(2026, 11, 25, 22, 0, tzinfo=UTC))
    text(client, clock, "+12125550101", "CALL")
    assert last_body(db, "+12125550101") == (
        "Acme Finance: we can call you at these times (your local time). "
        "Reply A: Mon 9:00-10:00 AM, B: Mon 10:00-11:00 AM, C: Mon 11:00 AM-12:00 PM"
    )


def test_menu_across_the_autumn_dst_change(
    client: TestClient, tenant: Tenant, clock: FixedClock, db: Database
) -> None:
    """New York leaves summer time on Sunday 1 November 2026; Sao Paulo has none. The
    team's 09:00 is 10:00 in Sao Paulo on Friday and 11:00 on Monday."""
    put_calendar(client, tenant)
    import_debt(
        client,
        tenant,
        debtor_phone="+12125550101",
        debtor_timezone="America/Sao_Paulo",
        debtor_language="pt-BR",
    )
    # Friday 30 October, 16:50 New York (EDT): only Friday 16:30 is left... after the
    # 60-minute lead none is, so the menu starts on Monday.
    clock.set(datetime(2026, 10, 30, 20, 50, tzinfo=UTC))
    text(client, clock, "+12125550101", "me liga")
    assert last_body(db, "+12125550101") == (
        "Acme Finance: podemos ligar para voce nestes horarios (seu horario local). "
        "Responda A: seg 11:00-11:30, B: seg 11:30-12:00, C: seg 12:00-12:30"
    )
    text(client, clock, "+12125550101", "A")
    [booked] = callbacks(db)
    assert booked.starts_at == datetime(2026, 11, 2, 14, 0, tzinfo=UTC)  # 09:00 EST
    [item] = queue(client, tenant, day="2026-11-02")
    assert item["starts_at_local"] == "2026-11-02T09:00:00-05:00"
    assert item["debtor_starts_at_local"] == "2026-11-02T11:00:00-03:00"


def test_menu_across_the_spring_dst_gap_between_continents(
    client: TestClient, db: Database, clock: FixedClock
) -> None:
    """In March 2027 New York moves its clocks on the 14th, London on the 28th: that
    week London 12:00 is New York 08:00 (normally 07:00), so the first slot that fits a
    New York debtor's 08:00 start is London 12:00, not 13:00."""
    tenant = make_tenant(db, clock, "London Lending")
    put_calendar(client, tenant, timezone="Europe/London", holiday_country="GB")
    import_debt(client, tenant, debtor_phone="+12125550101", debtor_timezone="America/New_York")
    # Monday 15 March 2027, 10:00 London (GMT) = 06:00 New York (EDT).
    clock.set(datetime(2027, 3, 15, 10, 0, tzinfo=UTC))
    text(client, clock, "+12125550101", "CALL")
    assert last_body(db, "+12125550101") == (
        "London Lending: we can call you at these times (your local time). "
        "Reply A: Mon 8:00-8:30 AM, B: Mon 8:30-9:00 AM, C: Mon 9:00-9:30 AM"
    )
    options = conversation_of(db, "+12125550101").menu_options or []
    assert options[0]["starts_at"] == "2027-03-15T12:00:00+00:00"


def test_a_slot_filled_meanwhile_gets_a_fresh_menu_never_a_double_booking(
    client: TestClient, tenant: Tenant, clock: FixedClock, db: Database
) -> None:
    put_calendar(client, tenant, capacity=1)
    first, second = "+12125550101", "+12125550102"
    for index, phone in enumerate((first, second)):
        import_debt(
            client,
            tenant,
            external_id=f"INV-{index}",
            debtor_phone=phone,
            debtor_timezone="America/New_York",
        )
    text(client, clock, first, "CALL")
    text(client, clock, second, "CALL")
    assert last_body(db, first) == last_body(db, second)
    text(client, clock, second, "A")  # takes Wednesday 11:30 (10:00 + lead 60 = 11:00:0x)
    text(client, clock, first, "A")
    assert last_body(db, first) == (
        "Acme Finance: sorry, that time was just taken. "
        "Reply A: Wed 12:00-12:30 PM, B: Wed 12:30-1:00 PM, C: Wed 1:00-1:30 PM"
    )
    [only] = callbacks(db)
    assert only.starts_at == datetime(2026, 11, 25, 16, 30, tzinfo=UTC)
    text(client, clock, first, "A")
    assert [c.starts_at for c in callbacks(db)] == [
        datetime(2026, 11, 25, 16, 30, tzinfo=UTC),
        datetime(2026, 11, 25, 17, 0, tzinfo=UTC),
    ]
    assert "callback.slot_full" in event_kinds(db)


def test_a_slot_past_its_lead_time_is_no_longer_offered(
    client: TestClient, tenant: Tenant, clock: FixedClock, db: Database
) -> None:
    put_calendar(client, tenant)
    import_debt(client, tenant, debtor_phone="+12125550101", debtor_timezone="America/New_York")
    text(client, clock, "+12125550101", "CALL")  # A = Wednesday 11:00
    clock.set(datetime(2026, 11, 25, 15, 31, tzinfo=UTC))  # 10:31: A is now too close
    text(client, clock, "+12125550101", "A")
    assert last_body(db, "+12125550101") == (
        "Acme Finance: sorry, that time is no longer available. "
        "Reply A: Wed 12:00-12:30 PM, B: Wed 12:30-1:00 PM, C: Wed 1:00-1:30 PM"
    )
    assert callbacks(db) == []


def test_debtor_cancels_with_x_and_the_seat_is_freed(
    client: TestClient, tenant: Tenant, clock: FixedClock, db: Database
) -> None:
    put_calendar(client, tenant, capacity=1)
    import_debt(client, tenant, debtor_phone="+12125550101", debtor_timezone="America/New_York")
    text(client, clock, "+12125550101", "CALL")
    text(client, clock, "+12125550101", "A")
    conversation = conversation_of(db, "+12125550101")
    [option] = conversation.menu_options or []
    assert (option["key"], option["action"]) == ("X", "cancel")

    text(client, clock, "+12125550101", "x")
    assert last_body(db, "+12125550101") == (
        "Acme Finance: your call for Wed 25 Nov 11:30 AM-12:00 PM is canceled. "
        "Reply CALL to choose a new time."
    )
    [canceled] = callbacks(db)
    assert (canceled.status, canceled.seat) == ("canceled", None)
    assert conversation_of(db, "+12125550101").menu_kind is None
    # The seat is free again: the same slot is offered and can be booked.
    text(client, clock, "+12125550101", "CALL")
    text(client, clock, "+12125550101", "A")
    statuses = sorted((c.status, c.seat or 0) for c in callbacks(db))
    assert statuses == [("booked", 1), ("canceled", 0)]
    # X again after that cancel would be an old menu: not understood, a human looks.
    text(client, clock, "+12125550101", "X")
    text(client, clock, "+12125550101", "X")
    assert "did not understand" in last_body(db, "+12125550101")


def test_call_again_moves_the_booking(
    client: TestClient, tenant: Tenant, clock: FixedClock, db: Database
) -> None:
    put_calendar(client, tenant)
    import_debt(client, tenant, debtor_phone="+12125550101", debtor_timezone="America/New_York")
    text(client, clock, "+12125550101", "CALL")
    text(client, clock, "+12125550101", "A")
    text(client, clock, "+12125550101", "call")
    assert last_body(db, "+12125550101") == (
        "Acme Finance: your call is set for Wed 25 Nov 11:30 AM-12:00 PM. For another time (your "
        "local time): Reply A: Wed 11:30 AM-12:00 PM, B: Wed 12:00-12:30 PM, C: Wed 12:30-1:00 PM. "
        "Reply X to cancel the call."
    )
    text(client, clock, "+12125550101", "C")
    [moved] = callbacks(db)
    assert (moved.status, moved.starts_at) == ("booked", datetime(2026, 11, 25, 17, 30, tzinfo=UTC))
    assert "callback.moved" in event_kinds(db)
    assert last_body(db, "+12125550101").startswith(
        "Acme Finance: we will call you on Wed 25 Nov 12:30-1:00 PM"
    )
    # A stated time moves it too.
    text(client, clock, "+12125550101", "actually call me at 3pm")
    [moved] = callbacks(db)
    assert moved.starts_at == datetime(2026, 11, 25, 20, 0, tzinfo=UTC)


def test_reminder_held_past_the_call_by_the_daily_cap_is_skipped(
    client: TestClient, tenant: Tenant, clock: FixedClock, worker: OutboxWorker, db: Database
) -> None:
    put_calendar(client, tenant)
    debt_id = import_debt(
        client, tenant, debtor_phone="+12125550101", debtor_timezone="America/New_York"
    )
    # Today's one initiated text is the statement.
    response = client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
    assert response.status_code == 202, response.text
    worker.run_once()
    text(client, clock, "+12125550101", "call me at 2pm")
    [booked] = callbacks(db)
    assert booked.starts_at == datetime(2026, 11, 25, 19, 0, tzinfo=UTC)
    clock.set(datetime(2026, 11, 25, 18, 0, tzinfo=UTC))
    worker.run_once()
    assert "a reminder" not in last_body(db, "+12125550101")
    assert "callback.reminder_skipped" in event_kinds(db)
    with db.transaction() as session:
        assert session.scalars(select(Callback.reminder_sent_at)).one() is not None


def test_no_answer_texts_a_fresh_menu_that_books_again(
    client: TestClient, tenant: Tenant, clock: FixedClock, worker: OutboxWorker, db: Database
) -> None:
    put_calendar(client, tenant)
    import_debt(client, tenant, debtor_phone="+12125550101", debtor_timezone="America/New_York")
    text(client, clock, "+12125550101", "CALL")
    text(client, clock, "+12125550101", "A")
    [item] = queue(client, tenant)
    # 21:30 New York: outside the debtor's window, the text waits for 08:00.
    clock.set(datetime(2026, 11, 26, 2, 30, tzinfo=UTC))
    response = client.post(
        f"/api/v1/callbacks/{item['id']}/complete",
        json={"outcome": "no_answer"},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    with db.transaction() as session:
        follow_up = session.scalars(
            select(Message).where(Message.kind == "callback_no_answer")
        ).one()
        assert (follow_up.status, follow_up.initiated) == ("scheduled", True)
        assert follow_up.send_after == datetime(2026, 11, 26, 13, 0, tzinfo=UTC)
    # Slots counted from when the text goes out: Thursday is Thanksgiving, so Friday.
    assert follow_up.body == (
        "Acme Finance: we tried to call you but could not reach you. When can we call "
        "again? Reply A: Fri 9:00-9:30 AM, B: Fri 9:30-10:00 AM, C: Fri 10:00-10:30 AM (your "
        "local time). Reply STOP to opt out."
    )
    clock.set(datetime(2026, 11, 26, 13, 0, tzinfo=UTC))
    assert worker.run_once() >= 1
    text(client, clock, "+12125550101", "B")
    starts = [c.starts_at for c in callbacks(db) if c.status == "booked"]
    assert starts == [datetime(2026, 11, 27, 14, 30, tzinfo=UTC)]


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"timezone": "Mars/Olympus"}, {"timezone"}),
        ({"hours": {"mon": ["17:00", "09:00"]}}, {"hours.mon"}),
        ({"hours": {"funday": ["09:00", "17:00"]}}, {"hours.funday"}),
        ({"slot_minutes": 0, "capacity": 0}, {"slot_minutes", "capacity"}),
        ({"holiday_country": "XX"}, {"holiday_country"}),
        ({"closed_dates": ["next tuesday"]}, {"closed_dates.0"}),
        ({"reminder_minutes_before": -5}, {"reminder_minutes_before"}),
        ({"slot_minutes": "thirty"}, {"slot_minutes"}),
        ({"colour": "blue"}, {"colour"}),
    ],
)
def test_calendar_validation_names_the_fields(
    client: TestClient, tenant: Tenant, payload: dict[str, Any], fields: set[str]
) -> None:
    response = client.put(
        "/api/v1/callback-calendar", json=ny_calendar(**payload), headers=tenant.headers
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert {f["field"] for f in error["fields"]} == fields
    assert client.get("/api/v1/callback-calendar", headers=tenant.headers).status_code == 404


def test_calendar_round_trip_and_admin_only(
    client: TestClient, tenant: Tenant, clock: FixedClock, db: Database
) -> None:
    assert client.get("/api/v1/callback-calendar", headers=tenant.headers).status_code == 404
    body = put_calendar(
        client,
        tenant,
        holiday_subdivision="ny",
        closed_dates=["2026-12-24"],
        lead_minutes=30,
        reminder_minutes_before=15,
    )
    assert body["holiday_subdivision"] == "NY"
    read = client.get("/api/v1/callback-calendar", headers=tenant.headers).json()
    assert read == body
    assert read["hours"]["mon"] == ["09:00", "17:00"]
    assert "sat" not in read["hours"]
    assert (read["lead_minutes"], read["reminder_minutes_before"]) == (30, 15)
    assert read["closed_dates"] == ["2026-12-24"]

    agent = make_tenant(db, clock, "Agents Only Co", role="agent")
    response = client.put("/api/v1/callback-calendar", json=ny_calendar(), headers=agent.headers)
    assert response.status_code == 403
    # Defaults: a second PUT replaces the whole calendar.
    again = put_calendar(client, tenant)
    assert (again["lead_minutes"], again["reminder_minutes_before"]) == (60, 60)
    assert again["closed_dates"] == []
    assert date.fromisoformat(again["updated_at"][:10]) == date(2026, 11, 25)


def test_x_still_cancels_a_call_booked_days_ahead(
    client: TestClient, tenant: Tenant, clock: FixedClock, db: Database
) -> None:
    put_calendar(client, tenant, reminder_minutes_before=0)
    import_debt(client, tenant, debtor_phone="+12125550101", debtor_timezone="America/New_York")
    text(client, clock, "+12125550101", "call me monday at 10am")
    [booked] = callbacks(db)
    assert booked.starts_at == datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    # Sunday evening, four days later: longer than an ordinary menu lives.
    clock.set(datetime(2026, 11, 29, 23, 0, tzinfo=UTC))
    text(client, clock, "+12125550101", "X")
    assert last_body(db, "+12125550101") == (
        "Acme Finance: your call for Mon 30 Nov 10:00-10:30 AM is canceled. "
        "Reply CALL to choose a new time."
    )
    assert [c.status for c in callbacks(db)] == ["canceled"]
