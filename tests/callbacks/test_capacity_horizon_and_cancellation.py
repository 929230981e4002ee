"""Review fixes of callback scheduling: no overbooking when the team lowers its capacity
or changes slot length, hours or zone; stated times only inside the horizon; odd dates
never reach date arithmetic; calendar values that fit their columns; booked calls
canceled when they lose their purpose, and no reminder for them meanwhile."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.actions.calls import CallbacksDesk
from app.actions.reply import ReplyContext
from app.callbacks import service
from app.callbacks.models import Callback
from app.clock import FixedClock
from app.config import Settings
from app.conversations.classifier import Classification, Intent
from app.conversations.models import Conversation
from app.conversations.service import get_conversation
from app.creditors.models import Creditor
from app.db import Database
from app.debts.models import Debt, Debtor, Event
from app.events import set_debt_status
from app.messaging.models import Message
from app.worker import OutboxWorker
from tests.callbacks_support import (
    WEEKDAY_HOURS,
    callbacks,
    conversation_of,
    event_kinds,
    last_body,
    ny_calendar,
    put_calendar,
    queue,
    text,
)
from tests.conftest import Tenant
from tests.helpers import import_debt, outbound_bodies

D1, D2, D3 = "+12125550101", "+12125550102", "+12125550103"


def _at(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# The soonest New York slots at T0 (Wednesday 10:00) + a few seconds, lead 60.
MENU_FROM_NOW = "Reply A: Wed 11:30 AM-12:00 PM, B: Wed 12:00-12:30 PM, C: Wed 12:30-1:00 PM"
NOT_BOOKABLE = "Acme Finance: sorry, that time cannot be booked. "


def new_yorkers(client: TestClient, tenant: Tenant, *phones: str) -> list[str]:
    """Import one debt per New York debtor; returns the debt ids."""
    return [
        import_debt(
            client,
            tenant,
            external_id=f"INV-{index}",
            debtor_phone=phone,
            debtor_timezone="America/New_York",
        )
        for index, phone in enumerate(phones)
    ]


def held_at(db: Database, starts_at: datetime) -> list[Callback]:
    return [c for c in callbacks(db) if c.starts_at == starts_at and c.seat is not None]


def reschedule(client: TestClient, tenant: Tenant, callback_id: str, starts_at: str) -> Any:
    return client.post(
        f"/api/v1/callbacks/{callback_id}/reschedule",
        json={"starts_at": starts_at},
        headers=tenant.headers,
    )


def outbound_count(db: Database, phone: str) -> int:
    return len(outbound_bodies(db, phone))


# ------------------------------------------------------- 12: capacity lowered


def test_lowered_capacity_counts_the_seats_already_held(
    client: TestClient, tenant: Tenant, clock: FixedClock, db: Database
) -> None:
    """Seat 2 is still held after the team goes down to one agent: the free seat
    number 1 must not make the slot look open."""
    put_calendar(client, tenant, capacity=2)
    new_yorkers(client, tenant, D1, D2, D3)
    for phone in (D1, D2, D3):
        text(client, clock, phone, "CALL")
    text(client, clock, D1, "A")  # Wednesday 11:30, seat 1
    text(client, clock, D2, "A")  # seat 2
    text(client, clock, D1, "X")  # seat 1 is free again
    raced = datetime(2026, 11, 25, 16, 30, tzinfo=UTC)
    assert [c.seat for c in held_at(db, raced)] == [2]
    put_calendar(client, tenant, capacity=1)

    text(client, clock, D3, "A")  # still holds the menu offered before the change
    assert last_body(db, D3).startswith("Acme Finance: sorry, that time was just taken.")
    assert [c.seat for c in held_at(db, raced)] == [2]
    # The fresh menu skips the full slot; D3 books the next one.
    assert "A: Wed 12:00-12:30 PM" in last_body(db, D3)
    text(client, clock, D3, "A")
    [moved] = [i for i in queue(client, tenant, status="booked") if i["debtor_phone"] == D3]
    # An agent cannot move it into the full slot either.
    response = reschedule(client, tenant, moved["id"], raced.isoformat())
    assert response.status_code == 409, response.text
    assert response.json()["error"]["message"] == "that slot is full; choose another"
    assert [c.seat for c in held_at(db, raced)] == [2]


# ---------------------------------------- 13: slot length, hours or zone changed


@pytest.mark.parametrize(
    ("first", "second", "asked", "expected", "overlapping"),
    [
        pytest.param(
            {"slot_minutes": 60},
            {"slot_minutes": 30},
            "call me at 1:30pm",
            datetime(2026, 11, 25, 19, 0, tzinfo=UTC),  # 14:00: 13:00 and 13:30 are full
            "2026-11-25T13:30:00-05:00",
            id="slot-length",
        ),
        pytest.param(
            {},
            {"hours": {day: ["09:15", "17:15"] for day in WEEKDAY_HOURS}},
            "call me at 1:15pm",
            datetime(2026, 11, 25, 18, 45, tzinfo=UTC),  # 13:45: 12:45 and 13:15 are full
            "2026-11-25T13:15:00-05:00",
            id="hours",
        ),
        pytest.param(
            {"slot_minutes": 60},
            # St John's is New York + 1:30: its 09:00 grid is New York's :30.
            {"slot_minutes": 60, "timezone": "America/St_Johns", "holiday_country": "CA"},
            "call me at 1:30pm",
            datetime(2026, 11, 25, 19, 30, tzinfo=UTC),  # 14:30: 12:30 and 13:30 are full
            "2026-11-25T13:30:00-05:00",
            id="timezone",
        ),
    ],
)
def test_a_booking_overlapping_an_older_call_counts_it_against_capacity(
    client: TestClient,
    tenant: Tenant,
    clock: FixedClock,
    db: Database,
    first: dict[str, Any],
    second: dict[str, Any],
    asked: str,
    expected: datetime,
    overlapping: str,
) -> None:
    put_calendar(client, tenant, capacity=1, **first)
    new_yorkers(client, tenant, D1, D2)
    text(client, clock, D1, "call me at 1pm")
    [older] = callbacks(db)
    assert older.starts_at == datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
    old_end = older.ends_at
    put_calendar(client, tenant, capacity=1, **second)

    text(client, clock, D2, asked)
    # The asked time is full: the debtor is told so and offered the nearest times.
    assert "is already taken" in outbound_bodies(db, D2)[-1]
    with db.transaction() as session:
        debtor_id = session.scalars(select(Debtor.id).where(Debtor.phone == D2)).one()
        menu = session.scalars(
            select(Conversation.menu_options).where(Conversation.debtor_id == debtor_id)
        ).one()
    [letter] = [
        o["key"] for o in menu or [] if o.get("starts_at") and _at(o["starts_at"]) == expected
    ]
    text(client, clock, D2, letter)
    booked = {c.debtor_id: c for c in callbacks(db)}
    assert len(booked) == 2
    [newer] = [c for c in booked.values() if c.id != older.id]
    assert newer.starts_at == expected
    # The older booking stays as it was.
    [kept] = [c for c in booked.values() if c.id == older.id]
    assert (kept.status, kept.starts_at, kept.ends_at) == ("booked", older.starts_at, old_end)
    # An agent cannot move the newer call onto the older one either.
    response = reschedule(client, tenant, newer.id, overlapping)
    assert response.status_code == 409, response.text
    held = [c for c in callbacks(db) if c.seat is not None]
    assert all(
        not (a.starts_at < b.ends_at and b.starts_at < a.ends_at)
        for a in held
        for b in held
        if a.id != b.id
    )


def test_the_menu_skips_slots_overlapping_an_older_call(
    client: TestClient, tenant: Tenant, clock: FixedClock, db: Database
) -> None:
    put_calendar(client, tenant, capacity=1, slot_minutes=60)
    new_yorkers(client, tenant, D1, D2)
    text(client, clock, D1, "call me at noon")  # 12:00-13:00
    put_calendar(client, tenant, capacity=1, slot_minutes=30)
    text(client, clock, D2, "CALL")
    assert last_body(db, D2).endswith(
        "Reply A: Wed 11:30 AM-12:00 PM, B: Wed 1:00-1:30 PM, C: Wed 1:30-2:00 PM"
    )


# ------------------------------------------------------------ 14: the horizon


@pytest.mark.parametrize(
    "words",
    [
        "call me on 12/16 at 3pm",  # 21 days ahead, after the horizon's instant
        "call me on 1/1/2031 at 3pm",
        "call me today at 9am",  # already past
        "call me on december 28",  # a day alone, beyond the horizon
    ],
)
def test_a_stated_time_outside_the_horizon_gets_the_menu_instead(
    client: TestClient, tenant: Tenant, clock: FixedClock, db: Database, words: str
) -> None:
    put_calendar(client, tenant)
    new_yorkers(client, tenant, D1)
    text(client, clock, D1, words)
    assert callbacks(db) == []
    assert last_body(db, D1) == NOT_BOOKABLE + MENU_FROM_NOW
    assert conversation_of(db, D1).menu_kind == "callback"


def test_a_stated_time_just_inside_the_horizon_is_booked(
    client: TestClient, tenant: Tenant, clock: FixedClock, db: Database
) -> None:
    put_calendar(client, tenant)
    new_yorkers(client, tenant, D1)
    text(client, clock, D1, "call me on 12/15 at 3pm")
    [booked] = callbacks(db)
    assert booked.starts_at == datetime(2026, 12, 15, 20, 0, tzinfo=UTC)


def test_a_day_near_the_horizon_offers_only_slots_before_it(
    client: TestClient, tenant: Tenant, clock: FixedClock, db: Database
) -> None:
    put_calendar(client, tenant)
    new_yorkers(client, tenant, D1)
    clock.set(datetime(2026, 11, 25, 14, 59, tzinfo=UTC))
    text(client, clock, D1, "call me on december 16")
    # The horizon ends 21 days later, at 09:59:01 in New York on the 16th.
    assert last_body(db, D1).endswith(
        "Reply A: Wed 16 Dec 9:00-9:30 AM, B: Wed 16 Dec 9:30-10:00 AM"
    )
    options = conversation_of(db, D1).menu_options or []
    limit = clock.now() + timedelta(days=service.HORIZON_DAYS)
    assert all(datetime.fromisoformat(o["starts_at"]) < limit for o in options if "starts_at" in o)


# ------------------------------------------------------------- 15: odd dates


def test_absurd_dates_in_a_text_never_fail(
    client: TestClient, tenant: Tenant, clock: FixedClock, db: Database
) -> None:
    put_calendar(client, tenant)
    new_yorkers(client, tenant, D1)
    for words in ("call me 12/31/9999", "call me at 3pm on 12/31/9999", "call me 1/1/0001"):
        text(client, clock, D1, words)  # the webhook answers 200
        assert last_body(db, D1).startswith("Acme Finance: ")


@pytest.mark.parametrize("asked_date", [date(9999, 12, 31), date(1, 1, 1), date(1969, 12, 31)])
@pytest.mark.parametrize("asked_time", [time(15, 0), None])
def test_the_desk_bounds_dates_before_any_arithmetic(
    client: TestClient,
    tenant: Tenant,
    clock: FixedClock,
    db: Database,
    settings: Settings,
    asked_date: date,
    asked_time: time | None,
) -> None:
    """Whatever the classifier hands over (it bounds years itself today), the desk
    answers with the menu."""
    put_calendar(client, tenant)
    new_yorkers(client, tenant, D1)
    now = clock.now() + timedelta(seconds=1)
    with db.transaction() as session:
        debtor = session.scalars(select(Debtor).where(Debtor.phone == D1)).one()
        creditor = session.get(Creditor, debtor.creditor_id)
        assert creditor is not None
        ctx = ReplyContext(
            session=session,
            settings=settings,
            creditor=creditor,
            debtor=debtor,
            conversation=get_conversation(session, debtor, now),
            debt=session.scalars(select(Debt).where(Debt.debtor_id == debtor.id)).one(),
            inbound=Message(body="CALL"),
            classification=Classification(
                Intent.CALL, "en", 1.0, requested_date=asked_date, requested_time=asked_time
            ),
            now=now,
            local_today=date(2026, 11, 25),
        )
        CallbacksDesk().offer_callbacks(ctx, asked_date, asked_time)
    assert callbacks(db) == []
    assert last_body(db, D1) == NOT_BOOKABLE + MENU_FROM_NOW


def test_service_date_helpers_refuse_dates_out_of_range() -> None:
    now = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    for day in (date(9999, 12, 31), date(1, 1, 1)):
        with pytest.raises(ValueError, match="outside"):
            service.requested_instant("America/New_York", day, time(15), now)
        with pytest.raises(ValueError, match="outside"):
            service.local_day_start("Pacific/Kiritimati", day)
        assert service.bookable_day(day, now.date()) is False


@pytest.mark.parametrize(
    "starts_at",
    [
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:30:00-05:00",
        "9999-12-31T10:00:00+00:00",
        "1969-12-31T09:00:00-05:00",
        "2100-01-04T09:00:00-05:00",
    ],
)
def test_rescheduling_to_an_absurd_date_is_a_422(
    client: TestClient, tenant: Tenant, clock: FixedClock, db: Database, starts_at: str
) -> None:
    put_calendar(client, tenant)
    new_yorkers(client, tenant, D1)
    text(client, clock, D1, "CALL")
    text(client, clock, D1, "A")
    [item] = queue(client, tenant)
    response = reschedule(client, tenant, item["id"], starts_at)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["fields"][0]["field"] == "starts_at"
    assert queue(client, tenant)[0]["starts_at"] == item["starts_at"]


# ------------------------------------------------ 16: calendar values that fit


@pytest.mark.parametrize(
    ("payload", "field", "message_part"),
    [
        ({"holiday_country": "USA"}, "holiday_country", "2-letter"),
        ({"holiday_country": "usa"}, "holiday_country", "2-letter"),
        (
            {"holiday_country": "BR", "holiday_subdivision": "São Paulo Capital"},
            "holiday_subdivision",
            "code of at most 8 characters",
        ),
        (
            {"holiday_country": "ES", "holiday_subdivision": "Barcelona"},
            "holiday_subdivision",
            "code of at most 8 characters",
        ),
        ({"holiday_subdivision": "ABCDEFGHIJKL"}, "holiday_subdivision", "unknown"),
        ({"capacity": 1001}, "capacity", "from 1 to 1000"),
        ({"capacity": 2**40}, "capacity", "from 1 to 1000"),
        ({"slot_minutes": 2**40}, "slot_minutes", "from 5 to 240"),
        ({"lead_minutes": 2**63}, "lead_minutes", "from 0"),
        ({"reminder_minutes_before": 2**40}, "reminder_minutes_before", "from 0"),
        ({"timezone": "America/" + "X" * 80}, "timezone", "at most 64"),
        ({"closed_dates": ["0001-01-01"]}, "closed_dates.0", "from 1970-01-01"),
        ({"closed_dates": ["9999-12-31"]}, "closed_dates.0", "to 2099-12-31"),
    ],
)
def test_calendar_values_that_would_not_fit_are_422(
    client: TestClient, tenant: Tenant, payload: dict[str, Any], field: str, message_part: str
) -> None:
    response = client.put(
        "/api/v1/callback-calendar", json=ny_calendar(**payload), headers=tenant.headers
    )
    assert response.status_code == 422, response.text
    fields = response.json()["error"]["fields"]
    assert [f["field"] for f in fields] == [field]
    assert message_part in fields[0]["message"]
    assert client.get("/api/v1/callback-calendar", headers=tenant.headers).status_code == 404


def test_calendar_limits_themselves_are_accepted(client: TestClient, tenant: Tenant) -> None:
    body = put_calendar(
        client,
        tenant,
        capacity=1000,
        slot_minutes=240,
        lead_minutes=7 * 24 * 60,
        reminder_minutes_before=7 * 24 * 60,
        holiday_country="br",
        holiday_subdivision="sp",
        closed_dates=["1970-01-01", "2099-12-31"],
    )
    assert (body["capacity"], body["holiday_country"], body["holiday_subdivision"]) == (
        1000,
        "BR",
        "SP",
    )


# ----------------------------------------- 17: calls that lost their purpose


def test_cancel_callbacks_for_a_debt_frees_the_seat_without_texting(
    client: TestClient, tenant: Tenant, clock: FixedClock, db: Database
) -> None:
    put_calendar(client, tenant, capacity=1)
    [debt_1, _, _] = new_yorkers(client, tenant, D1, D2, D3)
    text(client, clock, D1, "CALL")
    text(client, clock, D3, "CALL")
    text(client, clock, D1, "A")  # Wednesday 11:30, the only seat
    text(client, clock, D2, "call me at 2pm")
    texts_before = outbound_count(db, D1)
    with db.transaction() as session:
        count = service.cancel_callbacks_for(
            session, debt_id=debt_1, now=clock.now(), actor="payments", reason="debt settled"
        )
    assert count == 1
    by_debtor = {c.debt_id: c for c in callbacks(db)}
    assert (by_debtor[debt_1].status, by_debtor[debt_1].seat) == ("canceled", None)
    assert sorted(c.status for c in callbacks(db)) == ["booked", "canceled"]
    assert outbound_count(db, D1) == texts_before  # nothing sent
    # The confirmation's X no longer points at a live call.
    assert conversation_of(db, D1).menu_kind is None
    with db.transaction() as session:
        event = session.scalars(select(Event).where(Event.kind == "callback.canceled")).one()
        assert (event.actor, event.debt_id, event.from_value, event.to_value) == (
            "payments",
            debt_1,
            "booked",
            "canceled",
        )
        assert event.data is not None and event.data["reason"] == "debt settled"
    # The seat is free again for someone else.
    text(client, clock, D3, "A")
    assert last_body(db, D3).startswith("Acme Finance: we will call you on Wed 25 Nov 11:30")


def test_cancel_callbacks_for_a_debtor_skips_finished_calls(
    client: TestClient, tenant: Tenant, clock: FixedClock, db: Database
) -> None:
    put_calendar(client, tenant)
    [debt_1, debt_2] = new_yorkers(client, tenant, D1, D2)
    text(client, clock, D1, "call me at 11:30am")
    [first] = queue(client, tenant)
    done = client.post(
        f"/api/v1/callbacks/{first['id']}/complete",
        json={"outcome": "reached"},
        headers=tenant.headers,
    )
    assert done.status_code == 200, done.text
    text(client, clock, D1, "call me at 2pm")
    text(client, clock, D2, "call me at 2pm")
    with db.transaction() as session:
        debtor_1 = session.scalars(select(Debtor.id).where(Debtor.phone == D1)).one()
        with pytest.raises(ValueError, match="debtor_id or a debt_id"):
            service.cancel_callbacks_for(session, now=clock.now(), actor="engine", reason="x")
        # Both given: only calls matching both.
        assert (
            service.cancel_callbacks_for(
                session, debtor_id=debtor_1, debt_id=debt_2, now=clock.now(), actor="a", reason="x"
            )
            == 0
        )
        canceled = service.cancel_callbacks_for(
            session, debtor_id=debtor_1, now=clock.now(), actor="debtor", reason="opted out"
        )
    assert canceled == 1
    statuses = sorted((c.debt_id == debt_1, c.status) for c in callbacks(db))
    assert statuses == [(False, "booked"), (True, "canceled"), (True, "completed")]
    with db.transaction() as session:
        again = service.cancel_callbacks_for(
            session, debtor_id=debtor_1, now=clock.now(), actor="debtor", reason="again"
        )
    assert again == 0


def _settle(db: Database, clock: FixedClock, phone: str, status: str) -> None:
    with db.transaction() as session:
        debt = session.scalars(
            select(Debt).join(Debtor, Debtor.id == Debt.debtor_id).where(Debtor.phone == phone)
        ).one()
        set_debt_status(session, debt, status, now=clock.now(), actor="system")


@pytest.mark.parametrize(
    "change",
    ["I dispute this debt", "I already paid", "wrong number", "STOP", "settled", "closed"],
)
def test_no_reminder_once_the_debt_or_number_is_done(
    client: TestClient,
    tenant: Tenant,
    clock: FixedClock,
    worker: OutboxWorker,
    db: Database,
    change: str,
) -> None:
    put_calendar(client, tenant)
    new_yorkers(client, tenant, D1, D2)
    for phone in (D1, D2):
        text(client, clock, phone, "call me at 1pm")  # 13:00 New York, reminder 12:00
    if change in ("settled", "closed"):
        _settle(db, clock, D1, change)
    else:
        text(client, clock, D1, change)
    worker.run_once()
    clock.set(datetime(2026, 11, 25, 17, 0, tzinfo=UTC))
    worker.run_once()
    with db.transaction() as session:
        reminded = list(
            session.scalars(select(Message.to_phone).where(Message.kind == "callback_reminder"))
        )
        queued = session.scalar(
            select(func.count(Event.id)).where(Event.kind == "callback.reminder_queued")
        )
    # The other debtor's reminder still goes out.
    assert reminded == [D2]
    assert queued == 1
    assert "callback.reminder_queued" in event_kinds(db)
