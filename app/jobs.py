"""The shape of a periodic job: every worker tick runs each job in its own transaction
with the current time and the settings (reminders, plan checks, cadence...)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from app.config import Settings

PeriodicJob = Callable[[Session, datetime, Settings], None]
