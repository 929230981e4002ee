"""Tests for the pure callback-slot computation (app.callbacks.slots).

Every test uses fixed instants: the module takes `now` as an argument, so no clock,
mocks or sleeps are needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.callbacks.slots import (
    END_OF_DAY,
    MENU_LETTERS,
    WEEKDAYS,
    CalendarSpec,
    DebtorWindow,
    Slot,
    calendar_errors,
    calendar_from_payload,
    calendar_to_payload,
    format_slot_local,
    is_open_day,
    iter_slots,
    nearest_open_slot,
    open_slots,
    slot_menu_text,
)

NINE_TO_FIVE = (time(9), time(17))
WORKWEEK = {day: NINE_TO_FIVE for day in ("mon", "tue", "wed", "thu", "fri")}
ALL_WEEK = {day: NINE_TO_FIVE for day in WEEKDAYS}
ANYTIME = DebtorWindow("America/New_York", time(0), END_OF_DAY)
NY = ZoneInfo("America/New_York")

# GSM 03.38 basic character set (no escape table needed for any of these).
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def calendar(**overrides: object) -> CalendarSpec:
    """A US team 09:00-17:00 New York, Mon-Fri, 30-minute slots, capacity 2."""
    fields: dict[str, object] = {
        "timezone": "America/New_York",
        "hours": WORKWEEK,
        "slot_minutes": 30,
        "capacity": 2,
        "holiday_country": "US",
        "holiday_subdivision": None,
        "closed_dates": frozenset(),
        "lead_minutes": 60,
    }
    fields.update(overrides)
    return CalendarSpec(**fields)  # type: ignore[arg-type]


def local_starts(slots: Iterable[Slot], zone: str) -> list[str]:
    tz = ZoneInfo(zone)
    return [s.starts_at.astimezone(tz).strftime("%a %Y-%m-%d %H:%M %Z") for s in slots]


def day_slots(spec: CalendarSpec, day: date) -> list[Slot]:
    """Slots whose start falls on `day` in the team's zone."""
    tz = ZoneInfo(spec.timezone)
    start = datetime.combine(day, time(0), tz) - timedelta(hours=3)
    end = datetime.combine(day + timedelta(days=1), time(0), tz) + timedelta(hours=3)
    return [s for s in iter_slots(spec, start, end) if s.starts_at.astimezone(tz).date() == day]


# ----------------------------------------------------------- independent oracles


def _wall_in(local_start: datetime, local_end: datetime, lo: time, hi: time) -> bool:
    """Both local ends inside [lo, hi] on the start's local day (hi may be 24:00)."""
    if local_start.time() < lo:
        return False
    if hi == END_OF_DAY:
        next_midnight = datetime.combine(local_start.date() + timedelta(days=1), time(0))
        return local_end.replace(tzinfo=None) <= next_midnight
    return local_end.date() == local_start.date() and local_end.time() <= hi


def team_hours_ok(spec: CalendarSpec, slot: Slot) -> bool:
    tz = ZoneInfo(spec.timezone)
    start, end = slot.starts_at.astimezone(tz), slot.ends_at.astimezone(tz)
    hours = spec.hours.get(WEEKDAYS[start.weekday()])
    return hours is not None and _wall_in(start, end, *hours)


def team_day_ok(spec: CalendarSpec, slot: Slot) -> bool:
    day = slot.starts_at.astimezone(ZoneInfo(spec.timezone)).date()
    if day in spec.closed_dates:
        return False
    if spec.holiday_country is None:
        return True
    table = holidays.country_holidays(
        spec.holiday_country, subdiv=spec.holiday_subdivision, years=day.year
    )
    return day not in table


def debtor_ok(window: DebtorWindow, slot: Slot) -> bool:
    tz = ZoneInfo(window.timezone)
    start, end = slot.starts_at.astimezone(tz), slot.ends_at.astimezone(tz)
    return window.start < window.end and _wall_in(start, end, window.start, window.end)


def assert_slot_rules(
    spec: CalendarSpec,
    slot: Slot,
    *,
    now: datetime,
    debtor: DebtorWindow,
    booked: Mapping[datetime, int],
) -> None:
    assert slot.starts_at.utcoffset() == timedelta(0)
    assert slot.ends_at - slot.starts_at == timedelta(minutes=spec.slot_minutes)
    assert slot.starts_at >= now + timedelta(minutes=spec.lead_minutes)
    assert team_hours_ok(spec, slot), slot
    assert team_day_ok(spec, slot), slot
    assert debtor_ok(debtor, slot), slot
    assert booked.get(slot.starts_at, 0) < spec.capacity


# ------------------------------------------------------------------ the calendar


def test_slots_are_aligned_to_opening_and_end_by_closing() -> None:
    spec = calendar()
    slots = day_slots(spec, date(2026, 11, 23))  # a Monday, EST
    assert len(slots) == 16
    assert slots[0] == Slot(utc(2026, 11, 23, 14, 0), utc(2026, 11, 23, 14, 30))
    assert slots[-1].ends_at == utc(2026, 11, 23, 22, 0)
    assert all(a.ends_at == b.starts_at for a, b in pairwise(slots))


def test_slot_that_would_overrun_closing_is_not_offered() -> None:
    # 480 minutes hold ten 45-minute slots; the 11th would end at 17:15.
    slots = day_slots(calendar(slot_minutes=45), date(2026, 11, 23))
    assert len(slots) == 10
    assert local_starts(slots[-1:], "America/New_York") == ["Mon 2026-11-23 15:45 EST"]


def test_iter_slots_respects_its_half_open_interval() -> None:
    spec = calendar()
    slots = list(iter_slots(spec, utc(2026, 11, 23, 14, 30), utc(2026, 11, 23, 15, 30)))
    assert [s.starts_at for s in slots] == [utc(2026, 11, 23, 14, 30), utc(2026, 11, 23, 15, 0)]
    assert list(iter_slots(spec, utc(2026, 11, 23, 15), utc(2026, 11, 23, 15))) == []


