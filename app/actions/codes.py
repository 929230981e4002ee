"""The payment code for what a debt asks now (offers decide the terms, payments issue)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.creditors.models import Creditor
from app.debts.models import Debt
from app.debts.queries import lock_debt
from app.offers.service import pay_terms
from app.payments.models import PaymentCode
from app.payments.service import issue_code


def issue_current_code(
    session: Session, creditor: Creditor, debt: Debt, now: datetime
) -> PaymentCode | None:
    """What PAY asks for: the code for the debt's current terms, worked out after taking
    the debt's lock and re-reading it, so a PAY racing a payment never asks for the
    pre-payment amount. None when nothing is due. (`debt` is refreshed in place.)"""
    locked = lock_debt(session, debt.id)
    terms = pay_terms(session, locked, now)
    if terms is None:
        return None
    return issue_code(session, creditor, locked, terms, now)
