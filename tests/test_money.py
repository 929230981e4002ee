from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.money import (
    format_money,
    format_money_compact,
    from_decimal,
    is_known_currency,
    minor_unit_exponent,
    to_decimal,
)
from app.segments import is_gsm7


@pytest.mark.parametrize("code", ["USD", "BRL", "EUR", "MXN", "JPY", "BHD", "GBP", "CLF"])
def test_known_currencies(code: str) -> None:
    assert is_known_currency(code)


@pytest.mark.parametrize(
    "code",
    [
        "XYZ",  # not a code
        "usd",  # codes are upper case
        "",
        "US",
        "USDX",
        "VEF",  # retired (replaced by VES)
        "HRK",  # retired (Croatia uses EUR)
        "XXX",  # "no currency"
        "XTS",  # testing code
        "XAU",  # gold has no minor unit
    ],
)
def test_unknown_currencies(code: str) -> None:
    assert not is_known_currency(code)
    with pytest.raises(ValueError):
        minor_unit_exponent(code)
    with pytest.raises(ValueError):
        to_decimal(100, code)


@pytest.mark.parametrize(
    ("code", "exponent"),
    [("USD", 2), ("BRL", 2), ("EUR", 2), ("JPY", 0), ("CLP", 0), ("BHD", 3), ("KWD", 3)],
)
def test_minor_unit_exponent(code: str, exponent: int) -> None:
    assert minor_unit_exponent(code) == exponent


@pytest.mark.parametrize(
    ("amount", "code", "expected"),
    [
        (4120, "USD", "41.20"),
        (0, "USD", "0.00"),
        (-5, "USD", "-0.05"),
        (1234, "JPY", "1234"),
        (1234, "BHD", "1.234"),
        (10**30 + 1, "USD", "10000000000000000000000000000.01"),  # beyond 28 digits
    ],
)
def test_to_decimal_exact(amount: int, code: str, expected: str) -> None:
    result = to_decimal(amount, code)
    assert str(result) == expected
    assert result == Decimal(expected)


def test_to_decimal_rejects_non_int() -> None:
    with pytest.raises(TypeError):
        to_decimal(True, "USD")
    with pytest.raises(TypeError):
        to_decimal(41.2, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "code", "expected"),
    [
        ("41.2", "USD", 4120),
        ("41.20", "USD", 4120),
        ("41.2000", "USD", 4120),  # trailing zeros are exact
        ("1E+3", "JPY", 1000),
        ("1.234", "BHD", 1234),
        ("-0.05", "USD", -5),
        ("0", "USD", 0),
        ("10000000000000000000000000000.01", "USD", 10**30 + 1),
    ],
)
def test_from_decimal_exact(value: str, code: str, expected: int) -> None:
    assert from_decimal(Decimal(value), code) == expected


@pytest.mark.parametrize(
    ("value", "code"),
    [("41.201", "USD"), ("1.5", "JPY"), ("0.0001", "BHD"), ("NaN", "USD"), ("Infinity", "USD")],
)
def test_from_decimal_not_representable(value: str, code: str) -> None:
    with pytest.raises(ValueError):
        from_decimal(Decimal(value), code)


def test_from_decimal_rejects_float() -> None:
    with pytest.raises(TypeError):
        from_decimal(41.2, "USD")  # type: ignore[arg-type]


@given(
    amount=st.integers(min_value=-(10**15), max_value=10**15),
    code=st.sampled_from(["USD", "JPY", "BHD", "BRL"]),
)
def test_decimal_round_trip(amount: int, code: str) -> None:
    assert from_decimal(to_decimal(amount, code), code) == amount


@pytest.mark.parametrize(
    ("amount", "code", "language", "expected"),
    [
        (4120, "USD", "en", "$41.20"),
        (123456, "USD", "en", "$1,234.56"),
        (-500, "USD", "en", "-$5.00"),
        (123456, "BRL", "pt-BR", "R$ 1.234,56"),
        (123456, "BRL", "pt", "R$ 1.234,56"),
        (123456, "BRL", "pt_BR", "R$ 1.234,56"),
        (4120, "USD", "pt-BR", "US$ 41,20"),
        # Generic Spanish locale: the code-like symbol goes after the amount.
        (4120, "USD", "es", "41,20 US$"),
        (123456, "EUR", "es", "1.234,56 €"),
        (123456, "MXN", "es", "1.234,56 MXN"),
        (1234, "JPY", "en", "¥1,234"),
        (1234, "BHD", "en", "BHD 1.234"),  # space added between code and digits
        (123456, "INR", "en", "INR 1,234.56"),  # "₹" is not GSM-7: ISO code instead
    ],
)
def test_format_money(amount: int, code: str, language: str, expected: str) -> None:
    assert format_money(amount, code, language) == expected


@given(
    amount=st.integers(min_value=-(10**12), max_value=10**12),
    code=st.sampled_from(["USD", "BRL", "EUR", "MXN", "JPY", "BHD", "INR", "KRW", "GBP", "PYG"]),
    language=st.sampled_from(["en", "es", "pt-BR"]),
)
def test_formatted_money_is_gsm7_without_nbsp(amount: int, code: str, language: str) -> None:
    for text in (
        format_money(amount, code, language),
        format_money_compact(amount, code, language),
    ):
        assert is_gsm7(text), text
        assert "\u00a0" not in text
        assert "\u202f" not in text


def test_format_money_unknown_language_or_currency() -> None:
    with pytest.raises(ValueError):
        format_money(100, "USD", "fr")
    with pytest.raises(ValueError):
        format_money(100, "USD", "")
    with pytest.raises(ValueError):
        format_money(100, "XYZ", "en")


@pytest.mark.parametrize(
    ("amount", "code", "language", "expected"),
    [
        (5000, "USD", "en", "$50"),
        (4120, "USD", "en", "$41.20"),  # cents stay
        (100000, "USD", "en", "$1,000"),
        (123400, "BRL", "pt-BR", "R$ 1.234"),
        (123400, "USD", "es", "1.234 US$"),
        (1000000, "BHD", "en", "BHD 1,000"),
        (1234, "JPY", "en", "¥1,234"),
    ],
)
def test_format_money_compact(amount: int, code: str, language: str, expected: str) -> None:
    assert format_money_compact(amount, code, language) == expected


def test_a_formatted_amount_is_formatted_once_and_true_is_still_refused() -> None:
    """format_money keeps what it formatted (babel reads its tables on every call): the
    same amount, currency and language give back the same string object. An int-like
    that is not an amount (True) is still refused after 1 was formatted."""
    first = format_money(987_654, "BRL", "pt-BR")
    assert first == "R$ 9.876,54"
    assert format_money(987_654, "BRL", "pt-BR") is first
    assert format_money(1, "USD", "en") == "$0.01"
    with pytest.raises(TypeError):
        format_money(True, "USD", "en")
    with pytest.raises(ValueError, match="unknown or inactive currency"):
        format_money(1, "XYZ", "en")
