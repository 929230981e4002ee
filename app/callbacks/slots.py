"""Callback-slot computation: the agents' calendar, the debtor's window, and menus.

Pure functions only (no database, no web, no clock): every function that needs "now"
takes it as an argument so callers and tests inject the time.

Conventions
- All returned instants are timezone-aware UTC; every input instant must be aware.
- A calendar day is the *team's* local day; holidays and closed dates are team-local.
- ``END_OF_DAY`` (``time.max``) stands for "24:00" as a closing time or as the end of a
  debtor window, because ``datetime.time`` cannot spell midnight at the end of a day.
- DST: each day's opening and closing times are resolved to instants separately, so a
  09:00 opening stays 09:00 local all year. Slots are then laid out in elapsed time
  from that instant, so every slot lasts exactly ``slot_minutes`` even on a day whose
  business hours contain a DST change. A local time that does not exist (spring
  forward) or exists twice (fall back) resolves to the *later* instant for an opening
  and the *earlier* instant for a closing: the day shrinks rather than offers a slot
  outside the stated hours, and days never overlap.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import TypeGuard
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

__all__ = [
    "END_OF_DAY",
    "MENU_LETTERS",
    "WEEKDAYS",
    "CalendarSpec",
    "DebtorWindow",
    "Slot",
    "calendar_errors",
    "calendar_from_payload",
    "calendar_to_payload",
    "format_slot_local",
    "is_open_day",
    "iter_slots",
    "nearest_open_slot",
    "open_slots",
    "slot_menu_text",
    "supported_date",
]

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MENU_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
END_OF_DAY = time.max  # "24:00"

SLOT_MINUTES_MIN = 5
SLOT_MINUTES_MAX = 240
CAPACITY_MAX = 1000
# Column widths of the stored calendar: a longer value must be a 422, not a 500.
TIMEZONE_MAX_LENGTH = 64
SUBDIVISION_MAX_LENGTH = 8
# Dates Parley does arithmetic on: anything outside is a typo or a probe, and near
# date.min/date.max adding a day or an offset raises OverflowError.
EARLIEST_DATE = date(1970, 1, 1)
LATEST_DATE = date(2099, 12, 31)
# A lead longer than a week would push every slot past the default 21-day horizon in
# practice; it is almost certainly a unit mistake (hours or seconds typed as minutes).
LEAD_MINUTES_MAX = 7 * 24 * 60

_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class CalendarSpec:
    """The agents' callback calendar.

    ``hours`` maps a weekday key from ``WEEKDAYS`` to local ``(open, close)``; a weekday
    left out is closed. ``close`` may be ``END_OF_DAY`` for "24:00". Check a spec built
    from untrusted input with ``calendar_errors`` (or build it with
    ``calendar_from_payload``) before using it.
    """

    timezone: str
    hours: Mapping[str, tuple[time, time]]
    slot_minutes: int
    capacity: int
    holiday_country: str | None
    holiday_subdivision: str | None
    closed_dates: frozenset[date] = field(default_factory=frozenset)
    lead_minutes: int = 60


@dataclass(frozen=True, order=True)
class Slot:
    """One callback slot; both ends are timezone-aware UTC."""

    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class DebtorWindow:
    """The debtor's allowed contact window in their own local time.

    ``end`` may be ``END_OF_DAY`` for "24:00". A window with ``start >= end`` is empty
    (overnight windows are not supported): no slot fits it.
    """

    timezone: str
    start: time
    end: time


# --------------------------------------------------------------------------- helpers


def supported_date(day: date) -> bool:
    """True if ``day`` is one Parley schedules on (1970-01-01 .. 2099-12-31)."""
    return EARLIEST_DATE <= day <= LATEST_DATE


def _zone(name: str) -> ZoneInfo:
    """ZoneInfo for an IANA name, with a ValueError (not KeyError) when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def _require_aware(value: datetime, name: str) -> None:
    # A naive datetime here is a bug upstream (lost tz on a round trip); guessing UTC
    # would silently shift callbacks by hours, so refuse it.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def _wall(day: date, at: time) -> datetime:
    """Naive local wall-clock datetime for ``at`` on ``day``; END_OF_DAY is next midnight."""
    if at == END_OF_DAY:
        return datetime.combine(day + _ONE_DAY, time(0))
    return datetime.combine(day, at)


