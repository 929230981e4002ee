"""The contact governor: the one place that decides whether and when Parley may text
a debtor (lawful hours in the debtor's zone, business days, the daily cap, the
number's contact status)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from app.clock import local_instant
from app.creditors.models import Creditor
from app.debts.models import Debtor

BLOCKED_STATUSES = frozenset({"opted_out", "wrong_number", "invalid"})
# Kinds that may still reach a blocked number: the single opt-out confirmation the
# rules allow, and the apology to a wrong number (which discloses nothing).
ALWAYS_DELIVERABLE_KINDS = frozenset({"opt_out_confirmation", "wrong_number_ack"})
SEARCH_DAYS = 400
# Before 8:00 and after 21:00 local time is presumed inconvenient (12 CFR 1006.6(b)(1)(i)).
LAWFUL_START, LAWFUL_END = time(8, 0), time(21, 0)
# An answer that could not go out within this time of the debtor's text (provider
# retries, an outage) is no longer "at once": it then waits for the window like the rest.
REPLY_FRESHNESS = timedelta(minutes=15)


@dataclass(frozen=True)
class ContactPolicy:
    """A creditor's contact settings, parsed."""

    window_start: time
    window_end: time
    max_initiated_per_day: int
    business_days_only: bool = False
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    # The debtor asked for no texts on weekends (holidays still allowed).
    weekdays_only: bool = False

    @classmethod
    def for_creditor(cls, creditor: Creditor) -> ContactPolicy:
        return cls(
            window_start=time.fromisoformat(creditor.contact_window_start),
            window_end=time.fromisoformat(creditor.contact_window_end),
            max_initiated_per_day=creditor.max_initiated_per_day,
            business_days_only=creditor.business_days_only,
            holiday_country=creditor.holiday_country or creditor.country,
            holiday_subdivision=creditor.holiday_subdivision,
        )

    @classmethod
    def for_debtor(cls, creditor: Creditor, debtor: Debtor) -> ContactPolicy:
        """The creditor's policy narrowed by what the debtor asked for ("only in the
        evening", "not on weekends"). When the two windows do not overlap, the debtor's
        own window wins (a stated inconvenient time must not be used), kept inside
        the lawful 08:00-21:00."""
        policy = cls.for_creditor(creditor)
        start, end = debtor.contact_window_start, debtor.contact_window_end
        if start and end:
            wanted_start, wanted_end = time.fromisoformat(start), time.fromisoformat(end)
            lo = max(policy.window_start, wanted_start)
            hi = min(policy.window_end, wanted_end)
            if lo >= hi:
                lo, hi = max(wanted_start, LAWFUL_START), min(wanted_end, LAWFUL_END)
            if lo < hi:
                policy = replace(policy, window_start=lo, window_end=hi)
        if debtor.contact_weekdays_only and not policy.business_days_only:
            policy = replace(policy, weekdays_only=True)
        return policy


@dataclass(frozen=True)
class Decision:
    """`send_at` is the earliest allowed moment (UTC); None with a reason when never."""

    send_at: datetime | None
    reason: str

    @property
    def blocked(self) -> bool:
        return self.send_at is None


@lru_cache(maxsize=256)
def _holiday_calendar(country: str, subdivision: str | None, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays(country, subdiv=subdivision, years=year)


def is_business_day(day: date, policy: ContactPolicy) -> bool:
    """Monday to Friday and not a public holiday of the configured country."""
    if day.weekday() >= 5:
        return False
    if policy.holiday_country is None:
        return True
    try:
        calendar = _holiday_calendar(policy.holiday_country, policy.holiday_subdivision, day.year)
    except NotImplementedError:
        return True
    return day not in calendar


def next_allowed_send_at(
    *,
    now: datetime,
    zone: ZoneInfo,
    policy: ContactPolicy,
    initiated: bool,
    initiated_count_on: Callable[[date], int],
) -> datetime:
    """The first moment at or after `now` inside the window in `zone`, on an allowed day,
    and (for initiated messages) on a local day whose cap is not used up."""
    local_today = now.astimezone(zone).date()
    for offset in range(SEARCH_DAYS):
        day = local_today + timedelta(days=offset)
        if policy.business_days_only and not is_business_day(day, policy):
            continue
        if policy.weekdays_only and day.weekday() >= 5:
            continue
        opens = local_instant(day, policy.window_start, zone)
        closes = local_instant(day, policy.window_end, zone)
        candidate = max(now, opens)
        if candidate >= closes:
            continue
        if initiated and initiated_count_on(day) >= policy.max_initiated_per_day:
            continue
        return candidate
    raise RuntimeError("no allowed contact moment within a year; check the creditor settings")


def decide(
    *,
    now: datetime,
    contact_status: str,
    timezone: str,
    policy: ContactPolicy,
    kind: str,
    initiated: bool,
    is_reply: bool,
    initiated_count_on: Callable[[date], int],
    other_timezones: Sequence[str] = (),
) -> Decision:
    """Whether and when one message may go to one debtor.

    Replies answer a text the debtor has just sent: they are neither capped nor held for
    the window, because an immediate answer in the same medium continues a conversation
    the consumer chose to start at that hour. Other messages wait for the window; those
    Parley initiates also count against the daily cap.
    """
    if contact_status in BLOCKED_STATUSES and kind not in ALWAYS_DELIVERABLE_KINDS:
        return Decision(None, f"number is {contact_status}")
    if is_reply:
        return Decision(now, "reply to the debtor")
    when = next_allowed_in_all(
        now=now,
        zones=[ZoneInfo(timezone), *(ZoneInfo(z) for z in other_timezones)],
        policy=policy,
        initiated=initiated,
        initiated_count_on=initiated_count_on,
    )
    return Decision(when, "allowed now" if when <= now else "held for the contact window")


def next_allowed_in_all(
    *,
    now: datetime,
    zones: Sequence[ZoneInfo],
    policy: ContactPolicy,
    initiated: bool,
    initiated_count_on: Callable[[date], int],
) -> datetime:
    """The first moment allowed in every zone the debtor may be in (a number whose zone
    is uncertain, such as a Spanish mobile: Madrid or the Canaries). The daily cap
    counts days of the first (principal) zone."""
    moment = now
    for _ in range(64):
        candidates = [
            next_allowed_send_at(
                now=moment,
                zone=zone,
                policy=policy,
                initiated=initiated and index == 0,
                initiated_count_on=initiated_count_on,
            )
            for index, zone in enumerate(zones)
        ]
        latest = max(candidates)
        if latest == moment:
            return moment
        moment = latest
    raise RuntimeError("the debtor's possible time zones share no contact window")
