"""The consent ledger: how and when consent to text a number was recorded, every
revocation in the debtor's exact words and channel, and the one confirmation sent."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.consent.models import ConsentEntry
from app.creditors.models import Creditor
from app.debts.models import Debtor

LEDGER_COLUMNS = (
    "recorded_at",
    "phone",
    "event",
    "channel",
    "words",
    "effective_at",
    "source",
    "message_id",
    "confirmation_message_id",
    "actor",
)


def record_consent(
    session: Session,
    *,
    phone: str,
    creditor_id: str,
    channel: str,
    how: str | None,
    now: datetime,
    actor: str,
    effective_at: datetime | None = None,
) -> ConsentEntry:
    """Note how and when the creditor got consent to text `phone`."""
    entry = ConsentEntry(
        phone=phone,
        creditor_id=creditor_id,
        event="consent",
        channel=channel,
        words=how,
        effective_at=effective_at or now,
        actor=actor,
        recorded_at=now,
    )
    session.add(entry)
    return entry


def record_revocation(
    session: Session,
    *,
    phone: str,
    creditor_id: str | None,
    channel: str,
    words: str | None,
    message_id: str | None,
    now: datetime,
    actor: str,
) -> ConsentEntry:
    """A number withdrew its consent, in these exact words; it takes effect at once
    and for every creditor that texts the number."""
    entry = ConsentEntry(
        phone=phone,
        creditor_id=creditor_id,
        event="revocation",
        channel=channel,
        words=words,
        message_id=message_id,
        effective_at=now,
        actor=actor,
        recorded_at=now,
    )
    session.add(entry)
    return entry


def record_opt_in(
    session: Session,
    *,
    phone: str,
    creditor_id: str | None,
    words: str,
    message_id: str | None,
    now: datetime,
) -> ConsentEntry:
    """The number asked for texts again (START)."""
    entry = ConsentEntry(
        phone=phone,
        creditor_id=creditor_id,
        event="opt_in",
        channel="sms",
        words=words,
        message_id=message_id,
        effective_at=now,
        actor="debtor",
        recorded_at=now,
    )
    session.add(entry)
    return entry


def ledger_entries(
    session: Session, creditor: Creditor, phone: str | None = None
) -> list[ConsentEntry]:
    """The creditor's ledger: its own entries, and every revocation or opt-in of the
    numbers it texts (they hold for all creditors), oldest first."""
    own_phones = select(Debtor.phone).where(Debtor.creditor_id == creditor.id)
    query = select(ConsentEntry).where(
        or_(
            ConsentEntry.creditor_id == creditor.id,
            ConsentEntry.event.in_(("revocation", "opt_in")) & ConsentEntry.phone.in_(own_phones),
        )
    )
    if phone is not None:
        query = query.where(ConsentEntry.phone == phone)
    return list(session.scalars(query.order_by(ConsentEntry.recorded_at, ConsentEntry.id)))


def ledger_row(entry: ConsentEntry, creditor: Creditor) -> dict[str, str]:
    """One entry as the creditor may see it: another creditor's conversation shows
    that the number revoked, not what it said there."""
    own = entry.creditor_id == creditor.id
    return {
        "recorded_at": entry.recorded_at.isoformat(),
        "phone": entry.phone,
        "event": entry.event,
        "channel": entry.channel,
        "words": (entry.words or "") if own else "",
        "effective_at": entry.effective_at.isoformat(),
        "source": "this creditor" if own else "another conversation with this number",
        "message_id": (entry.message_id or "") if own else "",
        "confirmation_message_id": (entry.confirmation_message_id or "") if own else "",
        "actor": entry.actor if own else "",
    }


def ledger_csv(entries: Iterable[ConsentEntry], creditor: Creditor) -> str:
    """The ledger as CSV (one header line, one line per entry)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LEDGER_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for entry in entries:
        row = ledger_row(entry, creditor)
        # Free text starting with = + - @ would run as a formula in a spreadsheet.
        words = row["words"]
        if words[:1] in ("=", "+", "-", "@"):
            row["words"] = "'" + words
        writer.writerow(row)
    return buffer.getvalue()
