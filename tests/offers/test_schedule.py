from __future__ import annotations

from datetime import date
from decimal import Decimal, localcontext
from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.offers.schedule import (
    PlanOption,
    installment_amounts,
    lump_sum_amount,
    monthly_due_dates,
    plan_menu_text,
    plan_options,
)
from app.segments import is_gsm7


def reference_pmt(total: int, count: int, rate: Decimal) -> Decimal:
    """Independent PMT: the textbook form P*i/(1-(1+i)^-n) in 60-digit Decimal.

    The module uses exact fractions and the equivalent form P*i*(1+i)^n/((1+i)^n-1).
    """
    with localcontext() as ctx:
        ctx.prec = 60
        if rate == 0:
            return Decimal(total) / count
        return Decimal(total) * rate / (1 - (1 + rate) ** -count)


def round_half_up(value: Decimal) -> int:
    return int(value.to_integral_value(rounding="ROUND_HALF_UP"))


# --- installment_amounts: worked examples ------------------------------------


def test_price_table_1000_at_2pct_12_months() -> None:
    # By hand: 1.02^12 = 1.268241794562545...; (1.02^12 - 1) = 0.268241794562545
    # PMT = 1000 * 0.02 * 1.268241794562545 / 0.268241794562545
    #     = 25.3648358912509 / 0.268241794562545 = 94.559596622951...  -> $94.56
    # Plan total = round(94.559596622951 * 12 = 1134.715159475...) = $1,134.72
    #            = 11 * 94.56 + 94.56, so all twelve are equal here.
    amounts = installment_amounts(100000, 12, Decimal("0.02"))
    assert amounts == [9456] * 12
    assert round_half_up(reference_pmt(100000, 12, Decimal("0.02"))) == 9456
    assert sum(amounts) == 113472


def test_price_table_10000_at_1pct_12_months() -> None:
    # PMT = 10000 * 0.01 / (1 - 1.01^-12) = 888.48788678... -> 888.49
    # Plan total = round(888.48788678 * 12 = 10661.8546414) = 10661.85
    # last = 10661.85 - 11 * 888.49 = 10661.85 - 9773.39 = 888.46
    amounts = installment_amounts(1000000, 12, Decimal("0.01"))
    assert amounts == [88849] * 11 + [88846]
    assert sum(amounts) == 1066185


def test_price_table_1000_at_1pct_3_months() -> None:
    # PMT = 340.02211148... -> 340.02; total = round(1020.0663344) = 1020.07;
    # last = 1020.07 - 680.04 = 340.03
    assert installment_amounts(100000, 3, Decimal("0.01")) == [34002, 34002, 34003]


def test_rate_zero_exact_split_with_remainder_on_last() -> None:
    assert installment_amounts(10000, 3, Decimal(0)) == [3333, 3333, 3334]
    # 200/3 = 66.67 rounds up to 67, so the last takes less.
    assert installment_amounts(200, 3, Decimal("0")) == [67, 67, 66]
    assert installment_amounts(12360, 3, Decimal("0.00")) == [4120, 4120, 4120]
    assert installment_amounts(999, 1, Decimal(0)) == [999]
    # One installment a month away still carries one month of interest: P * (1 + i).
    assert installment_amounts(999, 1, Decimal("0.05")) == [1049]


@pytest.mark.parametrize(
    ("total", "count", "rate"),
    [
        (0, 3, Decimal(0)),
        (-100, 3, Decimal(0)),
        (100, 0, Decimal(0)),
        (100, 601, Decimal(0)),
        (100, 3, Decimal("-0.01")),
        (100, 3, Decimal("2")),  # 200 %/month: a percentage passed as a fraction
        (100, 3, Decimal("NaN")),
        (1, 2, Decimal(0)),  # too small: would need a zero installment
        (30, 20, Decimal(0)),  # regular 2, last would be 30 - 38
    ],
)
def test_installment_amounts_rejects(total: int, count: int, rate: Decimal) -> None:
    with pytest.raises(ValueError):
        installment_amounts(total, count, rate)


def test_installment_amounts_rejects_float_rate() -> None:
    with pytest.raises(TypeError):
        installment_amounts(100, 3, 0.02)  # type: ignore[arg-type]


# Rates 0..10 % a month with up to 4 decimals of a percent: 0.0000 % .. 10.0000 %.
rates = st.integers(min_value=0, max_value=100000).map(lambda k: Decimal(k).scaleb(-6))
balances = st.integers(min_value=1, max_value=10**9)
counts = st.integers(min_value=1, max_value=60)