def test_closed_weekdays_us_thanksgiving_and_closed_dates() -> None:
    spec = calendar(closed_dates=frozenset({date(2026, 12, 24)}))
    assert not is_open_day(spec, date(2026, 11, 26))  # Thanksgiving
    assert is_open_day(spec, date(2026, 11, 27))  # not a federal holiday
    assert not is_open_day(spec, date(2026, 11, 28))  # Saturday left out
    assert not is_open_day(spec, date(2026, 12, 24))  # closed date
    assert not is_open_day(spec, date(2026, 12, 25))  # Christmas
    assert not is_open_day(spec, date(2026, 7, 3))  # Independence Day observed (Sat 4th)
    assert day_slots(spec, date(2026, 11, 26)) == []
    assert day_slots(spec, date(2026, 12, 24)) == []
    slots = list(iter_slots(spec, utc(2026, 11, 25, 12), utc(2026, 12, 31)))
    days = {s.starts_at.astimezone(NY).date() for s in slots}
    assert date(2026, 11, 26) not in days
    assert date(2026, 11, 27) in days
    assert all(d.weekday() < 5 for d in days)
    assert {date(2026, 12, 24), date(2026, 12, 25)}.isdisjoint(days)


def test_without_holiday_country_holidays_are_working_days() -> None:
    assert is_open_day(calendar(holiday_country=None), date(2026, 11, 26))


def test_brazil_black_consciousness_day_and_sao_paulo_state_holiday() -> None:
    # 2026-11-20 (Dia de Zumbi e da Consciência Negra) is national in `holidays` since 2024.
    spec = calendar(timezone="America/Sao_Paulo", holiday_country="BR")
    assert not is_open_day(spec, date(2026, 11, 20))
    assert day_slots(spec, date(2026, 11, 20)) == []
    assert is_open_day(spec, date(2026, 11, 19))
    # 9 July (Revolução Constitucionalista) is a São Paulo state holiday only.
    assert is_open_day(spec, date(2026, 7, 9))
    assert not is_open_day(replace(spec, holiday_subdivision="SP"), date(2026, 7, 9))


def test_sao_paulo_has_no_dst_nine_is_always_noon_utc() -> None:
    spec = calendar(timezone="America/Sao_Paulo", holiday_country=None)
    for day in (date(2026, 1, 14), date(2026, 7, 15), date(2026, 11, 4)):
        assert day_slots(spec, day)[0].starts_at == datetime.combine(day, time(12), UTC)


@pytest.mark.parametrize(
    ("day", "first_start_utc"),
    [
        (date(2026, 3, 7), utc(2026, 3, 7, 14)),  # Sat, EST
        (date(2026, 3, 8), utc(2026, 3, 8, 13)),  # Sun, spring forward at 02:00
        (date(2026, 3, 9), utc(2026, 3, 9, 13)),  # Mon, EDT
        (date(2026, 10, 31), utc(2026, 10, 31, 13)),  # Sat, EDT
        (date(2026, 11, 1), utc(2026, 11, 1, 14)),  # Sun, fall back at 02:00
        (date(2026, 11, 2), utc(2026, 11, 2, 14)),  # Mon, EST
    ],
)
def test_new_york_opening_stays_nine_local_across_dst(day: date, first_start_utc: datetime) -> None:
    slots = day_slots(calendar(hours=ALL_WEEK, holiday_country=None), day)
    assert slots[0].starts_at == first_start_utc
    assert slots[0].starts_at.astimezone(NY).time() == time(9)
    assert slots[-1].ends_at.astimezone(NY).time() == time(17)
    assert len(slots) == 16


@pytest.mark.parametrize(
    ("day", "offset_hours"),
    [
        (date(2026, 3, 27), 0),  # Fri, WET
        (date(2026, 3, 30), 1),  # Mon after 29 March, WEST
        (date(2026, 10, 23), 1),  # Fri, WEST
        (date(2026, 10, 26), 0),  # Mon after 25 October, WET
    ],
)
def test_lisbon_opening_across_dst(day: date, offset_hours: int) -> None:
    spec = calendar(timezone="Europe/Lisbon", holiday_country="PT")
    slots = day_slots(spec, day)
    assert slots[0].starts_at == datetime.combine(day, time(9 - offset_hours), UTC)
    assert slots[-1].ends_at == datetime.combine(day, time(17 - offset_hours), UTC)


def test_hours_spanning_spring_forward_keep_real_slot_length() -> None:
    spec = calendar(hours={"sun": (time(0), time(6))}, slot_minutes=60, holiday_country=None)
    slots = day_slots(spec, date(2026, 3, 8))
    # 00:00 EST to 06:00 EDT is five real hours; 02:00-03:00 local does not exist.
    assert local_starts(slots, "America/New_York") == [
        "Sun 2026-03-08 00:00 EST",
        "Sun 2026-03-08 01:00 EST",
        "Sun 2026-03-08 03:00 EDT",
        "Sun 2026-03-08 04:00 EDT",
        "Sun 2026-03-08 05:00 EDT",
    ]
    assert all(s.ends_at - s.starts_at == timedelta(hours=1) for s in slots)


def test_hours_spanning_fall_back_keep_real_slot_length() -> None:
    spec = calendar(hours={"sun": (time(0), time(4))}, slot_minutes=60, holiday_country=None)
    slots = day_slots(spec, date(2026, 11, 1))
    # 00:00 EDT to 04:00 EST is five real hours; 01:00-02:00 local happens twice.
    assert local_starts(slots, "America/New_York") == [
        "Sun 2026-11-01 00:00 EDT",
        "Sun 2026-11-01 01:00 EDT",
        "Sun 2026-11-01 01:00 EST",
        "Sun 2026-11-01 02:00 EST",
        "Sun 2026-11-01 03:00 EST",
    ]
    assert [s.starts_at for s in slots] == sorted({s.starts_at for s in slots})


