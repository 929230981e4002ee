"""Installment arithmetic, due dates and the SMS plan menu (pure functions).

All amounts are integer minor units of one currency. Interest follows the
French/Price system: a constant payment PMT = P*i / (1 - (1+i)^-n), or P/n
when i == 0.

Plan total and rounding (the definition every caller relies on):

* ``regular = round_half_up(PMT)``
* ``plan_total = total`` when the rate is 0, else ``round_half_up(PMT * n)``
  using the exact (unrounded) PMT
* ``installments = [regular] * (n - 1) + [plan_total - regular * (n - 1)]``

so the installments always sum to ``plan_total`` exactly and the last one
absorbs the rounding; it differs from ``regular`` by at most n/2 + 1 minor
units. PMT is computed with exact rational arithmetic (``fractions.Fraction``
from the Decimal rate), so no precision budget can flip a half-way rounding.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from app.money import format_money_compact
from app.segments import to_gsm7_friendly

__all__ = [
    "MAX_INSTALLMENTS",
    "PlanOption",
    "installment_amounts",
    "lump_sum_amount",
    "monthly_due_dates",
    "plan_menu_text",
    "plan_options",
]

# 50 years of monthly payments. Beyond it a count is a configuration error, and
# exact rational powers would grow without bound.
MAX_INSTALLMENTS = 600


def _check_int(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")


def _check_rate(monthly_rate: Decimal) -> Fraction:
    # Floats are never money; a Decimal rate is exact.
    if not isinstance(monthly_rate, Decimal):
        raise TypeError(f"monthly_rate must be a Decimal, got {type(monthly_rate).__name__}")
    if not monthly_rate.is_finite() or monthly_rate < 0:
        raise ValueError(f"monthly_rate must be a finite Decimal >= 0, got {monthly_rate}")
    if monthly_rate > 1:
        # Above 100 %/month is almost certainly a percentage passed as a fraction.
        raise ValueError(f"monthly_rate is a fraction (0.02 == 2 %), got {monthly_rate}")
    return Fraction(monthly_rate)


def _round_half_up(value: Fraction) -> int:
    # Amounts here are >= 0, so floor(x + 1/2) is round-half-up.
    return int((value + Fraction(1, 2)) // 1)


def installment_amounts(total: int, count: int, monthly_rate: Decimal) -> list[int]:
    """Installments (minor units) of a French/Price plan for ``total`` over ``count`` months.

    ``monthly_rate`` is a fraction (``Decimal("0.02")`` is 2 % a month). Every
    installment but the last is ``round_half_up(PMT)``; the last takes the exact
    remainder so the sum is the plan total: ``total`` when the rate is 0, else
    ``round_half_up(PMT * count)`` (see the module docstring).

    Raises ValueError when ``total <= 0``, ``count`` is not in
    1..MAX_INSTALLMENTS, the rate is negative or above 1, or the total is too
    small to give every installment at least one minor unit.
    """
    _check_int("total", total)
    _check_int("count", count)
    rate = _check_rate(monthly_rate)
    if total <= 0:
        raise ValueError(f"total must be > 0, got {total}")
    if not 1 <= count <= MAX_INSTALLMENTS:
        raise ValueError(f"count must be in 1..{MAX_INSTALLMENTS}, got {count}")

    principal = Fraction(total)
    if rate == 0:
        pmt = principal / count
        plan_total = total
    else:
        growth = (1 + rate) ** count
        # P*i/(1-(1+i)^-n) multiplied through by (1+i)^n: same value, no negative power.
        pmt = principal * rate * growth / (growth - 1)
        plan_total = _round_half_up(pmt * count)

    regular = _round_half_up(pmt)
    last = plan_total - regular * (count - 1)
    if regular < 1 or last < 1:
        raise ValueError(f"total {total} is too small for {count} installments")
    return [regular] * (count - 1) + [last]


def monthly_due_dates(first: date, count: int) -> list[date]:
    """``count`` monthly due dates starting at ``first``, same day of month each time.

    A day that a month lacks is clamped to its last day, always measured from the
    original day so it does not drift: Jan 31 -> Feb 28 (29 in leap years) -> Mar 31.
    Raises ValueError for ``count < 1``.
    """
    _check_int("count", count)
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    dates = []
    for offset in range(count):
        month_index = first.month - 1 + offset
        year = first.year + month_index // 12
        month = month_index % 12 + 1
        day = min(first.day, calendar.monthrange(year, month)[1])
        dates.append(date(year, month, day))
    return dates


@dataclass(frozen=True)
class PlanOption:
    """One installment option of a plan menu.

    ``installment`` is the regular amount, ``last_installment`` the final one
    (it carries the rounding), ``total`` their sum and ``amounts`` every
    installment in order. ``number`` is the 1-based position in the menu.
    """

    number: int
    count: int
    installment: int
    last_installment: int
    total: int
    amounts: tuple[int, ...]


def _spread(items: list[int], limit: int) -> list[int]:
    """``limit`` items spread evenly over ``items`` (always the first and last)."""
    if len(items) <= limit:
        return items
    if limit == 1:
        return items[:1]
    last = len(items) - 1
    # Index j*last/(limit-1) rounded half-up in integers. Steps are > 1 because
    # len(items) > limit, so the rounded indices stay distinct.
    half = (limit - 1) // 2
    return [items[(j * last + half) // (limit - 1)] for j in range(limit)]


def plan_options(
    balance: int,
    counts: Sequence[int],
    monthly_rate: Decimal,
    min_installment: int,
    max_count: int | None = None,
    limit: int = 3,
) -> list[PlanOption]:
    """Installment options for ``balance`` as a menu of at most ``limit`` entries.

    Candidates are the distinct ``counts`` (at most ``max_count`` when given) whose
    regular and last installment are both >= ``min_installment`` (and >= 1 minor
    unit). A single payment (count 1) appears only if 1 is in ``counts``. When
    more than ``limit`` remain, the smallest, the largest and evenly spread ones
    in between are kept (``limit == 1`` keeps the smallest count). Options are
    numbered 1..k in ascending count order. A zero balance has no options.

    Raises ValueError for a negative balance or min_installment, a count
    outside 1..MAX_INSTALLMENTS, ``limit < 1``, or a bad rate.
    """
    _check_int("balance", balance)
    _check_int("min_installment", min_installment)
    _check_int("limit", limit)
    _check_rate(monthly_rate)
    if balance < 0:
        raise ValueError(f"balance must be >= 0, got {balance}")
    if min_installment < 0:
        raise ValueError(f"min_installment must be >= 0, got {min_installment}")
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    for count in counts:
        _check_int("count", count)
        # A bad rule should fail loudly, not silently offer fewer options.
        if not 1 <= count <= MAX_INSTALLMENTS:
            raise ValueError(f"installment counts must be in 1..{MAX_INSTALLMENTS}, got {count}")
    if balance == 0:
        return []

    eligible: dict[int, list[int]] = {}
    for count in sorted(set(counts)):
        if max_count is not None and count > max_count:
            continue
        try:
            amounts = installment_amounts(balance, count, monthly_rate)
        except ValueError:
            continue  # balance too small to split that many ways
        if min(amounts[0], amounts[-1]) < min_installment:
            continue
        eligible[count] = amounts

    chosen = _spread(sorted(eligible), limit)
    return [
        PlanOption(
            number=position,
            count=count,
            installment=eligible[count][0],
            last_installment=eligible[count][-1],
            total=sum(eligible[count]),
            amounts=tuple(eligible[count]),
        )
        for position, count in enumerate(chosen, start=1)
    ]


def lump_sum_amount(balance: int, discount_pct: Decimal) -> int:
    """Pay-in-full amount: ``balance`` minus ``discount_pct`` % of it.

    The discount is rounded DOWN to the minor unit so the debtor never gets more
    than the maximum discount the creditor allowed; the result is therefore
    >= balance * (1 - pct/100) and <= balance. ``discount_pct`` is 0..100.
    """
    _check_int("balance", balance)
    if not isinstance(discount_pct, Decimal):
        raise TypeError(f"discount_pct must be a Decimal, got {type(discount_pct).__name__}")
    if not discount_pct.is_finite() or not 0 <= discount_pct <= 100:
        raise ValueError(f"discount_pct must be in 0..100, got {discount_pct}")
    if balance < 0:
        raise ValueError(f"balance must be >= 0, got {balance}")
    discount = int(balance * Fraction(discount_pct) / 100 // 1)
    return balance - discount


_MENU = {
    # primary language -> (lead word, what joins the count and the amount)
    "en": ("Reply", " x "),
    "es": ("Responda", " x "),
    "pt": ("Responda", "x "),
}


def plan_menu_text(options: Sequence[PlanOption], currency: str, language: str) -> str:
    """The SMS menu line for ``options``, e.g. "Reply 1: 3 x $41.20, 2: 6 x $21.10".

    es: "Responda 1: 3 x 41,20 US$, ..."; pt-BR: "Responda 1: 3x R$ 41,20, ...".
    Shows the regular installment (the last may differ by a few minor units of
    rounding). Always GSM-7. Raises ValueError for no options or an
    unsupported language.
    """
    if not options:
        raise ValueError("no plan options to list")
    primary = language.replace("_", "-").split("-", 1)[0].lower() if language else ""
    if primary not in _MENU:
        raise ValueError(f"unsupported language: {language!r}")
    lead, times = _MENU[primary]
    items = ", ".join(
        f"{option.number}: {option.count}{times}"
        f"{format_money_compact(option.installment, currency, language)}"
        for option in options
    )
    return to_gsm7_friendly(f"{lead} {items}")
