"""Money helpers: amounts are integer minor units plus an ISO 4217 code, never floats.

Currency data (active codes, minor-unit exponents, symbols, patterns) comes from
babel's CLDR tables so there is no hand-kept list to rot.

Known divergence: ``minor_unit_exponent`` is CLDR's "digits", which matches ISO
4217's minor unit for the currencies Parley targets (USD, BRL, EUR, MXN, JPY,
BHD, ...) but not for a few where CLDR records what is used in practice, e.g.
IQD/IRR/LAK/RSD/YER are 0 in CLDR (ISO: 3/2/2/2/2). Amounts for those are in
whole units throughout Parley; a processor using ISO exponents would need a
conversion at its edge.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache

from babel.core import Locale, UnknownLocaleError, get_global
from babel.numbers import (
    format_currency,
    get_currency_precision,
    get_currency_symbol,
    get_decimal_symbol,
)

from app.segments import is_gsm7, to_gsm7_friendly

__all__ = [
    "format_money",
    "format_money_compact",
    "from_decimal",
    "is_known_currency",
    "minor_unit_exponent",
    "to_decimal",
]

# Codes that CLDR lists as current somewhere but that cannot denominate a debt in
# minor units: ISO 4217 gives them no minor unit ("N.A."): precious metals, bond
# market units, SDR, the testing code and "no currency". CNH (offshore yuan) and
# XAD are CLDR additions, not ISO 4217 codes.
_EXCLUDED = frozenset(
    {
        "XAU",
        "XAG",
        "XPD",
        "XPT",
        "XBA",
        "XBB",
        "XBC",
        "XBD",
        "XDR",
        "XSU",
        "XUA",
        "XTS",
        "XXX",
        "CNH",
        "XAD",
    }
)

# Parley's languages -> the babel locale used to format amounts. Spanish uses
# the generic "es" locale (USD shows as "41,20 US$"); a Latin-American locale
# would differ per country and Parley does not know the debtor's country here.
_LOCALES = {"en": "en_US", "es": "es", "pt": "pt_BR"}

_NBSP = ("\u00a0", "\u202f")


@lru_cache(maxsize=1)
def _active_currencies() -> frozenset[str]:
    # A currency is active when some territory still uses it (no end date).
    # babel.numbers.list_currencies() would also return retired codes (VEF, HRK, ...).
    territory_currencies = get_global("territory_currencies")
    active = {
        code
        for entries in territory_currencies.values()
        for code, _start, end, _tender in entries
        if end is None
    }
    return frozenset(active - _EXCLUDED)


def is_known_currency(code: str) -> bool:
    """True for an active ISO 4217 code with a minor unit (case-sensitive: "USD", not "usd")."""
    return isinstance(code, str) and code in _active_currencies()


def _check_currency(currency: str) -> None:
    if not is_known_currency(currency):
        raise ValueError(f"unknown or inactive currency code: {currency!r}")


@lru_cache(maxsize=512)
def minor_unit_exponent(currency: str) -> int:
    """Number of decimal places of the minor unit: USD 2, JPY 0, BHD 3.

    Raises ValueError for an unknown currency.
    """
    _check_currency(currency)
    return int(get_currency_precision(currency))


def _check_int(amount_minor: int) -> None:
    # bool is an int subclass; True as "1 cent" is always a bug.
    if not isinstance(amount_minor, int) or isinstance(amount_minor, bool):
        raise TypeError(f"amount in minor units must be an int, got {type(amount_minor).__name__}")


def to_decimal(amount_minor: int, currency: str) -> Decimal:
    """Exact major-unit Decimal for an amount in minor units: (4120, "USD") -> Decimal("41.20")."""
    _check_int(amount_minor)
    exponent = minor_unit_exponent(currency)
    sign, digits, _ = Decimal(amount_minor).as_tuple()
    # Built from the tuple rather than by division/scaleb so that no context
    # precision can round a large amount.
    return Decimal((sign, digits, -exponent))


def from_decimal(value: Decimal, currency: str) -> int:
    """Exact minor units for a major-unit Decimal: (Decimal("41.2"), "USD") -> 4120.

    Raises ValueError when the value has more decimals than the currency allows
    (Decimal("0.001") USD) or is not finite; TypeError for non-Decimal input
    (floats are never money).
    """
    if not isinstance(value, Decimal):
        raise TypeError(f"value must be a Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {value}")
    exponent = minor_unit_exponent(currency)
    sign, digits, exp = value.as_tuple()
    assert isinstance(exp, int)  # finite, checked above
    scaled = Decimal((sign, digits, exp + exponent))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} is not representable in {currency} (exponent {exponent})")
    return int(scaled)


@lru_cache(maxsize=256)
def _locale_for(language: str) -> str:
    # Accept "en", "es", "pt-BR", "pt", "pt_BR", "en-US", "es-MX", any case. A region
    # picks the country's own way of writing money ("es-MX": "$3,500.00", "es-ES":
    # "3.500,00 €"); without one, the language's default above.
    primary, _, region = (language or "").replace("_", "-").partition("-")
    primary = primary.lower()
    if primary not in _LOCALES:
        raise ValueError(f"unsupported language: {language!r}")
    if region.isalpha() and len(region) == 2:
        candidate = f"{primary}_{region.upper()}"
        try:
            Locale.parse(candidate)
        except (UnknownLocaleError, ValueError):
            return _LOCALES[primary]
        return candidate
    return _LOCALES[primary]


@lru_cache(maxsize=64)
def babel_locale(name: str) -> Locale:
    """babel's Locale for `name`, made once: given a name, each babel call parses it
    into a new Locale that reads its tables again (under babel's one process-wide
    lock, which the worker's threads then queue on)."""
    return Locale.parse(name)


_LETTER_DIGIT = re.compile(r"(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")


def format_money(amount_minor: int, currency: str, language: str) -> str:
    """Format an amount for an SMS in the debtor's language.

    ``language`` is "en", "es" or "pt-BR" (also "pt"; region and case are ignored).
    Examples: (4120, "USD", "en") -> "$41.20"; (123456, "BRL", "pt-BR") ->
    "R$ 1.234,56"; (4120, "USD", "es") -> "41,20 US$". The result is GSM-7:
    babel's no-break spaces become plain spaces and a symbol outside GSM-7
    (e.g. "₹") is replaced by the ISO code ("INR 1,234.56").
    """
    _check_int(amount_minor)
    return _format_money(amount_minor, currency, language)


@lru_cache(maxsize=16384)
def _format_money(amount_minor: int, currency: str, language: str) -> str:
    # Formatted once per (amount, currency, language): babel reads its locale tables
    # for each call (about 50 µs, several times for a plan menu), and a debtor's
    # amounts come back in each answer about the debt. Strings: nothing to share.
    locale = babel_locale(_locale_for(language))
    text = format_currency(to_decimal(amount_minor, currency), currency, locale=locale)
    for space in _NBSP:
        text = text.replace(space, " ")
    if not is_gsm7(text):
        symbol = get_currency_symbol(currency, locale=locale)
        text = text.replace(symbol, currency)
    # CLDR wants a space between a letter code and the digits; babel omits it
    # ("BHD1.234"), which is hard to read on a phone.
    text = _LETTER_DIGIT.sub(" ", text)
    # Last resort (e.g. a locale minus sign): never let a formatted amount force
    # the whole SMS into UCS-2.
    return to_gsm7_friendly(text)


@lru_cache(maxsize=64)
def _decimal_symbol(locale: str) -> str:
    return str(get_decimal_symbol(babel_locale(locale)))


def format_money_compact(amount_minor: int, currency: str, language: str) -> str:
    """Like :func:`format_money`, but whole amounts drop the zero fraction ("$50", "R$ 1.234").

    Meant for menus where space counts; amounts with cents are unchanged.
    """
    text = format_money(amount_minor, currency, language)
    exponent = minor_unit_exponent(currency)
    if exponent == 0 or amount_minor % 10**exponent != 0:
        return text
    decimal_symbol = _decimal_symbol(_locale_for(language))
    # The fraction is the locale's decimal symbol followed by exactly `exponent`
    # zeros; the group separator is a different symbol, so it cannot match.
    pattern = re.escape(decimal_symbol) + "0" * exponent + r"(?!\d)"
    return re.sub(pattern, "", text, count=1)