def test_nonexistent_opening_moves_later_and_ambiguous_times_shrink_the_day() -> None:
    no_dst_holidays = {"holiday_country": None}
    gap = calendar(hours={"sun": (time(2, 30), time(5))}, **no_dst_holidays)
    # 02:30 does not exist on 2026-03-08; the day opens at the first real instant after.
    assert local_starts(day_slots(gap, date(2026, 3, 8)), "America/New_York") == [
        "Sun 2026-03-08 03:30 EDT",
        "Sun 2026-03-08 04:00 EDT",
        "Sun 2026-03-08 04:30 EDT",
    ]
    late_open = calendar(hours={"sun": (time(1, 30), time(3))}, **no_dst_holidays)
    # 01:30 happens twice on 2026-11-01: open at the second one.
    assert local_starts(day_slots(late_open, date(2026, 11, 1)), "America/New_York") == [
        "Sun 2026-11-01 01:30 EST",
        "Sun 2026-11-01 02:00 EST",
        "Sun 2026-11-01 02:30 EST",
    ]
    early_close = calendar(hours={"sun": (time(0), time(1, 30))}, **no_dst_holidays)
    # ...and close at the first one.
    slots = day_slots(early_close, date(2026, 11, 1))
    assert slots[-1].ends_at == utc(2026, 11, 1, 5, 30)  # 01:30 EDT
    assert len(slots) == 3


def test_closing_at_24_00_offers_the_last_slot_of_the_day() -> None:
    spec = calendar(hours={"mon": (time(22), END_OF_DAY)}, holiday_country=None)
    slots = day_slots(spec, date(2026, 11, 23))
    assert len(slots) == 4
    assert slots[-1].ends_at.astimezone(NY) == datetime(2026, 11, 24, 0, 0, tzinfo=NY)


# ------------------------------------------------------------- offering slots


def test_open_slots_soonest_three_with_lead_time() -> None:
    spec = calendar()
    now = utc(2026, 11, 23, 13, 30)  # Mon 08:30 EST
    slots = open_slots(spec, now=now, debtor=ANYTIME, booked={})
    assert [s.starts_at for s in slots] == [
        utc(2026, 11, 23, 14, 30),  # 09:00 is only 30 minutes away
        utc(2026, 11, 23, 15, 0),
        utc(2026, 11, 23, 15, 30),
    ]
    later = open_slots(spec, now=now + timedelta(minutes=1), debtor=ANYTIME, booked={})
    assert later[0].starts_at == utc(2026, 11, 23, 15, 0)
    no_lead = open_slots(
        calendar(lead_minutes=0), now=utc(2026, 11, 23, 14), debtor=ANYTIME, booked={}
    )
    assert no_lead[0].starts_at == utc(2026, 11, 23, 14)  # starting exactly now is fine


def test_open_slots_after_hours_rolls_over_the_holiday() -> None:
    now = utc(2026, 11, 25, 23)  # Wed 18:00 EST, Thursday is Thanksgiving
    slots = open_slots(calendar(), now=now, debtor=ANYTIME, booked={})
    assert local_starts(slots, "America/New_York") == [
        "Fri 2026-11-27 09:00 EST",
        "Fri 2026-11-27 09:30 EST",
        "Fri 2026-11-27 10:00 EST",
    ]


def test_full_slot_is_skipped_partly_booked_slot_is_kept() -> None:
    spec = calendar(capacity=2)
    now = utc(2026, 11, 23, 12)
    nine, half_past = utc(2026, 11, 23, 14), utc(2026, 11, 23, 14, 30)
    booked = {nine: 2, half_past: 1}
    slots = open_slots(spec, now=now, debtor=ANYTIME, booked=booked)
    assert [s.starts_at for s in slots] == [
        half_past,
        utc(2026, 11, 23, 15),
        utc(2026, 11, 23, 15, 30),
    ]


def test_booked_keys_may_be_naive_utc_or_in_another_zone() -> None:
    spec = calendar(capacity=1)
    now = utc(2026, 11, 23, 12)
    naive = {datetime(2026, 11, 23, 14): 1}  # as read back from SQLite
    assert open_slots(spec, now=now, debtor=ANYTIME, booked=naive)[0].starts_at == utc(
        2026, 11, 23, 14, 30
    )
    new_york = {datetime(2026, 11, 23, 9, tzinfo=NY): 1}
    assert open_slots(spec, now=now, debtor=ANYTIME, booked=new_york)[0].starts_at == utc(
        2026, 11, 23, 14, 30
    )


def test_count_and_horizon() -> None:
    spec = calendar()
    friday_evening = utc(2026, 11, 27, 23)
    assert open_slots(spec, now=friday_evening, debtor=ANYTIME, booked={}, horizon_days=1) == []
    assert len(open_slots(spec, now=friday_evening, debtor=ANYTIME, booked={}, count=20)) == 20
    assert open_slots(spec, now=friday_evening, debtor=ANYTIME, booked={}, count=0) == []
    far = open_slots(spec, now=friday_evening, debtor=ANYTIME, booked={}, count=10_000)
    assert far[-1].starts_at < friday_evening + timedelta(days=21)
    assert len(far) == 16 * 15  # Mon 30 Nov to Fri 18 Dec, no holidays in between


def test_debtor_window_is_applied_in_the_debtors_zone() -> None:
    # Team in New York until 22:00; debtor in Los Angeles who may be called until 18:00.
    spec = calendar(hours={"mon": (time(9), time(22))})
    debtor = DebtorWindow("America/Los_Angeles", time(8), time(18))
    slots = open_slots(spec, now=utc(2026, 11, 23, 12), debtor=debtor, booked={}, count=100)
    la = ZoneInfo("America/Los_Angeles")
    # Team opens 09:00 EST = 06:00 PST: too early for the debtor until 11:00 EST.
    assert slots[0].starts_at.astimezone(la).time() == time(8)
    assert slots[-1].ends_at.astimezone(la).time() == time(18)
    assert all(debtor_ok(debtor, s) for s in slots)


