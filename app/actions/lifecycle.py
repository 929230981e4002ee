"""What follows when a debt leaves or pauses collection, or a number is blocked or
unblocked: one decision table each, and one function each that runs the whole cascade.

Every entry point (the API, a reply, a Twilio error on a send or in a status callback,
a payment, a re-import, a periodic job, the console) calls `change_debt` or
`change_number`; none cancels texts, calls, promises, plans or codes on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.callbacks.service import cancel_callbacks_for
from app.conversations.promises import close_open_promises
from app.conversations.service import (
    close_menus_about,
    find_conversation,
    flag_conversation,
)
from app.debts.models import ContactStatus, Debt, Debtor, DebtStatus
from app.events import record_event, set_debt_status
from app.messaging.service import (
    cancel_pending_messages,
    clear_opt_out,
    contact_status_for_error,
    record_opt_out,
    set_contact_status,
)
from app.offers.queries import active_plan
from app.offers.service import end_plan
from app.payments.service import set_live_codes_status

# The actor of changes the debtor caused by their own words.
DEBTOR = "debtor"


class DebtChange(StrEnum):
    """The ways a debt leaves, pauses or re-enters collection."""

    SETTLED = "settled"  # nothing is owed any more: a payment, a write-off, a re-import
    CLOSED = "closed"  # a person closed it (written off, withdrawn, sent elsewhere)
    DISPUTED = "disputed"  # the debtor disputes it; a person reviews
    PAUSED = "paused"  # the debtor says it is paid; a person checks
    RESUMED = "resumed"  # a person resumed a paused or disputed debt
    PLAN_AGREED = "plan_agreed"  # the debtor chose a plan
    PLAN_BROKEN = "plan_broken"  # installments stayed unpaid past the break period
    MOVED = "moved"  # a re-import gave it to another number: the old one is done with it
    REPRICED = "repriced"  # a re-import changed its amount or currency


Outbox = Literal["all", "initiated", "statements", "none"]
Promises = Literal["kept_or_canceled", "canceled", "keep"]
PlanFate = Literal["cancel", "break", "keep"]
Codes = Literal["canceled", "superseded", "keep"]


@dataclass(frozen=True)
class DebtCascade:
    """What one DebtChange does, in order: the debt's status, then what waits for it."""

    status: DebtStatus | None  # the debt's new status (None: unchanged; RESUMED decides)
    outbox: Outbox  # pending texts about the debt to cancel
    callbacks: bool  # cancel booked or claimed calls about the debt
    promises: Promises  # what becomes of open promises
    plan: PlanFate  # what becomes of a running plan
    codes: Codes  # what becomes of live payment codes
    menus: bool  # close menus about the debt (their options no longer hold)
    needs_review: bool | None  # set or clear the debt's review flag (None: leave it)
    flag: str | None  # when the debtor caused it, the human queue, with this reason


# The one decision table. A test drives every entry point through each row and checks
# the same end state (tests/actions/test_lifecycle.py).
DEBT_CASCADES: dict[DebtChange, DebtCascade] = {
    DebtChange.SETTLED: DebtCascade(
        status="settled",
        outbox="all",
        callbacks=True,
        promises="kept_or_canceled",
        plan="cancel",
        codes="canceled",
        menus=True,
        needs_review=None,
        flag=None,
    ),
    DebtChange.CLOSED: DebtCascade(
        status="closed",
        outbox="all",
        callbacks=True,
        promises="canceled",
        plan="cancel",
        codes="canceled",
        menus=True,
        needs_review=False,
        flag=None,
    ),
    # Collection stops while a person reviews: nothing Parley initiates goes out and the
    # calls booked to collect are canceled, but the debtor may still ask for a call
    # about the dispute and is answered truthfully ("under review").
    DebtChange.DISPUTED: DebtCascade(
        status="disputed",
        outbox="initiated",
        callbacks=True,
        promises="canceled",
        plan="keep",
        codes="keep",
        menus=True,
        needs_review=True,
        flag="debtor disputes the debt",
    ),
    DebtChange.PAUSED: DebtCascade(
        status="paused",
        outbox="initiated",
        callbacks=False,
        promises="keep",
        plan="keep",
        codes="keep",
        menus=True,
        needs_review=True,
        flag="debtor says it is already paid",
    ),
    DebtChange.RESUMED: DebtCascade(
        status=None,
        outbox="none",
        callbacks=False,
        promises="keep",
        plan="keep",
        codes="keep",
        menus=False,
        needs_review=None,
        flag=None,
    ),
    DebtChange.PLAN_AGREED: DebtCascade(
        status="in_plan",
        outbox="statements",
        callbacks=False,
        promises="canceled",
        plan="keep",
        codes="superseded",
        menus=True,
        needs_review=None,
        flag=None,
    ),
    DebtChange.PLAN_BROKEN: DebtCascade(
        status="open",
        outbox="none",
        callbacks=False,
        promises="keep",
        plan="break",
        codes="canceled",
        menus=True,
        needs_review=None,
        flag=None,
    ),
    DebtChange.MOVED: DebtCascade(
        status=None,
        outbox="all",
        callbacks=True,
        promises="canceled",
        plan="keep",
        codes="keep",
        menus=True,
        needs_review=None,
        flag=None,
    ),
    # A plan menu of the old amount stays: choosing from it re-offers fresh options.
    DebtChange.REPRICED: DebtCascade(
        status=None,
        outbox="none",
        callbacks=False,
        promises="keep",
        plan="keep",
        codes="superseded",
        menus=False,
        needs_review=None,
        flag=None,
    ),
}

