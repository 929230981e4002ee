"""The contact governor: the one place that decides whether and when Parley may text
a debtor (lawful hours in the debtor's zone, business days, the daily cap, the
number's contact status, suppressions, who may text whom), and says why a text waits.

Every verdict that is not "now" carries a `held_reason` code (HELD_REASONS), which the
outbox stores and the API shows next to `send_after`."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal, overload
from zoneinfo import ZoneInfo

import holidays
import phonenumbers

from app.clock import local_instant
from app.creditors.models import Creditor
from app.debts.models import Debtor

BLOCKED_STATUSES = frozenset({"opted_out", "wrong_number", "invalid"})
# Kinds that may still reach a blocked number: the single opt-out confirmation the
# rules allow, and the apology to a wrong number (which discloses nothing).
ALWAYS_DELIVERABLE_KINDS = frozenset({"opt_out_confirmation", "wrong_number_ack"})
# Why a text is not sent now. Blocking ones (the text is never sent): the number's
# status, a suppression, the agency rule. Waiting ones (send_after says until when):
# the window, a weekend or public holiday on a business-days-only creditor, the daily
# cap, pacing (spread through the window), a lane's budget or pause, the
# deliverability guard (the creditor's initiated texts paused until a person resumes).
HELD_REASONS = (
    "opted_out",
    "wrong_number",
    "invalid",
    "suppression",
    "agency_rule",
    "outside_window",
    "weekend",
    "holiday",
    "daily_cap",
    "pacing",
    "lane_budget",
    "lane_paused",
    "deliverability",
    "provider_retry",
    "canceled",
)
# Twilio forbids third-party debt collection on US and Canadian SMS, on any sender.
AGENCY_FORBIDDEN_REGIONS = frozenset({"US", "CA"})
# Twilio keeps a queued message at most this long (ValidityPeriod default and maximum).
MAX_VALIDITY_SECONDS = 36_000
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
    # One of HELD_REASONS, or None when the text may go at `send_at` == now.
    held_reason: str | None = None

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
    return next_allowed_with_reason(
        now=now,
        zone=zone,
        policy=policy,
        initiated=initiated,
        initiated_count_on=initiated_count_on,
    )[0]


def _day_obstacle(day: date, policy: ContactPolicy) -> str | None:
    if policy.weekdays_only and day.weekday() >= 5:
        return "weekend"
    if not policy.business_days_only or is_business_day(day, policy):
        return None
    return "weekend" if day.weekday() >= 5 else "holiday"


def next_allowed_with_reason(
    *,
    now: datetime,
    zone: ZoneInfo,
    policy: ContactPolicy,
    initiated: bool,
    initiated_count_on: Callable[[date], int],
) -> tuple[datetime, str | None]:
    """`next_allowed_send_at` and why it is not now: the first obstacle met on the
    debtor's local today (None when the answer is `now`)."""
    local_today = now.astimezone(zone).date()
    first_obstacle: str | None = None
    for offset in range(SEARCH_DAYS):
        day = local_today + timedelta(days=offset)
        obstacle = _day_obstacle(day, policy)
        if obstacle is None:
            opens = local_instant(day, policy.window_start, zone)
            closes = local_instant(day, policy.window_end, zone)
            candidate = max(now, opens)
            if candidate >= closes:
                obstacle = "outside_window"
            elif initiated and initiated_count_on(day) >= policy.max_initiated_per_day:
                obstacle = "daily_cap"
            else:
                if candidate > now and first_obstacle is None:
                    first_obstacle = "outside_window"
                return candidate, first_obstacle
        if first_obstacle is None:
            first_obstacle = obstacle
    raise RuntimeError("no allowed contact moment within a year; check the creditor settings")


def window_closes_at(*, at: datetime, zone: ZoneInfo, policy: ContactPolicy) -> datetime:
    """When the contact window that contains `at` closes in `zone` (`at` itself when
    `at` is outside the window)."""
    day = at.astimezone(zone).date()
    opens = local_instant(day, policy.window_start, zone)
    closes = local_instant(day, policy.window_end, zone)
    return closes if opens <= at < closes else at


def validity_seconds(
    *, at: datetime, zones: Sequence[ZoneInfo], policy: ContactPolicy
) -> int | None:
    """Twilio's ValidityPeriod for an initiated text sent at `at`: min(36,000 s, the
    seconds left in the window in every zone the debtor may be in). None when no window
    is open (the text must not go)."""
    left = min(
        (window_closes_at(at=at, zone=zone, policy=policy) - at).total_seconds() for zone in zones
    )
    if left < 1:
        return None
    return int(min(MAX_VALIDITY_SECONDS, left))


