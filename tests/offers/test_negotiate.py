"""Property tests: whatever a debtor proposes, a negotiated plan stays inside every limit
of the rule (app/offers/negotiate.py)."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from app.offers.negotiate import MONTHLY, Proposal, negotiate
from app.offers.schedule import installment_amounts

PERIODS = ("monthly", "biweekly", "weekly")

rules = st.fixed_dictionaries(
    {
        "installment_counts": st.lists(st.integers(1, 60), min_size=1, max_size=5, unique=True).map(
            sorted
        ),
        "monthly_interest_pct": st.sampled_from(["0", "1.5", "2.99", "0.5"]),
        "min_installment": st.integers(1, 50_000),
        "first_installment_in_days": st.integers(0, 60),
        "down_payment_allowed": st.booleans(),
        "down_payment_min_pct": st.sampled_from(["0", "10", "25", "50"]),
        "periodicities": st.lists(st.sampled_from(PERIODS), min_size=1, unique=True),
        "due_day_max_shift_days": st.one_of(st.none(), st.integers(0, 40)),
        "hardship_installment_counts": st.one_of(
            st.none(), st.lists(st.integers(1, 60), max_size=3, unique=True)
        ),
        "hardship_pause_days": st.integers(0, 60),
    }
)
proposals = st.builds(
    Proposal,
    amount=st.one_of(st.none(), st.integers(1, 2_000_000)),
    periodicity=st.one_of(st.none(), st.sampled_from(PERIODS)),
    count=st.one_of(st.none(), st.integers(1, 99)),
    down_payment=st.one_of(st.none(), st.integers(1, 5_000_000)),
    down_payment_share=st.one_of(
        st.none(), st.fractions(min_value=Fraction(1, 100), max_value=Fraction(99, 100))
    ),
    rest_in_months=st.one_of(st.none(), st.integers(1, 24)),
    day=st.one_of(st.none(), st.integers(1, 31)),
)


@settings(max_examples=400, deadline=None)
@given(
    balance=st.integers(1, 5_000_000),
    terms=rules,
    proposal=proposals,
    today=st.dates(date(2025, 1, 1), date(2030, 12, 31)),
    hardship=st.booleans(),
)
def test_a_negotiated_plan_never_breaks_a_limit(
    balance: int, terms: dict[str, Any], proposal: Proposal, today: date, hardship: bool
) -> None:
    plan = negotiate(balance, terms, proposal, today, hardship=hardship)
    if plan is None:
        return
    counts = list(terms["installment_counts"])
    if hardship:
        counts += terms["hardship_installment_counts"] or []
    assert all(a >= terms["min_installment"] for a in plan.amounts)
    assert 1 <= plan.count <= max(counts)
    assert len(plan.due_dates) == plan.count
    assert list(plan.due_dates) == sorted(plan.due_dates)
    assert plan.due_dates[0] >= today
    # Never less than the balance; exactly it without interest.
    assert plan.total >= balance
    if Decimal(terms["monthly_interest_pct"]) == 0:
        assert plan.total == balance
    assert plan.periodicity in terms["periodicities"] or plan.down_payment
    if plan.down_payment:
        assert terms["down_payment_allowed"]
        assert plan.amounts[0] == plan.down_payment
        assert plan.down_payment * 100 >= balance * Decimal(terms["down_payment_min_pct"])
    # The first due date moves at most as far as the rule allows.
    shift = terms["due_day_max_shift_days"]
    if shift is not None and not plan.down_payment:
        default = today + timedelta(
            days=terms["first_installment_in_days"]
            + (terms["hardship_pause_days"] if hardship else 0)
        )
        assert abs((plan.due_dates[0] - default).days) <= shift
    # All installments but the last are the same amount (a summary can say "n x").
    regular = plan.amounts[1:-1] if plan.down_payment else plan.amounts[:-1]
    assert len(set(regular)) <= 1


@settings(max_examples=200, deadline=None)
@given(
    balance=st.integers(10_000, 1_000_000),
    count=st.integers(2, 12),
    day=st.integers(1, 31),
    today=st.dates(date(2025, 1, 1), date(2030, 12, 31)),
)
def test_own_terms_that_fit_are_kept_with_due_dates_on_the_day(
    balance: int, count: int, day: int, today: date
) -> None:
    terms = {
        "installment_counts": [3, 6, 12],
        "monthly_interest_pct": "0",
        "min_installment": 100,
        "first_installment_in_days": 30,
    }
    plan = negotiate(balance, terms, Proposal(count=count, day=day), today)
    assert plan is not None and plan.as_asked
    assert list(plan.amounts) == installment_amounts(balance, count, Decimal(0))
    for due in plan.due_dates:
        # Month-end clamped: the 31st is the 30th in April, the 28th/29th in February.
        assert due.day == min(day, calendar.monthrange(due.year, due.month)[1])
    assert plan.periodicity == MONTHLY