@given(total=balances, count=counts, rate=rates)
def test_installment_amounts_properties(total: int, count: int, rate: Decimal) -> None:
    pmt = reference_pmt(total, count, rate)
    try:
        amounts = installment_amounts(total, count, rate)
    except ValueError:
        # Only tiny totals fail: a non-positive last needs PMT <= n/2 minor units.
        assert pmt <= Decimal(count) / 2 + Decimal("1e-30")
        return
    plan_total = total if rate == 0 else round_half_up(pmt * count)
    assert len(amounts) == count
    assert sum(amounts) == plan_total
    assert plan_total >= total
    assert all(amount > 0 for amount in amounts)
    assert set(amounts[:-1]) <= {round_half_up(pmt)}
    assert abs(amounts[-1] - amounts[0]) <= count // 2 + 1


# --- due dates ---------------------------------------------------------------


def test_due_dates_clamp_to_month_end_without_drifting() -> None:
    assert monthly_due_dates(date(2027, 1, 31), 4) == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
    ]


def test_due_dates_leap_year() -> None:
    assert monthly_due_dates(date(2028, 1, 31), 3) == [
        date(2028, 1, 31),
        date(2028, 2, 29),
        date(2028, 3, 31),
    ]
    assert monthly_due_dates(date(2028, 2, 29), 13)[-1] == date(2029, 2, 28)


def test_due_dates_cross_year_and_plain_days() -> None:
    assert monthly_due_dates(date(2026, 11, 10), 3) == [
        date(2026, 11, 10),
        date(2026, 12, 10),
        date(2027, 1, 10),
    ]
    assert monthly_due_dates(date(2026, 8, 30), 2) == [date(2026, 8, 30), date(2026, 9, 30)]
    with pytest.raises(ValueError):
        monthly_due_dates(date(2026, 1, 1), 0)


@given(first=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)), count=counts)
def test_due_dates_properties(first: date, count: int) -> None:
    dates = monthly_due_dates(first, count)
    assert len(dates) == count
    assert dates[0] == first
    for previous, current in pairwise(dates):
        assert (current.year * 12 + current.month) - (previous.year * 12 + previous.month) == 1
        # Day is the original one unless the month is too short for it.
        assert current.day == first.day or current.day < first.day


# --- plan options ------------------------------------------------------------


def test_plan_options_example() -> None:
    options = plan_options(12360, [12, 3, 6, 6], Decimal(0), min_installment=500)
    assert [(o.number, o.count, o.installment) for o in options] == [
        (1, 3, 4120),
        (2, 6, 2060),
        (3, 12, 1030),
    ]
    assert options[0] == PlanOption(1, 3, 4120, 4120, 12360, (4120, 4120, 4120))


def test_plan_options_min_installment_and_max_count() -> None:
    options = plan_options(12360, [3, 6, 12], Decimal(0), min_installment=2000)
    assert [o.count for o in options] == [3, 6]
    options = plan_options(12360, [3, 6, 12], Decimal(0), min_installment=0, max_count=6)
    assert [o.count for o in options] == [3, 6]
    assert plan_options(12360, [3, 6, 12], Decimal(0), min_installment=5000) == []


def test_plan_options_min_applies_to_last_installment_too() -> None:
    # 200 over 3: [67, 67, 66]; a minimum of 67 drops it because of the last one.
    assert plan_options(200, [3], Decimal(0), min_installment=67) == []
    assert [o.count for o in plan_options(200, [3], Decimal(0), min_installment=66)] == [3]


def test_plan_options_single_payment_only_if_listed() -> None:
    assert [o.count for o in plan_options(5000, [2, 3], Decimal(0), 2000)] == [2]
    assert [o.count for o in plan_options(5000, [1, 2, 3], Decimal(0), 2000)] == [1, 2]


def test_plan_options_spread_when_over_limit() -> None:
    options = plan_options(10**6, [2, 3, 4, 6, 9, 12, 18, 24], Decimal("0.01"), 100)
    assert [o.count for o in options] == [2, 9, 24]
    assert [o.number for o in options] == [1, 2, 3]
    options = plan_options(10**6, [2, 3, 4, 6, 9, 12, 18, 24], Decimal("0.01"), 100, limit=4)
    assert [o.count for o in options] == [2, 4, 12, 24]  # indices 0, 2.33, 4.67, 7
    options = plan_options(10**6, [2, 3, 4], Decimal("0.01"), 100, limit=1)
    assert [o.count for o in options] == [2]


def test_plan_options_validation() -> None:
    assert plan_options(0, [3], Decimal(0), 100) == []
    with pytest.raises(ValueError):
        plan_options(-1, [3], Decimal(0), 100)
    with pytest.raises(ValueError):
        plan_options(100, [0, 3], Decimal(0), 1)
    with pytest.raises(ValueError):
        plan_options(100, [3], Decimal(0), 1, limit=0)
    with pytest.raises(ValueError):
        plan_options(100, [3], Decimal(0), -1)