def test_team_in_new_york_debtor_in_tokyo_is_the_next_morning() -> None:
    spec = calendar(hours={"mon": (time(9), time(22)), "tue": NINE_TO_FIVE})
    debtor = DebtorWindow("Asia/Tokyo", time(8), time(21))
    now = utc(2026, 11, 24, 20)  # Tue 15:00 EST; Mon is the only evening shift
    slots = open_slots(spec, now=now, debtor=debtor, booked={})
    assert local_starts(slots, "America/New_York") == [
        "Mon 2026-11-30 18:00 EST",
        "Mon 2026-11-30 18:30 EST",
        "Mon 2026-11-30 19:00 EST",
    ]
    assert slot_menu_text(slots, "Asia/Tokyo", "en") == (
        "Reply A: Tue 08:00-08:30, B: Tue 08:30-09:00, C: Tue 09:00-09:30"
    )
    # Business hours 09:00-17:00 New York never meet 08:00-21:00 Tokyo.
    assert open_slots(calendar(), now=now, debtor=debtor, booked={}) == []


def test_team_in_auckland_debtor_in_pago_pago_is_a_day_behind() -> None:
    spec = calendar(timezone="Pacific/Auckland", holiday_country="NZ")
    debtor = DebtorWindow("Pacific/Pago_Pago", time(8), time(21))
    now = utc(2026, 11, 18, 22)  # Thu 11:00 NZDT, Wed 11:00 in Pago Pago
    slots = open_slots(spec, now=now, debtor=debtor, booked={}, count=40)
    auckland, pago = ZoneInfo("Pacific/Auckland"), ZoneInfo("Pacific/Pago_Pago")
    for slot in slots:
        team_day = slot.starts_at.astimezone(auckland).date()
        debtor_day = slot.starts_at.astimezone(pago).date()
        assert debtor_day == team_day - timedelta(days=1)
        # NZDT is UTC+13 and Samoa time UTC-11: same clock reading, one day apart.
        assert slot.starts_at.astimezone(pago).time() == slot.starts_at.astimezone(auckland).time()
    assert slots[0].starts_at == utc(2026, 11, 18, 23)  # 12:00 NZDT, after the lead time
    assert slot_menu_text(slots[:1], "Pacific/Pago_Pago", "en") == "Reply A: Wed 12:00-12:30"


def test_team_in_auckland_debtor_in_los_angeles_evening_cutoff() -> None:
    spec = calendar(timezone="Pacific/Auckland", holiday_country="NZ")
    debtor = DebtorWindow("America/Los_Angeles", time(8), time(18))
    slots = open_slots(spec, now=utc(2026, 11, 18, 19), debtor=debtor, booked={}, count=100)
    auckland = ZoneInfo("Pacific/Auckland")
    # 18:00 PST is 15:00 NZDT the next day: the afternoon in Auckland is unavailable.
    assert max(s.ends_at.astimezone(auckland).time() for s in slots) == time(15)
    assert all(debtor_ok(debtor, s) and team_hours_ok(spec, s) for s in slots)


def test_empty_debtor_window_gets_nothing() -> None:
    debtor = DebtorWindow("America/New_York", time(21), time(8))
    assert open_slots(calendar(), now=utc(2026, 11, 23, 12), debtor=debtor, booked={}) == []


def test_every_slot_of_a_quarter_follows_the_team_rules() -> None:
    spec = calendar(closed_dates=frozenset({date(2026, 12, 24), date(2026, 12, 31)}))
    slots = list(iter_slots(spec, utc(2026, 10, 1), utc(2027, 1, 1)))
    assert slots == sorted(set(slots))
    assert all(team_hours_ok(spec, s) and team_day_ok(spec, s) for s in slots)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        open_slots(calendar(), now=datetime(2026, 11, 23, 12), debtor=ANYTIME, booked={})
    with pytest.raises(ValueError, match="timezone-aware"):
        list(iter_slots(calendar(), datetime(2026, 11, 23), utc(2026, 11, 24)))


# --------------------------------------------------------------- nearest slot


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        (datetime(2026, 11, 24, 15, 10, tzinfo=NY), datetime(2026, 11, 24, 15, 0, tzinfo=NY)),
        (datetime(2026, 11, 24, 15, 20, tzinfo=NY), datetime(2026, 11, 24, 15, 30, tzinfo=NY)),
        # exactly between two starts: the earlier wins
        (datetime(2026, 11, 24, 15, 15, tzinfo=NY), datetime(2026, 11, 24, 15, 0, tzinfo=NY)),
        # after closing: the last slot (16:30) is 90 minutes away
        (datetime(2026, 11, 24, 18, 0, tzinfo=NY), datetime(2026, 11, 24, 16, 30, tzinfo=NY)),
        # before opening, asked in another zone
        (utc(2026, 11, 24, 12, 0), datetime(2026, 11, 24, 9, 0, tzinfo=NY)),
        # exactly max_distance away still counts
        (datetime(2026, 11, 24, 19, 30, tzinfo=NY), datetime(2026, 11, 24, 16, 30, tzinfo=NY)),
    ],
)
def test_nearest_open_slot(requested: datetime, expected: datetime) -> None:
    now = utc(2026, 11, 23, 15)
    slot = nearest_open_slot(calendar(), requested=requested, now=now, debtor=ANYTIME, booked={})
    assert slot is not None
    assert slot.starts_at == expected


