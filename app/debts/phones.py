"""Phone numbers: E.164 normalisation and time-zone inference with `phonenumbers`."""

from __future__ import annotations

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