def paced_send_at(
    *,
    planned: datetime,
    zones: Sequence[ZoneInfo],
    policy: ContactPolicy,
    spread_minutes: int,
    key: str,
) -> datetime:
    """Spread initiated texts through the window instead of one wave at its opening:
    `planned` plus a stable offset (from `key`, e.g. the debtor and day) within the
    first `spread_minutes` of what is left of the window, keeping at least a quarter of
    an hour before it closes."""
    if spread_minutes <= 0:
        return planned
    left = min(
        (window_closes_at(at=planned, zone=zone, policy=policy) - planned).total_seconds()
        for zone in zones
    )
    room = min(spread_minutes * 60.0, left - 15 * 60)
    if room <= 60:
        return planned
    fraction = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return planned + timedelta(seconds=int(fraction * room))


def sms_region(phone: str) -> str | None:
    """The country (ISO 3166) of an E.164 number, None when unknown."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(phone, None))
    except phonenumbers.NumberParseException:
        return None


def agency_may_text(phone: str) -> bool:
    """Whether a collection agency may text this number at all (not US/Canadian)."""
    return sms_region(phone) not in AGENCY_FORBIDDEN_REGIONS


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
    suppression: str | None = None,
    replies_allowed_while_suppressed: bool = False,
    agency_blocked: bool = False,
) -> Decision:
    """Whether and when one message may go to one debtor, and why not now.

    Replies answer a text the debtor has just sent: they are neither capped nor held for
    the window, because an immediate answer in the same medium continues a conversation
    the consumer chose to start at that hour. Other messages wait for the window; those
    Parley initiates also count against the daily cap. An agency never texts a US or
    Canadian number; a suppressed debtor gets nothing initiated, and answers only where
    the suppression's reason allows them (the opt-out confirmation always goes).
    """
    if agency_blocked:
        return Decision(
            None,
            "third-party debt collection is not allowed on US and Canadian SMS",
            "agency_rule",
        )
    if contact_status in BLOCKED_STATUSES and kind not in ALWAYS_DELIVERABLE_KINDS:
        return Decision(None, f"number is {contact_status}", contact_status)
    if (
        suppression is not None
        and kind not in ALWAYS_DELIVERABLE_KINDS
        and (initiated or not replies_allowed_while_suppressed)
    ):
        return Decision(None, f"debtor suppressed: {suppression}", "suppression")
    if is_reply:
        return Decision(now, "reply to the debtor")
    when, held = next_allowed_in_all(
        now=now,
        zones=[ZoneInfo(timezone), *(ZoneInfo(z) for z in other_timezones)],
        policy=policy,
        initiated=initiated,
        initiated_count_on=initiated_count_on,
        with_reason=True,
    )
    if when <= now:
        return Decision(when, "allowed now")
    reason = held or "outside_window"
    return Decision(when, f"held: {reason.replace('_', ' ')}", reason)


@overload
def next_allowed_in_all(
    *,
    now: datetime,
    zones: Sequence[ZoneInfo],
    policy: ContactPolicy,
    initiated: bool,
    initiated_count_on: Callable[[date], int],
    with_reason: Literal[False] = False,
) -> datetime: ...


@overload
def next_allowed_in_all(
    *,
    now: datetime,
    zones: Sequence[ZoneInfo],
    policy: ContactPolicy,
    initiated: bool,
    initiated_count_on: Callable[[date], int],
    with_reason: Literal[True],
) -> tuple[datetime, str | None]: ...


def next_allowed_in_all(
    *,
    now: datetime,
    zones: Sequence[ZoneInfo],
    policy: ContactPolicy,
    initiated: bool,
    initiated_count_on: Callable[[date], int],
    with_reason: bool = False,
) -> datetime | tuple[datetime, str | None]:
    """The first moment allowed in every zone the debtor may be in (a number whose zone
    is uncertain, such as a Spanish mobile: Madrid or the Canaries). The daily cap
    counts days of the first (principal) zone. `with_reason` also returns the first
    obstacle that kept it from being `now`."""
    moment = now
    first_reason: str | None = None
    for _ in range(64):
        results = [
            next_allowed_with_reason(
                now=moment,
                zone=zone,
                policy=policy,
                initiated=initiated and index == 0,
                initiated_count_on=initiated_count_on,
            )
            for index, zone in enumerate(zones)
        ]
        latest, reason = max(results, key=lambda pair: pair[0])
        if first_reason is None and latest > now:
            first_reason = reason
        if latest == moment:
            return (moment, first_reason) if with_reason else moment
        moment = latest
    raise RuntimeError("the debtor's possible time zones share no contact window")
