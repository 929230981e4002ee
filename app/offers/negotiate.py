"""Debtor-proposed terms against an offer rule's limits (pure functions).

Given what a debtor offered (an amount per period, a number of installments, a down
payment with the rest later, a preferred day) and the terms of the matching rule
version, build the plan closest to it that the rule allows: the debtor's own terms
when they fit, else a counter-offer at the rule's limits. The limits are hard:

* every installment (the down payment included) is at least ``min_installment``;
* there are at most ``max(installment_counts)`` installments (in hardship the
  ``hardship_installment_counts`` count too);
* a down payment only when ``down_payment_allowed``, of at least
  ``down_payment_min_pct`` of the balance;
* only the rule's ``periodicities``; the first due date moves at most
  ``due_day_max_shift_days`` from the rule's default (None: any day);
* the total is the balance plus the rule's monthly interest on what is financed, never
  less than the balance.

Interest for weekly and biweekly periods is the monthly rate scaled by 12/52 and 12/26
(quantised to 10 decimal places).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal
from fractions import Fraction
from typing import Any

from app.offers.schedule import MAX_INSTALLMENTS, installment_amounts

__all__ = ["NegotiatedPlan", "Proposal", "negotiate"]

MONTHLY, BIWEEKLY, WEEKLY = "monthly", "biweekly", "weekly"
PERIOD_DAYS = {WEEKLY: 7, BIWEEKLY: 14}
# Periods per year, to move an amount from one periodicity to another.
PER_YEAR = {MONTHLY: 12, BIWEEKLY: 26, WEEKLY: 52}


@dataclass(frozen=True)
class Proposal:
    """The debtor's terms in the debt's minor units (see ``terms.ProposedTerms``)."""

    amount: int | None = None
    periodicity: str | None = None
    count: int | None = None
    down_payment: int | None = None
    down_payment_share: Fraction | None = None
    rest_in_months: int | None = None
    day: int | None = None


@dataclass(frozen=True)
class NegotiatedPlan:
    """A plan inside the rule: ``amounts[i]`` due on ``due_dates[i]``; ``down_payment``
    is ``amounts[0]`` when there is one (else 0). ``adjusted`` names every limit that
    moved the plan away from what was asked (empty: the debtor's own terms)."""

    amounts: tuple[int, ...]
    due_dates: tuple[date, ...]
    periodicity: str
    down_payment: int
    adjusted: tuple[str, ...] = field(default=())

    @property
    def total(self) -> int:
        return sum(self.amounts)

    @property
    def count(self) -> int:
        return len(self.amounts)

    @property
    def as_asked(self) -> bool:
        return not self.adjusted


@dataclass(frozen=True)
class _Limits:
    min_installment: int
    max_count: int
    counts: tuple[int, ...]
    monthly_rate: Decimal
    first_in_days: int
    down_allowed: bool
    down_min_pct: Decimal
    periodicities: tuple[str, ...]
    max_shift: int | None

    @classmethod
    def of(cls, terms: Mapping[str, Any], hardship: bool) -> _Limits:
        counts = [int(c) for c in terms.get("installment_counts") or []]
        if hardship:
            counts += [int(c) for c in terms.get("hardship_installment_counts") or []]
        first = int(terms.get("first_installment_in_days", 30))
        if hardship:
            first += int(terms.get("hardship_pause_days") or 0)
        shift = terms.get("due_day_max_shift_days")
        return cls(
            min_installment=max(1, int(terms.get("min_installment", 1))),
            max_count=min(max(counts, default=0), MAX_INSTALLMENTS),
            counts=tuple(sorted(set(counts))),
            monthly_rate=Decimal(str(terms.get("monthly_interest_pct", "0"))) / 100,
            first_in_days=first,
            down_allowed=bool(terms.get("down_payment_allowed", True)),
            down_min_pct=Decimal(str(terms.get("down_payment_min_pct", "0"))),
            periodicities=tuple(terms.get("periodicities") or (MONTHLY,)),
            max_shift=int(shift) if shift is not None else None,
        )

    def rate(self, periodicity: str) -> Decimal:
        if periodicity == MONTHLY:
            return self.monthly_rate
        scaled = self.monthly_rate * 12 / PER_YEAR[periodicity]
        return scaled.quantize(Decimal("1e-10"))


def _round_half_up(value: Fraction) -> int:
    return int((value + Fraction(1, 2)) // 1)


def _add_months(day: date, months: int, anchor: int | None = None) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    wanted = anchor if anchor is not None else day.day
    return date(year, month + 1, min(wanted, calendar.monthrange(year, month + 1)[1]))


def _fixed_payments(principal: int, amount: int, rate: Decimal, limit: int) -> list[int] | None:
    """Pay ``amount`` a period until ``principal`` (with interest) is paid: the last
    payment is what is left. None when it takes more than ``limit`` payments."""
    remaining = principal
    growth = 1 + Fraction(rate)
    payments: list[int] = []
    while remaining > 0:
        if len(payments) >= limit:
            return None
        remaining = _round_half_up(remaining * growth)
        pay = min(amount, remaining)
        payments.append(pay)
        remaining -= pay
    return payments


def _split(principal: int, count: int, rate: Decimal, minimum: int) -> list[int] | None:
    """``count`` French installments of ``principal``, the largest count <= ``count``
    whose installments all reach ``minimum``."""
    for n in range(count, 0, -1):
        try:
            amounts = installment_amounts(principal, n, rate)
        except ValueError:
            continue
        if min(amounts) >= minimum:
            return amounts
    return None


def _merge_short_last(amounts: list[int], minimum: int) -> list[int]:
    if len(amounts) > 1 and amounts[-1] < minimum:
        return [*amounts[:-2], amounts[-2] + amounts[-1]]
    return amounts


def _first_due(today: date, limits: _Limits, day: int | None, adjusted: list[str]) -> date:
    """The first installment's date: the rule's default, moved to the asked day of the
    month when the rule lets it move that far (else as far as it may)."""
    default = today + timedelta(days=limits.first_in_days)
    if day is None:
        return default
    candidates = [_add_months(default.replace(day=1), offset, anchor=day) for offset in (-1, 0, 1)]
    candidates = [c for c in candidates if c >= today] or [default]
    wanted = min(candidates, key=lambda c: (abs((c - default).days), c))
    if limits.max_shift is None or abs((wanted - default).days) <= limits.max_shift:
        return wanted
    adjusted.append("due_day")
    step = timedelta(days=limits.max_shift)
    return default + step if wanted > default else max(default - step, today)


def _dates(first: date, count: int, periodicity: str, day: int | None) -> list[date]:
    if periodicity == MONTHLY:
        anchor = day if day is not None else first.day
        return [first] + [_add_months(first, k, anchor=anchor) for k in range(1, count)]
    step = timedelta(days=PERIOD_DAYS[periodicity])
    return [first + step * k for k in range(count)]


def _convert(amount: int, source: str, target: str) -> int:
    """An amount per ``source`` period as the same yearly sum per ``target`` period."""
    return _round_half_up(Fraction(amount * PER_YEAR[source], PER_YEAR[target]))


def negotiate(
    balance: int,
    terms: Mapping[str, Any],
    proposal: Proposal,
    today: date,
    *,
    hardship: bool = False,
) -> NegotiatedPlan | None:
    """The plan closest to ``proposal`` that the rule ``terms`` allow for ``balance``
    (minor units), or None when no plan fits at all (balance below two minimum
    installments, a rule without installments)."""
    limits = _Limits.of(terms, hardship)
    minimum = limits.min_installment
    if balance < minimum or limits.max_count < 1:
        return None
    plan = _negotiate(balance, limits, proposal, today)
    # The limits are hard: a plan that would break one is never offered.
    if plan is None or plan.count > limits.max_count or min(plan.amounts) < minimum:
        return None
    return plan


def _negotiate(
    balance: int, limits: _Limits, proposal: Proposal, today: date
) -> NegotiatedPlan | None:
    minimum = limits.min_installment
    adjusted: list[str] = []
    periodicity = proposal.periodicity or MONTHLY
    amount = proposal.amount
    if periodicity not in limits.periodicities:
        adjusted.append("periodicity")
        target = limits.periodicities[0]
        if amount is not None:
            amount = _convert(amount, periodicity, target)
        periodicity = target
    rate = limits.rate(periodicity)
    day = proposal.day if periodicity == MONTHLY else None
    first = _first_due(today, limits, day, adjusted)

    down = 0
    wants_down = proposal.down_payment is not None or proposal.down_payment_share is not None
    if wants_down and not limits.down_allowed:
        adjusted.append("down_payment_not_allowed")
    elif wants_down:
        if proposal.down_payment is not None:
            down = proposal.down_payment
        else:
            down = _round_half_up(balance * (proposal.down_payment_share or Fraction(0)))
        floor = int((Decimal(balance) * limits.down_min_pct / 100).to_integral_value(ROUND_CEILING))
        if down < max(floor, minimum):
            adjusted.append("down_payment_min")
            down = max(floor, minimum)
        if limits.max_count < 2 or balance - down < minimum:
            # No room for a rest: a down payment this large is the whole balance.
            return None

    if down:
        financed = balance - down
        rest_slots = limits.max_count - 1
        if proposal.rest_in_months is not None:
            months = proposal.rest_in_months
            if months > rest_slots:
                adjusted.append("max_installments")
                months = rest_slots
            owed = _round_half_up(financed * (1 + Fraction(limits.monthly_rate)) ** months)
            rest = [owed]
            rest_dates = [_add_months(today, months, anchor=day)]
            periodicity = MONTHLY
        else:
            if amount is None and proposal.count is None:
                # "100 now and the rest later": the rest in one payment.
                proposal = Proposal(count=1, day=proposal.day)
            rest_list = _rest(financed, proposal, amount, rest_slots, rate, minimum, adjusted)
            if rest_list is None:
                return None
            rest = rest_list
            rest_dates = _dates(first, len(rest), periodicity, day)
        return NegotiatedPlan(
            amounts=(down, *rest),
            due_dates=(today, *rest_dates),
            periodicity=periodicity,
            down_payment=down,
            adjusted=tuple(adjusted),
        )

    amounts = _rest(balance, proposal, amount, limits.max_count, rate, minimum, adjusted)
    if amounts is None:
        return None
    if len(amounts) == 1 and 1 not in limits.counts:
        # A single payment is paying in full, not a plan; the smallest plan instead.
        smallest = _split(balance, max(2, min(limits.counts, default=2)), rate, minimum)
        if smallest is None or len(smallest) < 2:
            return None
        adjusted.append("min_installments")
        amounts = smallest
    return NegotiatedPlan(
        amounts=tuple(amounts),
        due_dates=tuple(_dates(first, len(amounts), periodicity, day)),
        periodicity=periodicity,
        down_payment=0,
        adjusted=tuple(adjusted),
    )


def _rest(
    principal: int,
    proposal: Proposal,
    amount: int | None,
    max_count: int,
    rate: Decimal,
    minimum: int,
    adjusted: list[str],
) -> list[int] | None:
    """Installments for ``principal``: at ``amount`` a period, or over ``count``
    installments, within ``max_count`` and ``minimum``."""
    if max_count < 1:
        return None
    if amount is not None:
        if amount < minimum:
            adjusted.append("min_installment")
            amount = minimum
        payments = _fixed_payments(principal, amount, rate, max_count)
        if payments is None:
            adjusted.append("max_installments")
            return _split(principal, max_count, rate, minimum)
        merged = _merge_short_last(payments, minimum)
        if merged != payments:
            adjusted.append("min_installment")
        return merged
    count = proposal.count if proposal.count is not None else max_count
    if count > max_count:
        adjusted.append("max_installments")
        count = max_count
    split = _split(principal, max(count, 1), rate, minimum)
    if split is not None and len(split) < count:
        adjusted.append("min_installment")
    return split
