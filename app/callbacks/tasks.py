"""Scheduled callback work: reminders before each booked call."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.callbacks.service import send_due_reminders
from app.config import Settings
from app.worker import PeriodicJob


def callback_reminders(session: Session, now: datetime, settings: Settings) -> None:
    """Queue the reminder texts whose time has come (the contact rules still decide)."""
    send_due_reminders(session, now)


JOBS: list[PeriodicJob] = [callback_reminders]