def _resolve(day: date, at: time, zone: tzinfo, *, latest: bool) -> datetime:
    """UTC instant of local ``at`` on ``day``.

    For a nonexistent or ambiguous local time the two fold readings differ; take the
    later (for openings) or earlier (for closings) so hours only ever shrink.
    """
    naive = _wall(day, at)
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    return max(first, second) if latest else min(first, second)


def _minutes_of(at: time) -> float:
    if at == END_OF_DAY:
        return 24 * 60
    return at.hour * 60 + at.minute + at.second / 60 + at.microsecond / 60_000_000


@lru_cache(maxsize=512)
def _holiday_dates(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    # Cached as an immutable set: a shared `holidays` object fills years in lazily on
    # lookup, which is a mutation we do not want to share between threads.
    table = holidays.country_holidays(country, subdiv=subdivision, years=year)
    return frozenset(table.keys())


def _as_utc_key(value: datetime) -> datetime:
    # Booked counts often come straight from SQLite, which drops tzinfo; those naive
    # values are stored UTC by convention ("times are stored in UTC").
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


# ------------------------------------------------------------------------- calendar


def is_open_day(spec: CalendarSpec, day: date) -> bool:
    """True if the team works on ``day`` (team-local): an open weekday, not a holiday
    of ``holiday_country``/``holiday_subdivision`` (observed days included), and not in
    ``closed_dates``."""
    if WEEKDAYS[day.weekday()] not in spec.hours:
        return False
    if day in spec.closed_dates:
        return False
    if spec.holiday_country is not None:
        return day not in _holiday_dates(spec.holiday_country, spec.holiday_subdivision, day.year)
    return True


def iter_slots(spec: CalendarSpec, start: datetime, end: datetime) -> Iterator[Slot]:
    """Yield, in order, every slot of the calendar with ``start <= starts_at < end``.

    Only open days count (see ``is_open_day``). Each day's slots are aligned to its
    opening time: open, open + slot, ... while the slot ends by the closing time. Slots
    carry no booking or debtor information; see ``open_slots`` for that.
    """
    _require_aware(start, "start")
    _require_aware(end, "end")
    if spec.slot_minutes < 1:
        # Would never advance; validate specs with calendar_errors first.
        raise ValueError("slot_minutes must be positive")
    zone = _zone(spec.timezone)
    start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
    if start_utc >= end_utc:
        return
    step = timedelta(minutes=spec.slot_minutes)
    # One day of slack before: cheap, and robust to zones whose day boundary moves.
    day = start_utc.astimezone(zone).date() - _ONE_DAY
    last_day = end_utc.astimezone(zone).date()
    while day <= last_day:
        hours = spec.hours.get(WEEKDAYS[day.weekday()])
        if hours is not None and is_open_day(spec, day):
            opens = _resolve(day, hours[0], zone, latest=True)
            closes = _resolve(day, hours[1], zone, latest=False)
            slot_start = opens
            while slot_start + step <= closes:
                if slot_start >= end_utc:
                    return
                if slot_start >= start_utc:
                    yield Slot(slot_start, slot_start + step)
                slot_start += step
        day += _ONE_DAY


def _fits_debtor_window(slot: Slot, zone: tzinfo, window: DebtorWindow) -> bool:
    """True if every instant of ``slot`` is inside the window on one local day.

    If the debtor's UTC offset changes inside the slot, the local clock may jump; we
    check both ends under both offsets, which bounds every instant in between (valid
    for the single transition a slot of at most a few hours can contain).
    """
    offsets = {
        slot.starts_at.astimezone(zone).utcoffset(),
        slot.ends_at.astimezone(zone).utcoffset(),
    }
    local_start = slot.starts_at.astimezone(zone).replace(tzinfo=None)
    day = local_start.date()
    lo, hi = _wall(day, window.start), _wall(day, window.end)
    if lo >= hi:
        return False
    for offset in offsets:
        if offset is None:  # pragma: no cover - ZoneInfo always has an offset
            return False
        for instant in (slot.starts_at, slot.ends_at):
            wall = instant.replace(tzinfo=None) + offset
            if not lo <= wall <= hi:
                return False
    return True


def _bookable(
    spec: CalendarSpec,
    *,
    start: datetime,
    end: datetime,
    debtor: DebtorWindow,
    booked: Mapping[datetime, int],
) -> Iterator[Slot]:
    """Slots in [start, end) that are not full and fit the debtor's window, in order."""
    debtor_zone = _zone(debtor.timezone)
    counts: dict[datetime, int] = {}
    for key, value in booked.items():
        utc_key = _as_utc_key(key)
        counts[utc_key] = counts.get(utc_key, 0) + value
    for slot in iter_slots(spec, start, end):
        if counts.get(slot.starts_at, 0) >= spec.capacity:
            continue
        if _fits_debtor_window(slot, debtor_zone, debtor):
            yield slot


def open_slots(
    spec: CalendarSpec,
    *,
    now: datetime,
    debtor: DebtorWindow,
    booked: Mapping[datetime, int],
    count: int = 3,
    horizon_days: int = 21,
) -> list[Slot]:
    """The soonest ``count`` slots a debtor may be offered.

    A slot qualifies if it starts at least ``spec.lead_minutes`` after ``now`` and less
    than ``horizon_days`` after ``now``, is on an open day, is not full
    (``booked[starts_at] < capacity``; keys are UTC instants, naive keys are read as
    UTC), and lies entirely inside the debtor's window in the debtor's zone, on one
    local day. The result is sorted and has no duplicates.
    """
    _require_aware(now, "now")
    if count <= 0 or horizon_days <= 0:
        return []
    earliest = now + timedelta(minutes=spec.lead_minutes)
    latest = now + timedelta(days=horizon_days)
    found: list[Slot] = []
    for slot in _bookable(spec, start=earliest, end=latest, debtor=debtor, booked=booked):
        found.append(slot)
        if len(found) >= count:
            break
    return found


def nearest_open_slot(
    spec: CalendarSpec,
    *,
    requested: datetime,
    now: datetime,
    debtor: DebtorWindow,
    booked: Mapping[datetime, int],
    max_distance: timedelta = timedelta(hours=3),
) -> Slot | None:
    """The qualifying slot (same rules as ``open_slots``, no horizon) whose start is
    nearest to ``requested``, at most ``max_distance`` away; ties go to the earlier
    slot. ``None`` if there is none."""
    _require_aware(requested, "requested")
    _require_aware(now, "now")
    if max_distance < timedelta(0):
        return None
    earliest = max(requested - max_distance, now + timedelta(minutes=spec.lead_minutes))
    # iter_slots' end is exclusive; a slot exactly max_distance after still counts.
    end = requested + max_distance + timedelta(microseconds=1)
    best: Slot | None = None
    best_distance = timedelta.max
    for slot in _bookable(spec, start=earliest, end=end, debtor=debtor, booked=booked):
        distance = abs(slot.starts_at - requested)
        # Strict comparison over slots in ascending order keeps the earlier one on ties.
        if distance < best_distance:
            best, best_distance = slot, distance
        elif slot.starts_at > requested:
            break  # later slots only get further away
    return best


# ---------------------------------------------------------------------- validation


def _format_time(at: time) -> str:
    if at == END_OF_DAY:
        return "24:00"
    if at.second or at.microsecond:
        return at.isoformat()
    return f"{at.hour:02d}:{at.minute:02d}"


def _is_int(value: object) -> TypeGuard[int]:
    # bool is an int subclass; `true` is not a valid slot length.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_country_code(country: object) -> bool:
    # The holidays package also knows 3-letter aliases (USA, BRA); the calendar stores
    # the 2-letter code only.
    return (
        isinstance(country, str)
        and len(country) == 2
        and country in holidays.list_supported_countries()
    )


def _subdivision_codes(country: str) -> list[str]:
    """The subdivision codes of ``country`` a calendar may store: the holidays package
    also lists some names ("Sao Paulo Capital"), which are not codes and do not fit."""
    known = holidays.list_supported_countries().get(country, [])
    return [code for code in known if len(code) <= SUBDIVISION_MAX_LENGTH]


def calendar_errors(spec: CalendarSpec) -> list[tuple[str, str]]:
    """Everything wrong with ``spec`` as ``(field path, message)`` pairs; empty if valid.

    Field paths match the API payload (``"timezone"``, ``"hours.mon"``,
    ``"closed_dates"``...), so an API layer can return them unchanged.
    """
    errors: list[tuple[str, str]] = []

    if not isinstance(spec.timezone, str):
        errors.append(("timezone", "must be an IANA time zone name"))
    elif len(spec.timezone) > TIMEZONE_MAX_LENGTH:
        errors.append(("timezone", f"must be at most {TIMEZONE_MAX_LENGTH} characters"))
    else:
        try:
            _zone(spec.timezone)
        except ValueError:
            errors.append(
                (
                    "timezone",
                    f"unknown time zone {spec.timezone!r}; use an IANA name such as "
                    "America/New_York",
                )
            )

    slot_ok = _is_int(spec.slot_minutes) and (
        SLOT_MINUTES_MIN <= spec.slot_minutes <= SLOT_MINUTES_MAX
    )
    if not slot_ok:
        errors.append(
            (
                "slot_minutes",
                f"must be a whole number of minutes from {SLOT_MINUTES_MIN} to {SLOT_MINUTES_MAX}",
            )
        )

    if not isinstance(spec.hours, Mapping):
        errors.append(("hours", "must map weekdays (mon..sun) to [open, close]"))
    else:
        if not spec.hours:
            errors.append(("hours", "at least one weekday must be open"))
        for key, value in spec.hours.items():
            path = f"hours.{key}"
            if key not in WEEKDAYS:
                errors.append((path, f"unknown weekday; use one of {', '.join(WEEKDAYS)}"))
                continue
            if (
                not isinstance(value, tuple | list)
                or len(value) != 2
                or not all(isinstance(t, time) for t in value)
            ):
                errors.append((path, "must be a pair of times [open, close]"))
                continue
            opens, closes = value
            if opens.tzinfo is not None or closes.tzinfo is not None:
                errors.append((path, "times must be local wall-clock times without a zone"))
                continue
            if opens == END_OF_DAY:
                errors.append((path, "opening time cannot be 24:00"))
                continue
            if opens >= closes:
                errors.append(
                    (
                        path,
                        f"opening time {_format_time(opens)} must be before closing time "
                        f"{_format_time(closes)}",
                    )
                )
                continue
            if slot_ok and _minutes_of(closes) - _minutes_of(opens) < spec.slot_minutes:
                errors.append(
                    (
                        path,
                        f"{_format_time(opens)}-{_format_time(closes)} is shorter than one "
                        f"{spec.slot_minutes}-minute slot",
                    )
                )

    if not _is_int(spec.capacity) or not 1 <= spec.capacity <= CAPACITY_MAX:
        errors.append(
            (
                "capacity",
                f"must be a whole number of callbacks per slot from 1 to {CAPACITY_MAX}",
            )
        )

    if not _is_int(spec.lead_minutes) or not 0 <= spec.lead_minutes <= LEAD_MINUTES_MAX:
        errors.append(("lead_minutes", f"must be a whole number from 0 to {LEAD_MINUTES_MAX}"))

    country = spec.holiday_country
    if country is not None and not _is_country_code(country):
        errors.append(
            (
                "holiday_country",
                f"unsupported holiday country {country!r}; use a 2-letter ISO 3166 code "
                "such as US or BR",
            )
        )
    elif spec.holiday_subdivision is not None:
        subdivision = spec.holiday_subdivision
        if country is None:
            errors.append(("holiday_subdivision", "needs holiday_country"))
        elif not isinstance(subdivision, str) or subdivision not in _subdivision_codes(country):
            choices = ", ".join(_subdivision_codes(country)) or "none"
            errors.append(
                (
                    "holiday_subdivision",
                    f"unknown subdivision {subdivision!r} of {country}; use a subdivision "
                    f"code of at most {SUBDIVISION_MAX_LENGTH} characters, one of: {choices}",
                )
            )

    if not isinstance(spec.closed_dates, frozenset | set) or not all(
        isinstance(d, date) and not isinstance(d, datetime) for d in spec.closed_dates
    ):
        errors.append(("closed_dates", "must be a set of dates"))
    elif not all(supported_date(d) for d in spec.closed_dates):
        errors.append(
            (
                "closed_dates",
                f"dates must be from {EARLIEST_DATE.isoformat()} to {LATEST_DATE.isoformat()}",
            )
        )

    return errors


# ------------------------------------------------------------------------- payload

_PAYLOAD_FIELDS = frozenset(
    {
        "timezone",
        "hours",
        "slot_minutes",
        "capacity",
        "holiday_country",
        "holiday_subdivision",
        "closed_dates",
        "lead_minutes",
    }
)
_FULL_DAY_NAMES = {
    "monday": "mon",
    "tuesday": "tue",
    "wednesday": "wed",
    "thursday": "thu",
    "friday": "fri",
    "saturday": "sat",
    "sunday": "sun",
}
_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


def _parse_time(raw: object) -> time | None:
    """``"HH:MM"`` (or ``"HH:MM:SS"``; ``"24:00"`` means END_OF_DAY), else None."""
    if not isinstance(raw, str):
        return None
    match = _TIME_RE.match(raw.strip())
    if match is None:
        return None
    hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
    if (hour, minute, second) == (24, 0, 0):
        return END_OF_DAY
    if hour > 23 or minute > 59 or second > 59:
        return None
    return time(hour, minute, second)


def _parse_int(
    data: Mapping[str, object],
    name: str,
    errors: list[tuple[str, str]],
    default: int | None = None,
) -> int | None:
    raw = data.get(name)
    if raw is None:
        if default is None:
            errors.append((name, "is required"))
        return default
    if not _is_int(raw):
        errors.append((name, "must be a whole number"))
        return None
    return raw


def _parse_hours(raw: object, errors: list[tuple[str, str]]) -> dict[str, tuple[time, time]]:
    hours: dict[str, tuple[time, time]] = {}
    if raw is None:
        errors.append(("hours", "is required"))
        return hours
    if not isinstance(raw, Mapping):
        errors.append(("hours", 'must be an object such as {"mon": ["09:00", "17:00"]}'))
        return hours
    for raw_key, value in raw.items():
        path = f"hours.{raw_key}"
        key = str(raw_key).strip().lower()
        key = _FULL_DAY_NAMES.get(key, key)
        if key not in WEEKDAYS:
            errors.append((path, f"unknown weekday; use one of {', '.join(WEEKDAYS)}"))
            continue
        if value is None:  # explicit null: closed, same as leaving the day out
            continue
        if not isinstance(value, list | tuple) or len(value) != 2:
            errors.append((path, 'must be ["HH:MM", "HH:MM"] (open, close)'))
            continue
        opens, closes = _parse_time(value[0]), _parse_time(value[1])
        if opens is None or closes is None:
            errors.append((path, 'times must be "HH:MM" from 00:00 to 24:00'))
            continue
        if key in hours:
            errors.append((path, f"{key} is given more than once"))
            continue
        hours[key] = (opens, closes)
    return hours


def _parse_closed_dates(raw: object, errors: list[tuple[str, str]]) -> frozenset[date]:
    if raw is None:
        return frozenset()
    if not isinstance(raw, list | tuple):
        errors.append(("closed_dates", 'must be a list of ISO dates such as ["2026-12-24"]'))
        return frozenset()
    dates: set[date] = set()
    for index, item in enumerate(raw):
        try:
            if not isinstance(item, str) or len(item.strip()) != 10:
                raise ValueError(item)
            day = date.fromisoformat(item.strip())
        except ValueError:
            errors.append((f"closed_dates.{index}", "must be an ISO date YYYY-MM-DD"))
            continue
        if not supported_date(day):
            errors.append(
                (
                    f"closed_dates.{index}",
                    f"must be from {EARLIEST_DATE.isoformat()} to {LATEST_DATE.isoformat()}",
                )
            )
            continue
        dates.add(day)
    return frozenset(dates)


def _parse_optional_str(
    data: Mapping[str, object], name: str, errors: list[tuple[str, str]]
) -> str | None:
    raw = data.get(name)
    if raw is None:
        return None
    if not isinstance(raw, str):
        errors.append((name, "must be a string"))
        return None
    return raw.strip() or None


def calendar_from_payload(
    data: Mapping[str, object],
) -> tuple[CalendarSpec | None, list[tuple[str, str]]]:
    """Parse the callback-calendar API body.

    Returns ``(spec, [])`` when valid, else ``(None, errors)`` with ``(field path,
    message)`` pairs such as ``("hours.mon", "...")``. ``timezone``, ``hours``,
    ``slot_minutes`` and ``capacity`` are required; ``holiday_country``,
    ``holiday_subdivision``, ``closed_dates`` and ``lead_minutes`` (default 60) are
    optional. Weekday keys are case-insensitive and may be full English names; the
    country code is upper-cased and the subdivision matched case-insensitively.
    Unknown fields are errors, so a typo cannot silently fall back to a default.
    """
    if not isinstance(data, Mapping):
        return None, [("", "must be a JSON object")]
    errors: list[tuple[str, str]] = [
        (str(key), "unknown field") for key in data if key not in _PAYLOAD_FIELDS
    ]

    timezone = data.get("timezone")
    if timezone is None:
        errors.append(("timezone", "is required"))
    elif not isinstance(timezone, str):
        errors.append(("timezone", "must be an IANA time zone name"))
        timezone = None
    else:
        timezone = timezone.strip()

    hours = _parse_hours(data.get("hours"), errors)
    slot_minutes = _parse_int(data, "slot_minutes", errors)
    capacity = _parse_int(data, "capacity", errors)
    lead_minutes = _parse_int(data, "lead_minutes", errors, default=60)
    closed_dates = _parse_closed_dates(data.get("closed_dates"), errors)

    country = _parse_optional_str(data, "holiday_country", errors)
    if country is not None:
        country = country.upper()
    subdivision = _parse_optional_str(data, "holiday_subdivision", errors)
    if country is not None and subdivision is not None:
        # Canonical spelling from the holidays package, matched case-insensitively.
        known = holidays.list_supported_countries().get(country, [])
        subdivision = next(
            (s for s in known if s.casefold() == subdivision.casefold()), subdivision
        )

    if errors:
        # Also report value problems of the fields that did parse, so one round trip
        # shows everything to fix. Unparseable fields get harmless placeholders (a
        # 5-minute slot cannot make a day "too short") and their errors are not repeated.
        partial = CalendarSpec(
            timezone=timezone if isinstance(timezone, str) else "UTC",
            hours=hours,
            slot_minutes=slot_minutes if slot_minutes is not None else SLOT_MINUTES_MIN,
            capacity=capacity if capacity is not None else 1,
            holiday_country=country,
            holiday_subdivision=subdivision,
            closed_dates=closed_dates,
            lead_minutes=lead_minutes if lead_minutes is not None else 60,
        )
        seen = {path for path, _ in errors}
        hours_reported = any(path.startswith("hours") for path in seen)
        errors.extend(
            (path, message)
            for path, message in calendar_errors(partial)
            if path not in seen and not (path == "hours" and hours_reported)
        )
        return None, errors

    assert isinstance(timezone, str) and slot_minutes is not None and capacity is not None
    assert lead_minutes is not None
    spec = CalendarSpec(
        timezone=timezone,
        hours=hours,
        slot_minutes=slot_minutes,
        capacity=capacity,
        holiday_country=country,
        holiday_subdivision=subdivision,
        closed_dates=closed_dates,
        lead_minutes=lead_minutes,
    )
    errors = calendar_errors(spec)
    if errors:
        return None, errors
    return spec, []


def calendar_to_payload(spec: CalendarSpec) -> dict[str, object]:
    """The API body for ``spec``; ``calendar_from_payload`` reads it back unchanged."""
    return {
        "timezone": spec.timezone,
        "hours": {
            day: [_format_time(spec.hours[day][0]), _format_time(spec.hours[day][1])]
            for day in WEEKDAYS
            if day in spec.hours
        },
        "slot_minutes": spec.slot_minutes,
        "capacity": spec.capacity,
        "holiday_country": spec.holiday_country,
        "holiday_subdivision": spec.holiday_subdivision,
        "closed_dates": [d.isoformat() for d in sorted(spec.closed_dates)],
        "lead_minutes": spec.lead_minutes,
    }


# -------------------------------------------------------------------------- menus

# Plain ASCII on purpose: accented letters outside GSM-7 (e.g. "mié", "sáb") would
# switch the whole SMS to UCS-2 and cut a segment from 160 to 70 characters.
_DAY_NAMES: dict[str, tuple[str, ...]] = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "es": ("lun", "mar", "mie", "jue", "vie", "sab", "dom"),
    "pt": ("seg", "ter", "qua", "qui", "sex", "sab", "dom"),
}
_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MENU_LEAD = {"en": "Reply", "es": "Responda", "pt": "Responda"}


