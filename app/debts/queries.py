"""Read-only look-ups of debts that other domains and the actions layer may use."""

from __future__ import annotations

from collections.abc import Collection, Hashable
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.creditors.models import Creditor
from app.debts.models import Debt

# Debt search lives in app.debts.search; other domains reach it here.
from app.debts.search import DebtSearch, search_debts, search_query
from app.errors import NotFound
from app.read_ahead import MISSING, recall, remember

__all__ = [
    "DebtSearch",
    "get_debt",
    "hold_debt",
    "lock_debt",
    "lock_debts_of_debtors",
    "search_debts",
    "search_query",
]


def get_debt(session: Session, creditor: Creditor, debt_id: str) -> Debt:
    """A debt of this creditor (404 for anyone else's, so ids leak nothing)."""
    debt = session.get(Debt, debt_id)
    if debt is None or debt.creditor_id != creditor.id:
        raise NotFound("debt not found", field="id")
    return debt


def lock_debts_of_debtors(
    session: Session, debtor_ids: Collection[str], statuses: Collection[str]
) -> list[Debt]:
    """The debts of `debtor_ids` whose status is one of `statuses`, locked as lock_debt
    locks them, in one statement (taken in id order, the status read under the lock):
    lock_debt and hold_debt then cost nothing for them for the rest of the transaction
    (until this session writes to one, see app.read_ahead)."""
    if not debtor_ids:
        return []
    rows: list[Debt] = list(
        session.scalars(
            select(Debt)
            .where(Debt.debtor_id.in_(sorted(set(debtor_ids))), Debt.status.in_(sorted(statuses)))
            .order_by(Debt.id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )
    )
    answers: dict[Hashable, Any] = {debt.id: debt for debt in rows}
    remember(session, "debts", "id", answers)
    return rows


def hold_debt(session: Session, debt_id: str) -> None:
    """Hold the debt's lock (as lock_debt) for the rest of the transaction, without
    re-reading it."""
    if recall(session, "debts", debt_id) is not MISSING:
        return
    session.execute(select(Debt.id).where(Debt.id == debt_id).with_for_update(key_share=True))


def lock_debt(session: Session, debt_id: str) -> Debt:
    """The debt, locked for the rest of the transaction and re-read under the lock (the
    session's copy is refreshed too, so nothing computed afterwards sees a stale
    balance)."""
    known = recall(session, "debts", debt_id)
    if known is not MISSING:
        return cast(Debt, known)  # locked and read by lock_debts_of_debtors in this transaction
    # FOR NO KEY UPDATE: serialises payments of one debt without conflicting with the
    # key-share locks that inserting rows referencing the debt takes (no deadlock
    # between two payments that each inserted their row first).
    return session.execute(
        select(Debt)
        .where(Debt.id == debt_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).scalar_one()


# Events whose values say nothing about money.
NON_MONEY_EVENTS = frozenset(
    {
        "debt.status",
        "debt.needs_review",
        "debt.escalated",
        "debtor.language",
        "debtor.contact_status",
        "conversation.handled",
        "conversation.flagged",
        "messages.canceled",
        "promise.status",
        "plan.status",
    }
)
NON_MONEY_EVENT_PREFIXES = ("callback.", "message.")


def event_shows_values(kind: str, amounts: bool) -> bool:
    """Whether an event of `kind` may show its values to someone who may (`amounts`) or
    may not see money (agents see statuses, not amounts)."""
    return amounts or kind in NON_MONEY_EVENTS or kind.startswith(NON_MONEY_EVENT_PREFIXES)