def test_nearest_open_slot_none_when_too_far_or_closed() -> None:
    now = utc(2026, 11, 23, 15)
    spec = calendar()
    for requested in (
        datetime(2026, 11, 24, 19, 31, tzinfo=NY),  # 3h01 after the last slot
        datetime(2026, 11, 26, 10, tzinfo=NY),  # Thanksgiving
        datetime(2026, 11, 29, 10, tzinfo=NY),  # Sunday
        datetime(2026, 11, 20, 10, tzinfo=NY),  # in the past
    ):
        assert (
            nearest_open_slot(spec, requested=requested, now=now, debtor=ANYTIME, booked={}) is None
        )


def test_nearest_open_slot_skips_full_slots_and_respects_lead_and_debtor() -> None:
    spec = calendar(capacity=1)
    now = utc(2026, 11, 24, 14, 40)  # Tue 09:40 EST; nothing before 10:40
    three_pm = datetime(2026, 11, 24, 15, tzinfo=NY)
    booked = {three_pm.astimezone(UTC): 1}
    slot = nearest_open_slot(spec, requested=three_pm, now=now, debtor=ANYTIME, booked=booked)
    assert slot is not None and slot.starts_at == datetime(2026, 11, 24, 14, 30, tzinfo=NY)
    soon = nearest_open_slot(
        spec, requested=datetime(2026, 11, 24, 9, 30, tzinfo=NY), now=now, debtor=ANYTIME, booked={}
    )
    assert soon is not None and soon.starts_at == datetime(2026, 11, 24, 11, tzinfo=NY)
    tokyo = DebtorWindow("Asia/Tokyo", time(8), time(21))
    assert nearest_open_slot(spec, requested=three_pm, now=now, debtor=tokyo, booked={}) is None


# --------------------------------------------------------------------- menus


MENU_SLOTS = [
    Slot(utc(2026, 11, 24, 15, 0), utc(2026, 11, 24, 15, 30)),
    Slot(utc(2026, 11, 24, 19, 0), utc(2026, 11, 24, 19, 30)),
    Slot(utc(2026, 11, 25, 14, 30), utc(2026, 11, 25, 15, 0)),
]


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "Reply A: Tue 10:00-10:30, B: Tue 14:00-14:30, C: Wed 09:30-10:00"),
        ("es", "Responda A: mar 10:00-10:30, B: mar 14:00-14:30, C: mie 09:30-10:00"),
        ("pt-BR", "Responda A: ter 10:00-10:30, B: ter 14:00-14:30, C: qua 09:30-10:00"),
        ("pt", "Responda A: ter 10:00-10:30, B: ter 14:00-14:30, C: qua 09:30-10:00"),
        ("pt_br", "Responda A: ter 10:00-10:30, B: ter 14:00-14:30, C: qua 09:30-10:00"),
        ("es-MX", "Responda A: mar 10:00-10:30, B: mar 14:00-14:30, C: mie 09:30-10:00"),
        ("fr", "Reply A: Tue 10:00-10:30, B: Tue 14:00-14:30, C: Wed 09:30-10:00"),
    ],
)
def test_menu_languages(language: str, expected: str) -> None:
    text = slot_menu_text(MENU_SLOTS, "America/New_York", language)
    assert text == expected
    assert set(text) <= GSM7_BASIC


def test_menu_is_in_the_debtors_zone() -> None:
    assert slot_menu_text(MENU_SLOTS[:1], "America/Sao_Paulo", "pt-BR") == (
        "Responda A: ter 12:00-12:30"
    )
    assert slot_menu_text(MENU_SLOTS[:1], "Asia/Tokyo", "es") == "Responda A: mie 00:00-00:30"


def test_weekend_day_names_are_plain_ascii() -> None:
    saturday, sunday = utc(2026, 11, 28, 15), utc(2026, 11, 29, 15)
    slots = [
        Slot(saturday, saturday + timedelta(minutes=30)),
        Slot(sunday, sunday + timedelta(minutes=30)),
    ]
    assert slot_menu_text(slots, "UTC", "es") == "Responda A: sab 15:00-15:30, B: dom 15:00-15:30"
    assert slot_menu_text(slots, "UTC", "pt") == "Responda A: sab 15:00-15:30, B: dom 15:00-15:30"


def test_menu_shows_dates_when_the_weekday_alone_is_ambiguous() -> None:
    next_week = Slot(utc(2026, 12, 1, 15), utc(2026, 12, 1, 15, 30))
    assert slot_menu_text([MENU_SLOTS[0], next_week], "America/New_York", "en") == (
        "Reply A: Tue 24 Nov 10:00-10:30, B: Tue 1 Dec 10:00-10:30"
    )
    assert slot_menu_text([next_week], "America/New_York", "pt-BR") == "Responda A: ter 10:00-10:30"
    # A week or more ahead of `now`, "ter" would read as the nearer Tuesday.
    now = utc(2026, 11, 24, 12)
    assert slot_menu_text([next_week], "America/New_York", "pt-BR", now=now) == (
        "Responda A: ter 01/12 10:00-10:30"
    )
    assert slot_menu_text(MENU_SLOTS, "America/New_York", "en", now=now).startswith(
        "Reply A: Tue 10"
    )


def test_menu_refuses_empty_or_oversized_lists() -> None:
    with pytest.raises(ValueError, match="no slots"):
        slot_menu_text([], "America/New_York", "en")
    many = [
        Slot(
            utc(2026, 11, 24, 14) + timedelta(minutes=5 * i),
            utc(2026, 11, 24, 14, 5) + timedelta(minutes=5 * i),
        )
        for i in range(len(MENU_LETTERS) + 1)
    ]
    with pytest.raises(ValueError, match="at most"):
        slot_menu_text(many, "America/New_York", "en")


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "Tue 24 Nov 10:00-10:30"),
        ("es", "mar 24/11 10:00-10:30"),
        ("pt-BR", "ter 24/11 10:00-10:30"),
    ],
)
def test_format_slot_local(language: str, expected: str) -> None:
    assert format_slot_local(MENU_SLOTS[0], "America/New_York", language) == expected


