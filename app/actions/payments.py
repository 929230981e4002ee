"""A payment reported by the processor, applied once: to the plan's installments, to the
debt's balance (with the lump-sum discount a code promised), then what follows — the
debt settled (the lifecycle cascade), stale codes retired, and the debtor thanked."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.actions.lifecycle import DebtChange, change_debt
from app.conversations.promises import keep_paid_promises
from app.creditors.models import Creditor
from app.debts.models import Debt, Debtor
from app.debts.queries import lock_debt
from app.events import record_event
from app.messaging.models import Message
from app.messaging.service import enqueue_message
from app.offers.models import Installment
from app.offers.queries import active_plan, next_installment, plan_installments
from app.offers.service import apply_payment_to_plan
from app.payments import texts
from app.payments.models import Payment, PaymentCode
from app.payments.service import (
    LIVE_CODE_STATUSES,
    PaymentOutcome,
    PaymentReport,
    debt_codes,
    find_code_by_reference,
    find_payment,
    flag_currency_mismatch,
    honours_lump_sum,
    match_status,
    replay,
    set_code_status,
)

logger = logging.getLogger("parley.payments")
ACTOR = "payment"


def receive_payment(session: Session, report: PaymentReport, *, now: datetime) -> PaymentOutcome:
    """Store a reported payment once and apply it.

    Idempotent on `payment_id`: the row is inserted first inside a savepoint; a replay
    (or a concurrent delivery losing the unique-constraint race) changes nothing and
    returns the stored outcome, unless it differs in amount, reference or currency (see
    PaymentOutcome.conflicts). A reference no code has, or a currency other than the
    code's or the debt's, is stored for review and not applied.
    """
    existing = find_payment(session, report.payment_id)
    if existing is not None:
        return replay(session, existing, report, now)
    code = find_code_by_reference(session, report.reference)
    status = match_status(report, code, session.get(Debt, code.debt_id) if code else None)
    payment = Payment(
        payment_id=report.payment_id,
        creditor_id=code.creditor_id if code else None,
        payment_code_id=code.id if code else None,
        debt_id=code.debt_id if code else None,
        reference=report.reference,
        amount=report.amount,
        currency=report.currency,
        paid_at=report.paid_at,
        status=status,
        applied_amount=0,
        excess_amount=0,
        needs_review=status != "applied",
        raw=report.raw,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(payment)
            session.flush()
    except IntegrityError:
        existing = find_payment(session, report.payment_id)
        if existing is None:
            raise
        logger.info("payment delivered twice at once", extra={"payment_id": report.payment_id})
        return replay(session, existing, report, now)
    if code is None:
        # No event: the event log is per creditor, and no creditor is known.
        logger.warning(
            "payment with an unknown reference stored for review",
            extra={"payment_id": report.payment_id},
        )
        return PaymentOutcome(payment, replay=False, debt=None)
    debt = lock_debt(session, code.debt_id)
    session.refresh(code)
    # Decided again under the lock: a re-import may have changed the debt's currency.
    status = match_status(report, code, debt)
    if status != payment.status:
        payment.status = status
        payment.needs_review = status != "applied"
    if status == "currency_mismatch":
        flag_currency_mismatch(session, payment, code, debt, now)
        return PaymentOutcome(payment, replay=False, debt=debt)
    written_off = apply_payment(session, payment, code, debt, now)
    return PaymentOutcome(payment, replay=False, debt=debt, written_off=written_off)


def apply_payment(
    session: Session, payment: Payment, code: PaymentCode, debt: Debt, now: datetime
) -> int:
    """Apply a matched payment to its debt (and plan); returns the discount written off."""
    debtor = session.get(Debtor, debt.debtor_id)
    assert debtor is not None
    honour_lump_sum = honours_lump_sum(code, payment, debtor)
    balance_before = debt.balance
    applied = min(payment.amount, debt.balance)
    excess = payment.amount - applied
    if applied > 0 and active_plan(session, debt.id) is not None:
        # Installments take the payment first for the code's own, then in order.
        apply_payment_to_plan(
            session, debt, applied, first_installment_id=code.installment_id, now=now, actor=ACTOR
        )
    debt.balance -= applied
    payment.applied_amount = applied
    payment.excess_amount = excess
    record_event(
        session,
        creditor_id=debt.creditor_id,
        actor=ACTOR,
        kind="payment.applied",
        now=now,
        debt_id=debt.id,
        debtor_id=debt.debtor_id,
        to_value=payment.payment_id,
        data={
            "payment_code_id": code.id,
            "reference": code.reference,
            "amount": payment.amount,
            "applied": applied,
            "excess": excess,
            "paid_at": payment.paid_at.isoformat(),
        },
    )
    written_off = 0
    if honour_lump_sum and debt.balance > 0:
        # At most the discount the code was issued with; anything more stays owed.
        written_off = min(code.discount, debt.balance)
        debt.balance -= written_off
        record_event(
            session,
            creditor_id=debt.creditor_id,
            actor=ACTOR,
            kind="debt.write_off",
            now=now,
            debt_id=debt.id,
            debtor_id=debt.debtor_id,
            to_value=written_off,
            data={
                "reason": "lump-sum discount",
                "payment_id": payment.payment_id,
                "payment_code_id": code.id,
                "rule_version_id": code.rule_version_id,
            },
        )
    if debt.balance != balance_before:
        record_event(
            session,
            creditor_id=debt.creditor_id,
            actor=ACTOR,
            kind="debt.balance",
            now=now,
            debt_id=debt.id,
            debtor_id=debt.debtor_id,
            from_value=balance_before,
            to_value=debt.balance,
            data={"payment_id": payment.payment_id},
        )
    if excess > 0:
        payment.needs_review = True
        debt.needs_review = True
        record_event(
            session,
            creditor_id=debt.creditor_id,
            actor=ACTOR,
            kind="payment.excess",
            now=now,
            debt_id=debt.id,
            debtor_id=debt.debtor_id,
            to_value=excess,
            data={"payment_id": payment.payment_id, "reason": "paid more than the balance"},
        )
    debt.updated_at = now
    if payment.amount >= code.amount or honour_lump_sum:
        set_code_status(session, code, "paid", now=now)
    if debt.balance == 0:
        change_debt(
            session, debt, DebtChange.SETTLED, now=now, actor=ACTOR, reason="debt paid in full"
        )
    else:
        _retire_stale_codes(session, debt, now)
        if debt.balance < balance_before:
            keep_paid_promises(session, debt, now=now, actor=ACTOR)
    if applied > 0:
        _thank(session, debt, debtor, payment, now)
    return written_off


def _retire_stale_codes(session: Session, debt: Debt, now: datetime) -> None:
    """After a payment, codes that ask for an amount no longer owed are superseded (the
    next PAY issues the right one); codes of installments now paid are paid."""
    installments: dict[str, Installment] = {}
    plan = active_plan(session, debt.id)
    if plan is not None:
        installments = {i.id: i for i in plan_installments(session, plan.id)}
    for code in debt_codes(session, debt.id, LIVE_CODE_STATUSES):
        if code.kind == "installment":
            installment = installments.get(code.installment_id or "")
            if installment is None or installment.status == "canceled":
                set_code_status(session, code, "canceled", now=now)
            elif installment.status == "paid":
                set_code_status(session, code, "paid", now=now)
            elif installment.outstanding != code.amount:
                set_code_status(session, code, "superseded", now=now)
        elif code.kind == "balance" and code.amount != debt.balance:
            set_code_status(session, code, "superseded", now=now)
        elif code.kind == "lump_sum":
            # Its discount was computed on the balance before this payment.
            set_code_status(session, code, "superseded", now=now)


def _thank(
    session: Session, debt: Debt, debtor: Debtor, payment: Payment, now: datetime
) -> Message:
    creditor = session.get(Creditor, debt.creditor_id)
    assert creditor is not None
    body = texts.thanks_text(
        creditor_name=creditor.name,
        language=debtor.language,
        paid=payment.amount,
        currency=debt.currency,
        balance=debt.balance,
        next_installment=next_installment(session, debt.id) if debt.balance > 0 else None,
    )
    # Caused by the debtor's own payment, so not capped; but a payment can be reported at
    # any hour, so the thanks waits for the debtor's contact window.
    return enqueue_message(
        session,
        creditor=creditor,
        debtor=debtor,
        debt=debt,
        body=body,
        kind="payment_thanks",
        now=now,
        actor=ACTOR,
        initiated=False,
        is_reply=False,
    )
