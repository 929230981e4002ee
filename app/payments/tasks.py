"""Scheduled payment work: keeping payment-code statuses true to the calendar and to
the debts and installments they ask for."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.config import Settings
from app.jobs import PeriodicJob
from app.payments.service import reconcile_codes


def expire_payment_codes(session: Session, now: datetime, settings: Settings) -> None:
    """Expire codes past their date and retire those of paid installments or settled
    debts, so payment pages and the API show what can still be paid."""
    reconcile_codes(session, now)


JOBS: list[PeriodicJob] = [expire_payment_codes]