@given(
    balance=balances,
    count_list=st.lists(counts, min_size=0, max_size=12),
    rate=rates,
    min_installment=st.integers(min_value=0, max_value=10**7),
    max_count=st.none() | counts,
    limit=st.integers(min_value=1, max_value=5),
)
def test_plan_options_properties(
    balance: int,
    count_list: list[int],
    rate: Decimal,
    min_installment: int,
    max_count: int | None,
    limit: int,
) -> None:
    options = plan_options(balance, count_list, rate, min_installment, max_count, limit)
    assert len(options) <= limit
    assert [o.number for o in options] == list(range(1, len(options) + 1))
    assert [o.count for o in options] == sorted({o.count for o in options})
    for option in options:
        assert option.count in count_list
        assert max_count is None or option.count <= max_count
        assert len(option.amounts) == option.count
        assert sum(option.amounts) == option.total
        assert option.total >= balance
        assert all(amount > 0 for amount in option.amounts)
        assert all(amount >= min_installment for amount in option.amounts)
        assert option.installment == option.amounts[0]
        assert option.last_installment == option.amounts[-1]
    # Independently: which counts qualify, and that the spread keeps both ends.
    eligible = []
    for count in sorted(set(count_list)):
        if max_count is not None and count > max_count:
            continue
        try:
            amounts = installment_amounts(balance, count, rate)
        except ValueError:
            continue
        if min(amounts) >= min_installment:
            eligible.append(count)
    if len(eligible) <= limit:
        assert [o.count for o in options] == eligible
    else:
        assert len(options) == limit
        assert options[0].count == eligible[0]
        if limit > 1:
            assert options[-1].count == eligible[-1]


# --- lump sum ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("balance", "pct", "expected"),
    [
        (10000, "10", 9000),
        (999, "10", 900),  # discount 99.9 rounds down to 99
        (999, "33.333", 667),  # discount 332.99 -> 332
        (10000, "0", 10000),
        (10000, "100", 0),
        (0, "50", 0),
    ],
)
def test_lump_sum_amount(balance: int, pct: str, expected: int) -> None:
    assert lump_sum_amount(balance, Decimal(pct)) == expected


@pytest.mark.parametrize("pct", ["-1", "100.01", "NaN"])
def test_lump_sum_rejects_bad_pct(pct: str) -> None:
    with pytest.raises(ValueError):
        lump_sum_amount(1000, Decimal(pct))


@given(
    balance=st.integers(min_value=0, max_value=10**9),
    pct=st.integers(min_value=0, max_value=1_000_000).map(lambda k: Decimal(k).scaleb(-4)),
)
def test_lump_sum_never_beyond_max_discount(balance: int, pct: Decimal) -> None:
    amount = lump_sum_amount(balance, pct)
    floor_amount = Fraction(balance) * (1 - Fraction(pct) / 100)
    assert amount <= balance
    assert amount >= floor_amount  # never more discount than allowed
    assert amount - floor_amount < 1  # and no less than one minor unit short of it


# --- menu text ---------------------------------------------------------------


def _options() -> list[PlanOption]:
    return [
        PlanOption(1, 3, 4120, 4120, 12360, (4120,) * 3),
        PlanOption(2, 6, 2110, 2110, 12660, (2110,) * 6),
        PlanOption(3, 12, 1105, 1105, 13260, (1105,) * 12),
    ]


@pytest.mark.parametrize(
    ("currency", "language", "expected"),
    [
        ("USD", "en", "Reply 1: 3 x $41.20, 2: 6 x $21.10, 3: 12 x $11.05"),
        ("USD", "es", "Responda 1: 3 x 41,20 US$, 2: 6 x 21,10 US$, 3: 12 x 11,05 US$"),
        ("BRL", "pt-BR", "Responda 1: 3x R$ 41,20, 2: 6x R$ 21,10, 3: 12x R$ 11,05"),
        ("BRL", "pt", "Responda 1: 3x R$ 41,20, 2: 6x R$ 21,10, 3: 12x R$ 11,05"),
    ],
)
def test_plan_menu_text(currency: str, language: str, expected: str) -> None:
    text = plan_menu_text(_options(), currency, language)
    assert text == expected
    assert is_gsm7(text)


def test_plan_menu_text_whole_amounts_and_errors() -> None:
    options = [PlanOption(1, 2, 5000, 5000, 10000, (5000, 5000))]
    assert plan_menu_text(options, "USD", "en") == "Reply 1: 2 x $50"
    with pytest.raises(ValueError):
        plan_menu_text([], "USD", "en")
    with pytest.raises(ValueError):
        plan_menu_text(options, "USD", "de")