def _language(language: str) -> str:
    """Primary language we have texts for: "pt-BR"/"pt_br" -> "pt"; unknown -> "en"."""
    primary = language.strip().lower().replace("_", "-").split("-")[0]
    return primary if primary in _DAY_NAMES else "en"


def twelve_hour(language: str) -> bool:
    """US English writes times on a 12-hour clock ("2:00-2:30 PM"); everyone else here
    on a 24-hour one."""
    tag = language.strip().replace("_", "-").upper()
    return tag in ("EN-US", "EN-PH")


def _twelve(at: datetime, *, suffix: bool) -> str:
    text = f"{at.hour % 12 or 12}:{at.minute:02d}"
    return f"{text} {'AM' if at.hour < 12 else 'PM'}" if suffix else text


def _local_range(slot: Slot, zone: tzinfo, language: str = "") -> tuple[datetime, str]:
    start = slot.starts_at.astimezone(zone)
    end = slot.ends_at.astimezone(zone)
    if twelve_hour(language):
        same_half = (start.hour < 12) == (end.hour < 12) and end.date() == start.date()
        return start, f"{_twelve(start, suffix=not same_half)}-{_twelve(end, suffix=True)}"
    return start, f"{start:%H:%M}-{end:%H:%M}"


def _local_day(start: datetime, lang: str, *, with_date: bool) -> str:
    weekday = _DAY_NAMES[lang][start.weekday()]
    if not with_date:
        return weekday
    if lang == "en":
        return f"{weekday} {start.day} {_MONTHS_EN[start.month - 1]}"
    return f"{weekday} {start.day:02d}/{start.month:02d}"


