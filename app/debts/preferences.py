"""A debtor's own contact preference ("only in the evening", "not on weekends"), kept on
the debtor and shown by the API as `contact_window`."""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy.orm import Session

from app.debts.models import Debtor
from app.events import record_event


def contact_window(debtor: Debtor) -> dict[str, object] | None:
    """The preference as the API shows it, or None when the debtor stated none."""
    if debtor.contact_window_start is None and not debtor.contact_weekdays_only:
        return None
    return {
        "start": debtor.contact_window_start,
        "end": debtor.contact_window_end,
        "weekdays_only": debtor.contact_weekdays_only,
    }


def set_contact_preference(
    session: Session,
    debtor: Debtor,
    *,
    start: time | None,
    end: time | None,
    weekdays_only: bool,
    now: datetime,
    actor: str,
) -> None:
    """Replace the debtor's stated window (local HH:MM) and weekday restriction; a new
    statement keeps what it does not mention (a later "not on weekends" keeps "evenings")."""
    before = contact_window(debtor)
    if start is not None and end is not None:
        debtor.contact_window_start = start.strftime("%H:%M")
        debtor.contact_window_end = end.strftime("%H:%M")
    if weekdays_only:
        debtor.contact_weekdays_only = True
    debtor.updated_at = now
    record_event(
        session,
        creditor_id=debtor.creditor_id,
        actor=actor,
        kind="debtor.contact_window",
        now=now,
        debtor_id=debtor.id,
        from_value=before,
        to_value=contact_window(debtor),
    )
