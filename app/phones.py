"""Phone numbers: E.164 normalisation and time-zone inference with `phonenumbers`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo, available_timezones

import phonenumbers
from phonenumbers import PhoneNumber, PhoneNumberType, is_number_type_geographical
from phonenumbers import timezone as number_timezones


class PhoneError(ValueError):
    """A number that cannot receive SMS from us."""


# Types that cannot receive SMS.
NOT_SMS = frozenset(
    {
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.TOLL_FREE,
        PhoneNumberType.PREMIUM_RATE,
        PhoneNumberType.SHARED_COST,
    }
)


@dataclass(frozen=True)
class Mobile:
    """A number that passed `parse_mobile`: parsed once, its type worked out once."""

    number: PhoneNumber
    kind: int  # a PhoneNumberType
    e164: str


def parse_mobile(raw: str, default_region: str) -> Mobile:
    """`raw` parsed and checked once (a valid number that can receive SMS), else
    PhoneError; national numbers are read in `default_region`. `phonenumbers`
    recomputes a number's type in every validity, type and zone call (its costliest
    step); bulk imports call this once per row and hand the result to
    `infer_timezones`."""
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise PhoneError("not a phone number") from exc
    # number_type is UNKNOWN exactly when is_valid_number is False: both match the
    # number against the metadata of the region its digits belong to.
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.UNKNOWN:
        raise PhoneError("not a valid phone number for its country")
    if kind in NOT_SMS:
        raise PhoneError("not a mobile number (cannot receive SMS)")
    return Mobile(
        number, kind, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    )


def normalize_phone(raw: str, default_region: str) -> str:
    """`raw` as E.164; national numbers are read in `default_region`."""
    return parse_mobile(raw, default_region).e164


def _as_mobile(phone: str | Mobile) -> Mobile | None:
    if isinstance(phone, Mobile):
        return phone
    number = phonenumbers.parse(phone, None)
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.UNKNOWN:
        return None
    return Mobile(number, kind, phone)


def _number_zones(mobile: Mobile) -> tuple[str, ...]:
    """phonenumbers' `time_zones_for_number` without working out the type again."""
    if is_number_type_geographical(mobile.kind, mobile.number.country_code or 0):
        return number_timezones.time_zones_for_geographical_number(mobile.number)
    return number_timezones._country_level_time_zones_for_number(mobile.number)


@lru_cache(maxsize=1)
def _zone_order() -> dict[str, int]:
    # zone.tab lists each country's principal zone first (Europe/Madrid before
    # Atlantic/Canary): the best guess when a number maps to several zones.
    text = resources.files("tzdata").joinpath("zoneinfo/zone.tab").read_text()
    order: dict[str, int] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            parts = line.split("\t")
            if len(parts) >= 3:
                order.setdefault(parts[2], len(order))
    return order


# Zones further apart than this cannot share a useful contact window: the row must say
# which one applies (a Russian or Australian mobile, say).
MAX_ZONE_SPREAD = timedelta(hours=3)


class AmbiguousTimezone(ValueError):
    """The number spans zones too far apart to guess."""


def infer_timezones(phone: str | Mobile, at: datetime) -> list[str]:
    """The debtor's zones from their number (E.164, or what `parse_mobile` returned):
    the principal one first, then the others with a different UTC offset at `at`.
    Empty when unknown; AmbiguousTimezone when the candidates are more than
    MAX_ZONE_SPREAD apart."""
    mobile = _as_mobile(phone)
    if mobile is None:
        return []
    zones = _known_zones(_number_zones(mobile))
    if not zones:
        return []
    return _spread(zones, at)


def _known_zones(zones: tuple[str, ...]) -> tuple[str, ...]:
    """The zones this machine knows, the principal one (zone.tab order) first."""
    known = [z for z in zones if z != "Etc/Unknown" and z in valid_timezones()]
    if not known:
        return ()
    order = _zone_order()
    principal = min(known, key=lambda z: order.get(z, len(order)))
    return (principal, *(z for z in known if z != principal))


def _spread(zones: tuple[str, ...], at: datetime) -> list[str]:
    principal = zones[0]
    offsets: dict[timedelta, str] = {}
    for zone in zones:
        offset = at.astimezone(ZoneInfo(zone)).utcoffset() or timedelta(0)
        offsets.setdefault(offset, zone)
    if max(offsets) - min(offsets) > MAX_ZONE_SPREAD:
        raise AmbiguousTimezone("the number spans time zones hours apart; send debtor.timezone")
    return [principal, *(z for o, z in sorted(offsets.items()) if z != principal)]


def infer_timezone(phone: str | Mobile) -> str | None:
    """The debtor's most likely IANA zone from their number, or None when unknown."""
    mobile = _as_mobile(phone)
    if mobile is None:
        return None
    zones = _known_zones(_number_zones(mobile))
    return zones[0] if zones else None


@lru_cache(maxsize=1)
def valid_timezones() -> frozenset[str]:
    """Every IANA zone this machine knows."""
    return frozenset(available_timezones())


def check_timezone(name: str) -> str:
    """`name` if it is an IANA zone, else ValueError."""
    if name not in valid_timezones():
        raise ValueError("unknown IANA time zone")
    ZoneInfo(name)
    return name