def format_slot_local(slot: Slot, timezone: str, language: str) -> str:
    """One slot with its date in the debtor's zone and language, for confirmations:
    en ``"Tue 28 Nov 10:00-10:30"``, es ``"mar 28/11 10:00-10:30"``, pt
    ``"ter 28/11 10:00-10:30"``. Plain ASCII (GSM-7)."""
    lang = _language(language)
    start, span = _local_range(slot, _zone(timezone), language)
    return f"{_local_day(start, lang, with_date=True)} {span}"


def slot_menu_text(
    slots: Sequence[Slot],
    debtor_timezone: str,
    language: str,
    *,
    now: datetime | None = None,
) -> str:
    """Lettered menu of ``slots`` in the debtor's zone and language, plain ASCII (GSM-7):
    en ``"Reply A: Tue 10:00-10:30, B: Tue 14:00-14:30, C: Wed 09:30-10:00"``,
    es ``"Responda A: mar 10:00-10:30, ..."``, pt/pt-BR ``"Responda A: ter ..."``.

    A weekday alone would be ambiguous when two slots fall on the same weekday of
    different weeks, or (if ``now`` is given) a slot is a week or more away; then every
    item also shows its date as in ``format_slot_local``. Unknown languages fall back
    to English. Raises ValueError for an empty list or more slots than ``MENU_LETTERS``.
    """
    if not slots:
        raise ValueError("no slots to offer")
    if len(slots) > len(MENU_LETTERS):
        raise ValueError(f"at most {len(MENU_LETTERS)} slots fit in a menu")
    lang = _language(language)
    zone = _zone(debtor_timezone)
    local = [_local_range(slot, zone, language) for slot in slots]
    dates_by_weekday: dict[int, set[date]] = {}
    for start, _ in local:
        dates_by_weekday.setdefault(start.weekday(), set()).add(start.date())
    with_date = any(len(dates) > 1 for dates in dates_by_weekday.values())
    if now is not None:
        _require_aware(now, "now")
        today = now.astimezone(zone).date()
        with_date = with_date or any((start.date() - today).days >= 7 for start, _ in local)
    items = [
        f"{letter}: {_local_day(start, lang, with_date=with_date)} {span}"
        for letter, (start, span) in zip(MENU_LETTERS, local, strict=False)
    ]
    return f"{_MENU_LEAD[lang]} {', '.join(items)}"
