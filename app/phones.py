"""Phone numbers: E.164 normalisation and time-zone inference with `phonenumbers`."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo, available_timezones

import phonenumbers
from phonenumbers import PhoneNumberType
from phonenumbers import timezone as number_timezones


class PhoneError(ValueError):
    """A number that cannot receive SMS from us."""


def normalize_phone(raw: str, default_region: str) -> str:
    """`raw` as E.164; national numbers are read in `default_region`."""
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise PhoneError("not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise PhoneError("not a valid phone number for its country")
    if phonenumbers.number_type(number) in (
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.TOLL_FREE,
        PhoneNumberType.PREMIUM_RATE,
        PhoneNumberType.SHARED_COST,
    ):
        raise PhoneError("not a mobile number (cannot receive SMS)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


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


def infer_timezones(e164: str, at: datetime) -> list[str]:
    """The debtor's zones from their number: the principal one first, then the others
    with a different UTC offset at `at`. Empty when unknown; AmbiguousTimezone when the
    candidates are more than MAX_ZONE_SPREAD apart."""
    principal = infer_timezone(e164)
    if principal is None:
        return []
    number = phonenumbers.parse(e164, None)
    offsets: dict[timedelta, str] = {}
    principal_offset = at.astimezone(ZoneInfo(principal)).utcoffset() or timedelta(0)
    offsets[principal_offset] = principal
    for zone in number_timezones.time_zones_for_number(number):
        if zone in valid_timezones():
            offset = at.astimezone(ZoneInfo(zone)).utcoffset() or timedelta(0)
            offsets.setdefault(offset, zone)
    if max(offsets) - min(offsets) > MAX_ZONE_SPREAD:
        raise AmbiguousTimezone("the number spans time zones hours apart; send debtor.timezone")
    return [principal, *(z for o, z in sorted(offsets.items()) if z != principal)]


def infer_timezone(e164: str) -> str | None:
    """The debtor's most likely IANA zone from their number, or None when unknown."""
    number = phonenumbers.parse(e164, None)
    zones = [
        z
        for z in number_timezones.time_zones_for_number(number)
        if z != "Etc/Unknown" and z in valid_timezones()
    ]
    if not zones:
        return None
    order = _zone_order()
    return min(zones, key=lambda z: order.get(z, len(order)))


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
