"""Debts in and out of collection from the API, the CSV import, the CLI and the console:
imports whose re-imports run the lifecycle cascade, statements, and a person's review."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from app.actions.lifecycle import DebtChange, change_debt
from app.creditors.models import Creditor
from app.debts.models import Debt, Debtor, DebtStatus
from app.debts.service import (
    COLLECTIBLE,
    ImportSummary,
    ReimportChange,
    RowOutcome,
    import_csv,
    import_rows,
    statement_text,
)
from app.errors import Conflict
from app.events import record_event
from app.messaging.models import Message
from app.messaging.service import enqueue_message
from app.offers.queries import active_plan

REIMPORT_CHANGES: dict[ReimportChange, DebtChange] = {
    "moved": DebtChange.MOVED,
    "repriced": DebtChange.REPRICED,
    "settled": DebtChange.SETTLED,
}
REIMPORT_REASONS: dict[ReimportChange, str] = {
    "moved": "debt moved to another debtor",
    "repriced": "debt re-imported",
    "settled": "re-imported amount already paid",
}


def on_reimport(
    session: Session, debt: Debt, change: ReimportChange, now: datetime, actor: str
) -> None:
    """What a re-import's change to a debt sets off (the lifecycle cascade)."""
    change_debt(
        session,
        debt,
        REIMPORT_CHANGES[change],
        now=now,
        actor=actor,
        reason=REIMPORT_REASONS[change],
    )


def import_debts(
    session: Session,
    creditor: Creditor,
    rows: Iterable[Mapping[str, Any]],
    *,
    now: datetime,
    actor: str,
) -> Iterator[RowOutcome]:
    """Import rows (JSON API, demo): one outcome per row, in input order."""
    return import_rows(session, creditor, rows, now=now, actor=actor, on_reimport=on_reimport)


def import_debts_csv(
    session: Session,
    creditor_id: str,
    stream: IO[str],
    *,
    now: datetime,
    actor: str,
    progress: Callable[[ImportSummary], None] | None = None,
    checkpoint: Callable[[], None] | None = None,
) -> ImportSummary:
    """Import a CSV file (API, CLI, console) chunk by chunk; `checkpoint` (a commit)
    after every chunk when given (see debts.service.import_csv)."""
    return import_csv(
        session,
        creditor_id,
        stream,
        now=now,
        actor=actor,
        on_reimport=on_reimport,
        progress=progress,
        checkpoint=checkpoint,
    )


def queue_statement(
    session: Session,
    creditor: Creditor,
    debt: Debt,
    *,
    now: datetime,
    actor: str,
    is_reply: bool = False,
) -> Message:
    """Queue a statement of `debt`; the contact governor decides when it goes out."""
    debtor = session.get(Debtor, debt.debtor_id)
    assert debtor is not None
    if debt.status not in COLLECTIBLE and not is_reply:
        raise Conflict(f"debt is {debt.status}; no statement is sent", field="status")
    if debt.balance <= 0:
        raise Conflict("nothing is due on this debt", field="balance")
    if debtor.contact_status != "active":
        raise Conflict(f"the debtor's number is {debtor.contact_status}", field="debtor")
    today = now.astimezone(ZoneInfo(debtor.timezone)).date()
    return enqueue_message(
        session,
        creditor=creditor,
        debtor=debtor,
        debt=debt,
        body=statement_text(creditor, debt, debtor, today),
        kind="statement",
        now=now,
        actor=actor,
        initiated=not is_reply,
        is_reply=is_reply,
    )


# A person may move a debt from (keys) to (values) by review.
REVIEW_MOVES: dict[str, set[str]] = {
    "closed": {"paused", "disputed", "open", "in_plan"},
    "open": {"paused", "disputed", "closed"},
}


def review_debt(
    session: Session,
    debt: Debt,
    *,
    status: str | None,
    needs_review: bool | None,
    note: str | None,
    now: datetime,
    actor: str,
) -> Debt:
    """A person's decision on a flagged debt: resume collection ("open": back to its plan
    if one runs), close it, and/or clear the review flag."""
    if status is not None and status != debt.status:
        if debt.status not in REVIEW_MOVES.get(status, set()):
            raise Conflict(f"a {debt.status} debt cannot become {status}", field="status")
        if status == "open" and debt.balance <= 0:
            raise Conflict("nothing is due on this debt", field="status")
        if status == "closed":
            change_debt(session, debt, DebtChange.CLOSED, now=now, actor=actor, note=note)
        else:
            target: DebtStatus = "in_plan" if active_plan(session, debt.id) else "open"
            change_debt(
                session, debt, DebtChange.RESUMED, now=now, actor=actor, status=target, note=note
            )
    if needs_review is not None and needs_review != debt.needs_review:
        record_event(
            session,
            creditor_id=debt.creditor_id,
            actor=actor,
            kind="debt.needs_review",
            now=now,
            debt_id=debt.id,
            debtor_id=debt.debtor_id,
            from_value=debt.needs_review,
            to_value=needs_review,
            data={"note": note} if note else None,
        )
        debt.needs_review = needs_review
    debt.updated_at = now
    return debt