REASONS: dict[DebtChange, str] = {
    DebtChange.SETTLED: "debt settled",
    DebtChange.CLOSED: "debt closed",
    DebtChange.DISPUTED: "debt disputed",
    DebtChange.PAUSED: "debt paused",
    DebtChange.RESUMED: "debt resumed",
    DebtChange.PLAN_AGREED: "plan agreed",
    DebtChange.PLAN_BROKEN: "plan broken",
    DebtChange.MOVED: "debt moved to another debtor",
    DebtChange.REPRICED: "debt re-imported",
}


def change_debt(
    session: Session,
    debt: Debt,
    change: DebtChange,
    *,
    now: datetime,
    actor: str,
    reason: str | None = None,
    status: DebtStatus | None = None,
    note: str | None = None,
) -> None:
    """Run the cascade of `change` for `debt` (DEBT_CASCADES), each step with its
    event. `status` is only for RESUMED (open, or in_plan when a plan still runs)."""
    cascade = DEBT_CASCADES[change]
    why = reason or REASONS[change]
    target = status if change is DebtChange.RESUMED else cascade.status
    if target is not None:
        data: dict[str, object] = {"reason": why}
        if note:
            data["note"] = note
        set_debt_status(session, debt, target, now=now, actor=actor, data=data)
    if cascade.outbox != "none":
        cancel_pending_messages(
            session,
            now=now,
            actor=actor,
            reason=why,
            debt_id=debt.id,
            initiated_only=cascade.outbox == "initiated",
            kinds=("statement",) if cascade.outbox == "statements" else None,
        )
    if cascade.callbacks:
        cancel_callbacks_for(session, debt_id=debt.id, now=now, actor=actor, reason=why)
    if cascade.promises != "keep":
        close_open_promises(
            session,
            debt,
            kept_when_paid=cascade.promises == "kept_or_canceled",
            now=now,
            actor=actor,
            reason=why,
        )
    if cascade.plan != "keep":
        plan = active_plan(session, debt.id)
        if plan is not None:
            end_plan(
                session,
                plan,
                "canceled" if cascade.plan == "cancel" else "broken",
                now=now,
                actor=actor,
                reason=why,
            )
    if cascade.codes != "keep":
        set_live_codes_status(session, debt, cascade.codes, now=now, reason=why)
    if cascade.menus:
        close_menus_about(session, debt.id)
    if cascade.needs_review is not None and debt.needs_review != cascade.needs_review:
        record_event(
            session,
            creditor_id=debt.creditor_id,
            actor=actor,
            kind="debt.needs_review",
            now=now,
            debt_id=debt.id,
            debtor_id=debt.debtor_id,
            from_value=debt.needs_review,
            to_value=cascade.needs_review,
            data={"reason": why},
        )
        debt.needs_review = cascade.needs_review
    if cascade.flag is not None and actor == DEBTOR:
        # What the debtor said needs a person; a person's own pause does not.
        conversation = find_conversation(session, debt.debtor_id)
        if conversation is not None:
            flag_conversation(
                session, conversation, cascade.flag, now=now, actor=actor, debt_id=debt.id
            )
    debt.updated_at = now


# ---------------------------------------------------------------- number status


class NumberChange(StrEnum):
    """The ways a number stops (or starts again) receiving texts."""

    OPTED_OUT = "opted_out"  # STOP (or its words), or Twilio 21610 on a send
    OPTED_IN = "opted_in"  # START
    WRONG_NUMBER = "wrong_number"  # whoever answers is not the debtor
    INVALID = "invalid"  # Twilio says the number cannot receive texts (21211, 21614...)