def test_format_slot_local_pads_day_and_month_in_spanish_and_portuguese() -> None:
    slot = Slot(utc(2026, 12, 1, 15), utc(2026, 12, 1, 15, 30))
    assert format_slot_local(slot, "America/New_York", "en") == "Tue 1 Dec 10:00-10:30"
    assert format_slot_local(slot, "America/Sao_Paulo", "pt") == "ter 01/12 12:00-12:30"


# ------------------------------------------------------------ payload and errors


CONTRACT_EXAMPLE: dict[str, object] = {
    "timezone": "America/New_York",
    "hours": {day: ["09:00", "17:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
    "slot_minutes": 30,
    "capacity": 2,
    "holiday_country": "US",
}


def test_contract_example_parses_with_defaults() -> None:
    spec, errors = calendar_from_payload(CONTRACT_EXAMPLE)
    assert errors == []
    assert spec == calendar()


def test_payload_round_trip() -> None:
    payload: dict[str, object] = {
        "timezone": "America/Sao_Paulo",
        "hours": {"mon": ["08:30", "18:00"], "sat": ["09:00", "24:00"]},
        "slot_minutes": 45,
        "capacity": 3,
        "holiday_country": "BR",
        "holiday_subdivision": "SP",
        "closed_dates": ["2026-12-31", "2026-12-24"],
        "lead_minutes": 0,
    }
    spec, errors = calendar_from_payload(payload)
    assert errors == [] and spec is not None
    assert spec.hours["sat"] == (time(9), END_OF_DAY)
    out = calendar_to_payload(spec)
    assert out["closed_dates"] == ["2026-12-24", "2026-12-31"]
    assert calendar_from_payload(out) == (spec, [])
    assert calendar_to_payload(calendar()) == {
        **CONTRACT_EXAMPLE,
        "holiday_subdivision": None,
        "closed_dates": [],
        "lead_minutes": 60,
    }


def test_payload_is_lenient_about_spelling() -> None:
    spec, errors = calendar_from_payload(
        {
            **CONTRACT_EXAMPLE,
            "hours": {"Monday": ["9:00", "17:00"], "TUE": ["09:00", "17:00"], "wed": None},
            "holiday_country": "br",
            "holiday_subdivision": "sp",
        }
    )
    assert errors == [] and spec is not None
    assert dict(spec.hours) == {"mon": NINE_TO_FIVE, "tue": NINE_TO_FIVE}
    assert (spec.holiday_country, spec.holiday_subdivision) == ("BR", "SP")


def errors_for(**changes: object) -> list[tuple[str, str]]:
    payload = {**CONTRACT_EXAMPLE, **changes}
    spec, errors = calendar_from_payload({k: v for k, v in payload.items() if v is not ...})
    assert spec is None
    assert errors
    return errors


def paths(errors: list[tuple[str, str]]) -> list[str]:
    return [path for path, _ in errors]


@pytest.mark.parametrize(
    ("changes", "path", "message_part"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
        ({"timezone": "America"}, "timezone", "unknown time zone"),
        ({"timezone": 5}, "timezone", "IANA"),
        ({"timezone": ...}, "timezone", "required"),
        ({"hours": ...}, "hours", "required"),
        ({"hours": ["mon"]}, "hours", "object"),
        ({"hours": {}}, "hours", "at least one"),
        ({"hours": {"mun": ["09:00", "17:00"]}}, "hours.mun", "unknown weekday"),
        ({"hours": {"mon": ["9am", "5pm"]}}, "hours.mon", "HH:MM"),
        ({"hours": {"mon": ["09:00", "25:00"]}}, "hours.mon", "HH:MM"),
        ({"hours": {"mon": ["09:00"]}}, "hours.mon", "open, close"),
        ({"hours": {"mon": ["17:00", "09:00"]}}, "hours.mon", "before closing"),
        ({"hours": {"mon": ["09:00", "09:00"]}}, "hours.mon", "before closing"),
        ({"hours": {"mon": ["24:00", "24:00"]}}, "hours.mon", "24:00"),
        ({"hours": {"mon": ["09:00", "09:20"]}}, "hours.mon", "shorter than one 30-minute slot"),
        (
            {"hours": {"mon": ["09:00", "17:00"], "Monday": ["10:00", "11:00"]}},
            "hours.Monday",
            "more than once",
        ),
        ({"slot_minutes": 4}, "slot_minutes", "from 5 to 240"),
        ({"slot_minutes": 241}, "slot_minutes", "from 5 to 240"),
        ({"slot_minutes": "30"}, "slot_minutes", "whole number"),
        ({"slot_minutes": 30.5}, "slot_minutes", "whole number"),
        ({"slot_minutes": ...}, "slot_minutes", "required"),
        ({"capacity": 0}, "capacity", "from 1 to 1000"),
        ({"capacity": True}, "capacity", "whole number"),
        ({"lead_minutes": -5}, "lead_minutes", "from 0"),
        ({"holiday_country": "XX"}, "holiday_country", "unsupported holiday country"),
        ({"holiday_country": 1}, "holiday_country", "string"),
        ({"holiday_subdivision": "ZZ"}, "holiday_subdivision", "unknown subdivision 'ZZ' of US"),
        ({"holiday_country": None, "holiday_subdivision": "NY"}, "holiday_subdivision", "needs"),
        ({"closed_dates": "2026-12-24"}, "closed_dates", "list"),
        ({"closed_dates": ["2026-12-24", "24/12/2026"]}, "closed_dates.1", "YYYY-MM-DD"),
        ({"closed_dates": ["2026-02-30"]}, "closed_dates.0", "YYYY-MM-DD"),
        ({"slot_minute": 30}, "slot_minute", "unknown field"),
        # Values that would not fit their columns (a 500 on PostgreSQL).
        ({"capacity": 1001}, "capacity", "from 1 to 1000"),
        ({"capacity": 2**63}, "capacity", "from 1 to 1000"),
        ({"holiday_country": "USA"}, "holiday_country", "2-letter"),
        ({"holiday_country": "BRA"}, "holiday_country", "2-letter"),
        (
            {"holiday_country": "BR", "holiday_subdivision": "Sao Paulo Capital"},
            "holiday_subdivision",
            "code of at most 8 characters",
        ),
        (
            {"holiday_country": "BR", "holiday_subdivision": "são paulo capital"},
            "holiday_subdivision",
            "unknown subdivision 'São Paulo Capital' of BR",
        ),
        ({"timezone": "Europe/" + "x" * 60}, "timezone", "at most 64"),
        ({"closed_dates": ["1969-12-31"]}, "closed_dates.0", "from 1970-01-01"),
        ({"closed_dates": ["2100-01-01"]}, "closed_dates.0", "to 2099-12-31"),
    ],
)
def test_payload_errors(changes: dict[str, object], path: str, message_part: str) -> None:
    errors = errors_for(**changes)
    assert path in paths(errors), errors
    assert any(p == path and message_part in m for p, m in errors), errors


def test_payload_reports_every_problem_once() -> None:
    errors = errors_for(
        timezone="Nowhere/Land",
        hours={"mon": ["9am", "5pm"], "tue": ["17:00", "09:00"], "xyz": ["09:00", "10:00"]},
        capacity=0,
    )
    assert sorted(paths(errors)) == ["capacity", "hours.mon", "hours.tue", "hours.xyz", "timezone"]


def test_payload_not_an_object() -> None:
    assert calendar_from_payload(["mon"]) == (None, [("", "must be a JSON object")])  # type: ignore[arg-type]


def test_calendar_errors_on_a_spec_built_in_code() -> None:
    spec = calendar(
        timezone="Europe/Nowhere",
        hours={"mon": (time(9), time(8)), "funday": NINE_TO_FIVE},
        slot_minutes=300,
        capacity=0,
        holiday_country="BR",
        holiday_subdivision="NY",
        lead_minutes=10**6,
    )
    assert sorted(paths(calendar_errors(spec))) == [
        "capacity",
        "holiday_subdivision",
        "hours.funday",
        "hours.mon",
        "lead_minutes",
        "slot_minutes",
        "timezone",
    ]
    assert calendar_errors(calendar()) == []


def test_calendar_errors_hold_code_built_specs_to_the_stored_widths() -> None:
    spec = calendar(
        capacity=10**9,
        holiday_country="USA",
        closed_dates=frozenset({date(1, 1, 1)}),
        timezone="UTC" + " " * 70,
    )
    assert sorted(paths(calendar_errors(spec))) == [
        "capacity",
        "closed_dates",
        "holiday_country",
        "timezone",
    ]
    long_name = calendar(holiday_country="CH", holiday_subdivision="Stadt Zurich")
    [(path, message)] = calendar_errors(long_name)
    assert path == "holiday_subdivision" and "ZH" in message
    assert "Stadt Zurich" not in message.split("one of:")[1]
    assert calendar_errors(calendar(capacity=1000, holiday_subdivision="NY")) == []


# -------------------------------------------------------------------- properties

ZONES = [
    "UTC",
    "America/New_York",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "America/St_Johns",
    "America/Santiago",
    "Europe/Lisbon",
    "Europe/London",
    "Asia/Tokyo",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Pacific/Auckland",
    "Pacific/Chatham",
    "Pacific/Pago_Pago",
    "Pacific/Kiritimati",
]
COUNTRIES = [None, "US", "BR", "PT", "NZ", "JP", "GB"]


def _time_of(minutes: int) -> time:
    return END_OF_DAY if minutes == 24 * 60 else time(minutes // 60, minutes % 60)


@st.composite
def calendars(draw: st.DrawFn, near: date) -> CalendarSpec:
    slot = draw(st.integers(5, 240))
    hours: dict[str, tuple[time, time]] = {}
    for day in draw(st.sets(st.sampled_from(WEEKDAYS), min_size=1)):
        opens = draw(st.integers(0, 24 * 60 - slot))
        closes = draw(st.integers(opens + slot, 24 * 60))
        hours[day] = (_time_of(opens), _time_of(closes))
    offsets = draw(st.frozensets(st.integers(-1, 22), max_size=6))
    return CalendarSpec(
        timezone=draw(st.sampled_from(ZONES)),
        hours=hours,
        slot_minutes=slot,
        capacity=draw(st.integers(1, 3)),
        holiday_country=draw(st.sampled_from(COUNTRIES)),
        holiday_subdivision=None,
        closed_dates=frozenset(near + timedelta(days=o) for o in offsets),
        lead_minutes=draw(st.integers(0, 600)),
    )


@st.composite
def debtor_windows(draw: st.DrawFn) -> DebtorWindow:
    start = draw(st.integers(0, 24 * 60 - 1))
    end = draw(st.integers(start + 1, 24 * 60))
    return DebtorWindow(draw(st.sampled_from(ZONES)), _time_of(start), _time_of(end))


# Days on which some zone above changes its UTC offset, so DST is hit often.
DST_CHANGES = [
    datetime(2026, 3, 8),  # US spring forward
    datetime(2026, 11, 1),  # US fall back
    datetime(2026, 3, 29),  # EU (Lisbon, London)
    datetime(2026, 10, 25),
    datetime(2026, 4, 5),  # New Zealand, Lord Howe and Chile end DST
    datetime(2026, 9, 6),  # Chile starts
    datetime(2026, 9, 27),  # New Zealand starts
    datetime(2026, 10, 4),  # Lord Howe starts (a 30-minute change)
]
NOWS = st.one_of(
    st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2030, 12, 1), timezones=st.just(UTC)
    ),
    st.builds(
        lambda day, shift: (day + shift).replace(tzinfo=UTC),
        st.sampled_from(DST_CHANGES),
        st.timedeltas(timedelta(days=-3), timedelta(days=1)),
    ),
)
PROPERTY_SETTINGS = settings(
    # A larger profile (e.g. for a nightly run) raises this; never below 150.
    max_examples=max(150, settings().max_examples),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@PROPERTY_SETTINGS
@given(data=st.data(), now=NOWS, debtor=debtor_windows())
def test_property_open_slots_follow_every_rule(
    data: st.DataObject, now: datetime, debtor: DebtorWindow
) -> None:
    spec = data.draw(calendars(now.date()))
    horizon = data.draw(st.integers(1, 21))
    count = data.draw(st.integers(1, 6))
    earliest = now + timedelta(minutes=spec.lead_minutes)
    candidates = list(iter_slots(spec, earliest, now + timedelta(days=horizon)))
    full = data.draw(st.sets(st.integers(0, 40), max_size=15))
    partly = data.draw(st.sets(st.integers(0, 40), max_size=15))
    booked: dict[datetime, int] = {}
    for index in partly:
        if index < len(candidates):
            booked[candidates[index].starts_at] = spec.capacity - 1
    for index in full:
        if index < len(candidates):
            booked[candidates[index].starts_at] = spec.capacity

    result = open_slots(
        spec, now=now, debtor=debtor, booked=booked, count=count, horizon_days=horizon
    )

    assert len(result) <= count
    starts = [s.starts_at for s in result]
    assert starts == sorted(set(starts))
    for slot in result:
        assert_slot_rules(spec, slot, now=now, debtor=debtor, booked=booked)
        assert slot.starts_at < now + timedelta(days=horizon)

    # Soonest: no qualifying slot was passed over. (A slot during which the debtor's
    # UTC offset changes may be refused conservatively, so it is not required here.)
    debtor_tz = ZoneInfo(debtor.timezone)
    for slot in candidates:
        if len(result) == count and slot.starts_at >= result[-1].starts_at:
            break
        steady = slot.starts_at.astimezone(debtor_tz).utcoffset() == (
            slot.ends_at.astimezone(debtor_tz).utcoffset()
        )
        if steady and debtor_ok(debtor, slot) and booked.get(slot.starts_at, 0) < spec.capacity:
            assert slot in result


@PROPERTY_SETTINGS
@given(data=st.data(), start=NOWS, days=st.integers(1, 10))
def test_property_iter_slots_stay_in_hours_and_are_aligned(
    data: st.DataObject, start: datetime, days: int
) -> None:
    spec = data.draw(calendars(start.date()))
    end = start + timedelta(days=days)
    slots = list(iter_slots(spec, start, end))
    assert slots == sorted(set(slots))
    tz = ZoneInfo(spec.timezone)
    for slot in slots:
        assert start <= slot.starts_at < end
        assert slot.ends_at - slot.starts_at == timedelta(minutes=spec.slot_minutes)
        assert team_hours_ok(spec, slot), slot
        assert team_day_ok(spec, slot), slot
        local = slot.starts_at.astimezone(tz)
        opens = datetime.combine(local.date(), spec.hours[WEEKDAYS[local.weekday()]][0], tz)
        # Aligned to the day's opening whenever no UTC-offset change intervenes.
        if opens.utcoffset() == opens.replace(
            fold=1
        ).utcoffset() == local.utcoffset() and opens.astimezone(UTC) == opens.replace(
            fold=1
        ).astimezone(UTC):
            elapsed = slot.starts_at - opens
            assert elapsed % timedelta(minutes=spec.slot_minutes) == timedelta(0)


@PROPERTY_SETTINGS
@given(data=st.data(), now=NOWS, debtor=debtor_windows())
def test_property_nearest_open_slot_is_nearest(
    data: st.DataObject, now: datetime, debtor: DebtorWindow
) -> None:
    spec = data.draw(calendars(now.date()))
    requested = now + data.draw(st.timedeltas(timedelta(hours=-6), timedelta(days=5)))
    max_distance = data.draw(
        st.sampled_from([timedelta(hours=1), timedelta(hours=3), timedelta(hours=12)])
    )
    slot = nearest_open_slot(
        spec, requested=requested, now=now, debtor=debtor, booked={}, max_distance=max_distance
    )
    pool = open_slots(spec, now=now, debtor=debtor, booked={}, count=100_000, horizon_days=7)
    in_reach = [s for s in pool if abs(s.starts_at - requested) <= max_distance]
    if slot is None:
        assert in_reach == []
        return
    assert_slot_rules(spec, slot, now=now, debtor=debtor, booked={})
    assert abs(slot.starts_at - requested) <= max_distance
    best = min(in_reach, key=lambda s: (abs(s.starts_at - requested), s.starts_at))
    assert slot == best


def test_us_english_menus_use_a_12_hour_clock() -> None:
    day = datetime(2026, 11, 24, tzinfo=ZoneInfo("America/New_York"))
    slots = [
        Slot(
            (day + timedelta(hours=h, minutes=m)).astimezone(UTC),
            (day + timedelta(hours=h, minutes=m + 30)).astimezone(UTC),
        )
        for h, m in ((10, 0), (11, 30), (14, 0))
    ]
    assert slot_menu_text(slots, "America/New_York", "en-US") == (
        "Reply A: Tue 10:00-10:30 AM, B: Tue 11:30 AM-12:00 PM, C: Tue 2:00-2:30 PM"
    )
    # Elsewhere (and in Spanish in the US) the 24-hour clock stays.
    assert "14:00-14:30" in slot_menu_text(slots, "America/New_York", "en-GB")
    assert "14:00-14:30" in slot_menu_text(slots, "America/New_York", "es-US")
    assert format_slot_local(slots[2], "America/New_York", "en-US") == "Tue 24 Nov 2:00-2:30 PM"
