"""A plan in a few words for an SMS, showing every amount the debtor will pay: an
uneven last installment and a down payment are said, never hidden behind "6 x"."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from app.money import format_money
from app.texts import format_local_date, render


def _run(
    amounts: Sequence[int],
    due_dates: Sequence[date],
    periodicity: str,
    currency: str,
    language: str,
) -> str:
    first = format_local_date(due_dates[0], language)
    money = [format_money(a, currency, language) for a in amounts]
    if len(amounts) == 1:
        return render("summary_single", language, amount=money[0], first=first)
    period = render(f"period_{periodicity}", language)
    if all(a == amounts[0] for a in amounts):
        return render(
            "summary_even",
            language,
            count=len(amounts),
            amount=money[0],
            period=period,
            first=first,
        )
    return render(
        "summary_uneven",
        language,
        count=len(amounts) - 1,
        amount=money[0],
        last=money[-1],
        period=period,
        first=first,
    )


def plan_summary(
    amounts: Sequence[int],
    due_dates: Sequence[date],
    *,
    periodicity: str,
    down_payment: int,
    currency: str,
    language: str,
) -> str:
    """E.g. "5 x $41.83 + a last one of $41.85 monthly from Dec 25, 2026" or
    "$125.50 today, then $125.50 on Jan 25, 2027". The regular installments must all be
    equal but the last (as every plan here makes them)."""
    if not amounts or len(amounts) != len(due_dates):
        raise ValueError("a plan summary needs one due date per amount")
    if down_payment and len(amounts) > 1:
        rest = _run(amounts[1:], due_dates[1:], periodicity, currency, language)
        return render(
            "summary_down", language, down=format_money(down_payment, currency, language), rest=rest
        )
    return _run(amounts, due_dates, periodicity, currency, language)