Scope = Literal["number", "debtor"]


@dataclass(frozen=True)
class NumberCascade:
    """What one NumberChange does."""

    contact_status: ContactStatus  # the debtors' new contact status
    scope: Scope  # every creditor's debtor with the number, or only the one texted
    from_statuses: tuple[str, ...]  # which current statuses it replaces
    keep_kinds: tuple[str, ...]  # pending texts that still go (the one confirmation)
    callbacks: bool  # cancel their booked or claimed calls
    menus: bool  # close their menus
    flag: str | None  # put the conversation in the human queue
    opt_out_ledger: Literal["record", "clear", "none"]


NUMBER_CASCADES: dict[NumberChange, NumberCascade] = {
    # An opt-out is about the number, for every creditor that texts it, until START.
    NumberChange.OPTED_OUT: NumberCascade(
        contact_status="opted_out",
        scope="number",
        from_statuses=("active",),
        keep_kinds=("opt_out_confirmation",),
        callbacks=True,
        menus=True,
        flag=None,
        opt_out_ledger="record",
    ),
    NumberChange.OPTED_IN: NumberCascade(
        contact_status="active",
        scope="number",
        from_statuses=("opted_out",),
        keep_kinds=(),
        callbacks=False,
        menus=False,
        flag=None,
        opt_out_ledger="clear",
    ),
    # Whoever has the number is not this debtor: this creditor's debtor row only (another
    # creditor's debtor with the same number may be right).
    NumberChange.WRONG_NUMBER: NumberCascade(
        contact_status="wrong_number",
        scope="debtor",
        from_statuses=("active", "opted_out", "invalid"),
        keep_kinds=("wrong_number_ack",),
        callbacks=True,
        menus=True,
        flag="wrong number: find the debtor's right number",
        opt_out_ledger="none",
    ),
    NumberChange.INVALID: NumberCascade(
        contact_status="invalid",
        scope="number",
        from_statuses=("active",),
        keep_kinds=(),
        callbacks=True,
        menus=True,
        flag="the number cannot receive texts: find the debtor's right number",
        opt_out_ledger="none",
    ),
}


NUMBER_REASONS: dict[NumberChange, str] = {
    NumberChange.OPTED_OUT: "debtor opted out",
    NumberChange.OPTED_IN: "debtor opted in",
    NumberChange.WRONG_NUMBER: "wrong number",
    NumberChange.INVALID: "number cannot receive texts",
}


def change_number(
    session: Session,
    debtor: Debtor,
    change: NumberChange,
    *,
    now: datetime,
    actor: str,
    reason: str,
    source_message_id: str | None = None,
) -> list[Debtor]:
    """Run the cascade of `change` for the debtor's number (NUMBER_CASCADES); `reason`
    (e.g. the words of the reply, the provider's error) goes on the status change.
    Returns the debtor rows whose contact status changed."""
    cascade = NUMBER_CASCADES[change]
    why = NUMBER_REASONS[change]
    if cascade.opt_out_ledger == "record":
        record_opt_out(session, debtor.phone, now=now, source_message_id=source_message_id)
    elif cascade.opt_out_ledger == "clear":
        clear_opt_out(session, debtor.phone)
    if cascade.scope == "number":
        debtors = list(
            session.scalars(select(Debtor).where(Debtor.phone == debtor.phone).order_by(Debtor.id))
        )
    else:
        debtors = [debtor]
    changed: list[Debtor] = []
    for row in debtors:
        if row.contact_status not in cascade.from_statuses:
            continue
        set_contact_status(
            session, row, cascade.contact_status, now=now, actor=actor, reason=reason
        )
        changed.append(row)
        if cascade.contact_status != "active":
            cancel_pending_messages(
                session,
                now=now,
                actor=actor,
                reason=f"number became {cascade.contact_status}",
                debtor_id=row.id,
                except_kinds=cascade.keep_kinds,
                held_reason=cascade.contact_status,
            )
        if cascade.callbacks:
            cancel_callbacks_for(session, debtor_id=row.id, now=now, actor=actor, reason=why)
        conversation = find_conversation(session, row.id)
        if conversation is not None:
            if cascade.menus:
                conversation.close_menu()
            if cascade.flag is not None:
                flag_conversation(session, conversation, cascade.flag, now=now, actor=actor)
    return changed


def number_change_for_error(code: int | None) -> NumberChange | None:
    """What a provider error code says about the number, if anything."""
    status = contact_status_for_error(code)
    if status == "opted_out":
        return NumberChange.OPTED_OUT
    if status == "invalid":
        return NumberChange.INVALID
    return None
