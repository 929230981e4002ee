"""The contact governor across time zones, midnight, DST and holidays (fixed clocks)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.messaging.governor import ContactPolicy, decide, next_allowed_send_at

DEFAULT = ContactPolicy(window_start=time(8), window_end=time(21), max_initiated_per_day=1)


def none_sent(_day: date) -> int:
    return 0


def when(
    now: datetime, zone: str, policy: ContactPolicy = DEFAULT, sent: dict[date, int] | None = None
) -> datetime:
    counts = sent or {}
    return next_allowed_send_at(
        now=now,
        zone=ZoneInfo(zone),
        policy=policy,
        initiated=True,
        initiated_count_on=lambda day: counts.get(day, 0),
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "zone", "expected"),
    [
        # Inside the window: now.
        (utc(2026, 11, 25, 15, 0), "America/New_York", utc(2026, 11, 25, 15, 0)),
        # 07:00 in Los Angeles: wait for 08:00 local.
        (utc(2026, 11, 25, 15, 0), "America/Los_Angeles", utc(2026, 11, 25, 16, 0)),
        # 20:59 local is still inside; 21:00 is not.
        (utc(2026, 11, 26, 1, 59), "America/New_York", utc(2026, 11, 26, 1, 59)),
        (utc(2026, 11, 26, 2, 0), "America/New_York", utc(2026, 11, 26, 13, 0)),
        # 23:30 local in São Paulo: the next local morning.
        (utc(2026, 11, 26, 2, 30), "America/Sao_Paulo", utc(2026, 11, 26, 11, 0)),
        # Both sides of the date line: Kiritimati (UTC+14) and Pago Pago (UTC-11).
        (utc(2026, 11, 25, 15, 0), "Pacific/Kiritimati", utc(2026, 11, 25, 18, 0)),
        (utc(2026, 11, 25, 15, 0), "Pacific/Pago_Pago", utc(2026, 11, 25, 19, 0)),
        (utc(2026, 11, 25, 7, 59), "Pacific/Pago_Pago", utc(2026, 11, 25, 7, 59)),
        (utc(2026, 11, 25, 8, 0), "Pacific/Pago_Pago", utc(2026, 11, 25, 19, 0)),
        # Spring forward in New York (02:00 -> 03:00 on 2026-03-08): 08:00 EDT is 12:00 UTC.
        (utc(2026, 3, 8, 6, 30), "America/New_York", utc(2026, 3, 8, 12, 0)),
        # Fall back (2026-11-01): 08:00 EST is 13:00 UTC.
        (utc(2026, 11, 1, 5, 30), "America/New_York", utc(2026, 11, 1, 13, 0)),
        # Lisbon's spring forward (2026-03-29, 01:00 -> 02:00).
        (utc(2026, 3, 29, 0, 30), "Europe/Lisbon", utc(2026, 3, 29, 7, 0)),
    ],
)
def test_next_allowed_moment(now: datetime, zone: str, expected: datetime) -> None:
    assert when(now, zone) == expected


def test_daily_cap_counts_local_days() -> None:
    now = utc(2026, 11, 25, 15, 0)  # 10:00 in New York
    assert when(now, "America/New_York", sent={date(2026, 11, 25): 1}) == utc(2026, 11, 26, 13, 0)
    policy = ContactPolicy(time(8), time(21), max_initiated_per_day=2)
    assert when(now, "America/New_York", policy, sent={date(2026, 11, 25): 1}) == now
    # In Kiritimati it is already the 26th: the 25th's messages do not count.
    assert when(now, "Pacific/Kiritimati", sent={date(2026, 11, 25): 1}) == utc(2026, 11, 25, 18, 0)


def test_business_days_skip_weekends_and_holidays() -> None:
    policy = ContactPolicy(time(9), time(17), 1, business_days_only=True, holiday_country="US")
    # Wednesday 18:00 in New York, Thursday is Thanksgiving: Friday 09:00.
    assert when(utc(2026, 11, 25, 23, 0), "America/New_York", policy) == utc(2026, 11, 27, 14, 0)
    # Saturday: Monday.
    assert when(utc(2026, 11, 28, 15, 0), "America/New_York", policy) == utc(2026, 11, 30, 14, 0)
    brazil = ContactPolicy(time(9), time(17), 1, business_days_only=True, holiday_country="BR")
    # 2026-11-20 (Consciência Negra) is a national holiday in Brazil.
    assert when(utc(2026, 11, 20, 13, 0), "America/Sao_Paulo", brazil) == utc(2026, 11, 23, 12, 0)


@pytest.mark.parametrize("status", ["opted_out", "wrong_number", "invalid"])
def test_blocked_numbers_get_nothing_but_the_allowed_acknowledgements(status: str) -> None:
    common = dict(
        now=utc(2026, 11, 25, 15),
        contact_status=status,
        timezone="America/New_York",
        policy=DEFAULT,
        initiated_count_on=none_sent,
    )
    assert decide(kind="statement", initiated=True, is_reply=False, **common).blocked  # type: ignore[arg-type]
    assert decide(kind="reply", initiated=False, is_reply=True, **common).blocked  # type: ignore[arg-type]
    ack = "opt_out_confirmation" if status == "opted_out" else "wrong_number_ack"
    assert not decide(kind=ack, initiated=False, is_reply=True, **common).blocked  # type: ignore[arg-type]


def test_replies_go_at_once_and_are_not_capped() -> None:
    late = utc(2026, 11, 26, 4, 0)  # 23:00 in New York
    decision = decide(
        now=late,
        contact_status="active",
        timezone="America/New_York",
        policy=DEFAULT,
        kind="reply",
        initiated=False,
        is_reply=True,
        initiated_count_on=lambda _: 5,
    )
    assert decision.send_at == late


ZONES = [
    "America/New_York",
    "America/Sao_Paulo",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Europe/Lisbon",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "UTC",
]


@settings(max_examples=300, deadline=None)
@given(
    now=st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
    ),
    zone=st.sampled_from(ZONES),
    start=st.integers(8, 12),
    length=st.integers(1, 9),
)
def test_result_is_always_inside_the_window_and_never_early(
    now: datetime, zone: str, start: int, length: int
) -> None:
    policy = ContactPolicy(time(start), time(min(start + length, 21)), 1)
    result = when(now, zone, policy)
    local = result.astimezone(ZoneInfo(zone))
    assert result >= now
    assert policy.window_start <= local.time() < policy.window_end
    if policy.window_start <= now.astimezone(ZoneInfo(zone)).time() < policy.window_end:
        assert result == now


def test_a_number_of_uncertain_zone_gets_the_window_common_to_all() -> None:
    from app.messaging.governor import next_allowed_in_all

    zones = [ZoneInfo("Europe/Madrid"), ZoneInfo("Atlantic/Canary")]

    def common(now: datetime) -> datetime:
        return next_allowed_in_all(
            now=now, zones=zones, policy=DEFAULT, initiated=True, initiated_count_on=none_sent
        )

    # Winter: Madrid is UTC+1, the Canaries UTC+0. Open 08:00-20:00 UTC in both.
    assert common(utc(2026, 11, 25, 7, 30)) == utc(2026, 11, 25, 8, 0)
    assert common(utc(2026, 11, 25, 12, 0)) == utc(2026, 11, 25, 12, 0)
    assert common(utc(2026, 11, 25, 20, 0)) == utc(2026, 11, 26, 8, 0)
