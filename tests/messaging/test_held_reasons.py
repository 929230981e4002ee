"""The explainable governor: every text not sent now says why and until when."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from app.clock import FixedClock
from app.messaging.governor import (
    ContactPolicy,
    decide,
    paced_send_at,
    validity_seconds,
)
from app.worker import OutboxWorker
from tests.conftest import Tenant
from tests.helpers import import_debt, send_sms

DEFAULT = ContactPolicy(window_start=time(8), window_end=time(21), max_initiated_per_day=1)
NY = "+12125550123"
LA = "+13105550123"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def verdict(now: datetime, zone: str = "America/New_York", **overrides: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = dict(
        now=now,
        contact_status="active",
        timezone=zone,
        policy=DEFAULT,
        kind="statement",
        initiated=True,
        is_reply=False,
        initiated_count_on=lambda _day: 0,
    )
    values.update(overrides)
    return decide(**values)  # type: ignore[arg-type]


def test_each_obstacle_has_its_reason() -> None:
    assert verdict(utc(2026, 11, 25, 15)).held_reason is None
    night = verdict(utc(2026, 11, 26, 3))  # 22:00 in New York
    assert (night.held_reason, night.send_at) == ("outside_window", utc(2026, 11, 26, 13))
    capped = verdict(utc(2026, 11, 25, 15), initiated_count_on=lambda d: int(d.day == 25))
    assert (capped.held_reason, capped.send_at) == ("daily_cap", utc(2026, 11, 26, 13))
    business = ContactPolicy(
        window_start=time(8),
        window_end=time(21),
        max_initiated_per_day=1,
        business_days_only=True,
        holiday_country="US",
    )
    # Thanksgiving (Thursday 26 November 2026), then Friday.
    holiday = verdict(utc(2026, 11, 26, 15), policy=business)
    assert (holiday.held_reason, holiday.send_at) == ("holiday", utc(2026, 11, 27, 13))
    weekend = verdict(utc(2026, 11, 28, 15), policy=business)
    assert (weekend.held_reason, weekend.send_at) == ("weekend", utc(2026, 11, 30, 13))
    for status in ("opted_out", "wrong_number", "invalid"):
        blocked = verdict(utc(2026, 11, 25, 15), contact_status=status)
        assert (blocked.send_at, blocked.held_reason) == (None, status)
    suppressed = verdict(utc(2026, 11, 25, 15), suppression="bankruptcy")
    assert (suppressed.send_at, suppressed.held_reason) == (None, "suppression")
    agency = verdict(utc(2026, 11, 25, 15), agency_blocked=True)
    assert (agency.send_at, agency.held_reason) == (None, "agency_rule")


def test_suppressed_debtors_get_replies_only_where_the_reason_allows() -> None:
    reply = dict(kind="reply", initiated=False, is_reply=True, suppression="dispute")
    assert verdict(utc(2026, 11, 26, 3), replies_allowed_while_suppressed=True, **reply).send_at
    assert verdict(utc(2026, 11, 26, 3), **reply).held_reason == "suppression"
    confirmation = verdict(
        utc(2026, 11, 26, 3),
        kind="opt_out_confirmation",
        initiated=False,
        is_reply=True,
        suppression="deceased",
    )
    assert confirmation.held_reason is None


@pytest.mark.parametrize(
    ("at", "zone", "expected"),
    [
        # 10:00 in New York: eleven hours left, Twilio's maximum is ten.
        (utc(2026, 11, 25, 15), "America/New_York", 36_000),
        # 20:00 in New York: one hour left.
        (utc(2026, 11, 26, 1), "America/New_York", 3_600),
        # 20:59:30: thirty seconds.
        (utc(2026, 11, 26, 1, 59, 30), "America/New_York", 30),
        # Fall back in New York (2026-11-01): 15:00 EST, six hours left.
        (utc(2026, 11, 1, 20), "America/New_York", 21_600),
        # Spring forward (2026-03-08): 15:00 EDT is 19:00 UTC, six hours left.
        (utc(2026, 3, 8, 19), "America/New_York", 21_600),
        # Outside the window: no validity, nothing may go.
        (utc(2026, 11, 26, 2), "America/New_York", None),
    ],
)
def test_validity_never_outlasts_the_window(at: datetime, zone: str, expected: int | None) -> None:
    assert validity_seconds(at=at, zones=[ZoneInfo(zone)], policy=DEFAULT) == expected


def test_validity_holds_in_every_zone_a_number_may_be_in() -> None:
    # 20:00 in Madrid is 19:00 in the Canaries: one hour left where the window closes first.
    zones = [ZoneInfo("Europe/Madrid"), ZoneInfo("Atlantic/Canary")]
    assert validity_seconds(at=utc(2026, 11, 25, 19), zones=zones, policy=DEFAULT) == 3_600


def test_pacing_spreads_inside_the_window_and_is_stable() -> None:
    opening = utc(2026, 11, 25, 13)
    zones = [ZoneInfo("America/New_York")]
    moments = [
        paced_send_at(planned=opening, zones=zones, policy=DEFAULT, spread_minutes=240, key=f"d{i}")
        for i in range(2_000)
    ]
    assert all(opening <= m <= opening + timedelta(minutes=240) for m in moments)
    first_ten_minutes = sum(m < opening + timedelta(minutes=10) for m in moments)
    assert first_ten_minutes < 2_000 * 0.08  # about 4 % when evenly spread
    assert len(set(moments)) > 1_800  # to the second: a few share one
    again = paced_send_at(
        planned=opening, zones=zones, policy=DEFAULT, spread_minutes=240, key="d7"
    )
    assert again == moments[7]
    # Near the end of the window only what is left is used, a quarter hour kept free.
    late = utc(2026, 11, 26, 1, 30)  # 20:30 in New York
    assert paced_send_at(
        planned=late, zones=zones, policy=DEFAULT, spread_minutes=240, key="x"
    ) <= late + timedelta(minutes=15)
    assert paced_send_at(
        planned=opening, zones=zones, policy=DEFAULT, spread_minutes=0, key="x"
    ) == (opening)


def messages_of(client: TestClient, tenant: Tenant, debt_id: str) -> list[dict[str, object]]:
    response = client.get(f"/api/v1/debts/{debt_id}/messages", headers=tenant.headers)
    assert response.status_code == 200
    items: list[dict[str, object]] = response.json()["items"]
    return items


def test_the_api_says_why_a_text_waits_and_until_when(
    client: TestClient, tenant: Tenant, clock: FixedClock, worker: OutboxWorker
) -> None:
    # 07:00 in Los Angeles.
    debt_id = import_debt(client, tenant, debtor_phone=LA)
    client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
    [held] = messages_of(client, tenant, debt_id)
    assert (held["status"], held["held_reason"]) == ("scheduled", "outside_window")
    send_after = datetime.fromisoformat(str(held["send_after"]))
    # Paced through the first four hours of the window, not at 08:00 sharp for all.
    assert utc(2026, 11, 25, 16) <= send_after <= utc(2026, 11, 25, 20)
    clock.set(send_after)
    worker.run_once()
    # A second statement the same local day waits for tomorrow's cap.
    client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
    sent, capped = messages_of(client, tenant, debt_id)
    assert (sent["status"], sent["held_reason"]) == ("delivered", None)
    assert (capped["status"], capped["held_reason"]) == ("scheduled", "daily_cap")
    assert datetime.fromisoformat(str(capped["send_after"])).astimezone(
        ZoneInfo("America/Los_Angeles")
    ).date() == date(2026, 11, 26)
    # STOP cancels what waits, and says so.
    send_sms(client, LA, "STOP")
    statements = [m for m in messages_of(client, tenant, debt_id) if m["kind"] == "statement"]
    assert (statements[1]["status"], statements[1]["held_reason"]) == ("canceled", "opted_out")


def test_cadence_business_days_hold_reads_holiday(
    client: TestClient, tenant: Tenant, clock: FixedClock
) -> None:
    response = client.patch(
        "/api/v1/creditor",
        json={"business_days_only": True, "holiday_country": "US"},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    clock.set(utc(2026, 11, 26, 15))  # Thanksgiving, 10:00 in New York
    debt_id = import_debt(client, tenant, debtor_phone=NY)
    message = client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers).json()[
        "message"
    ]
    assert (message["status"], message["held_reason"]) == ("scheduled", "holiday")
    assert message["send_after"].startswith("2026-11-27T1")
