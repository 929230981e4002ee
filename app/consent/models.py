"""The consent ledger and debtor suppressions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import ID, Base, new_id

# consent: how and when the creditor says it got consent to text the number;
# revocation: the number withdrew it (STOP in any words, a provider opt-out);
# opt_in: the number asked for texts again (START).
CONSENT_EVENTS = ("consent", "revocation", "opt_in")
# import: a column of the import (API or CSV); api: recorded through the API;
# sms: the debtor's own text; provider: the provider reported the opt-out (21610).
CONSENT_CHANNELS = ("import", "api", "sms", "provider")

# Why a debtor must not be contacted. Replies to the debtor's own texts are still
# answered only for REPLIES_ALLOWED: a dispute stops collection but not the
# conversation, and under a breathing space the debtor may still ask; the others
# (a lawyer speaks for them, a bankruptcy stay, a death, a cease-and-desist letter)
# stop every text but the one opt-out confirmation.
SUPPRESSION_REASONS = (
    "attorney_represented",
    "bankruptcy",
    "deceased",
    "cease_and_desist",
    "breathing_space",
    "dispute",
)
REPLIES_ALLOWED = frozenset({"dispute", "breathing_space"})


class ConsentEntry(Base):
    """One line of a number's consent history, never changed once written."""

    __tablename__ = "consent_entries"
    __table_args__ = (
        CheckConstraint(f"event IN {CONSENT_EVENTS}", name="event"),
        CheckConstraint(f"channel IN {CONSENT_CHANNELS}", name="channel"),
        Index("ix_consent_entries_phone_recorded", "phone", "recorded_at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    phone: Mapped[str] = mapped_column(String(40))
    # The creditor whose conversation or import it came from; None for a number no
    # creditor knew yet. A revocation holds for every creditor all the same.
    creditor_id: Mapped[str | None] = mapped_column(ForeignKey("creditors.id"), index=True)
    event: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    # The debtor's exact words (revocations, opt-ins), or how consent was obtained.
    words: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(36))
    # When it took effect: at once for a revocation.
    effective_at: Mapped[datetime]
    # The one confirmation of an opt-out the rules allow, when one was sent.
    confirmation_message_id: Mapped[str | None] = mapped_column(String(36))
    actor: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime]


class Suppression(Base):
    """A reason not to contact a debtor (for one creditor), with evidence and an
    optional end; lifted by a person or when its end passes."""

    __tablename__ = "suppressions"
    __table_args__ = (CheckConstraint(f"reason IN {SUPPRESSION_REASONS}", name="reason"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    creditor_id: Mapped[str] = mapped_column(ForeignKey("creditors.id"), index=True)
    debtor_id: Mapped[str] = mapped_column(ForeignKey("debtors.id"), index=True)
    reason: Mapped[str] = mapped_column(String(32))
    evidence_note: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    lifted_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
