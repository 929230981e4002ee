"""Creditors (tenants), their settings, and their API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.access.roles import ROLES, RoleName
from app.db import ID, Base, new_id
from app.texts import LANGUAGES, Language

PAYMENT_SCHEMES = ("boleto", "pix", "reference")
# first_party: collects its own debts; agency: collects for others (a debt collector,
# which must say so, and which Twilio does not let text US or Canadian numbers).
CREDITOR_KINDS = ("first_party", "agency")


class Creditor(Base):
    """A tenant: the company whose debts Parley collects, with its contact and offer settings."""

    __tablename__ = "creditors"
    __table_args__ = (
        CheckConstraint(f"payment_scheme IN {PAYMENT_SCHEMES}", name="payment_scheme"),
        CheckConstraint(f"default_language IN {LANGUAGES}", name="default_language"),
        CheckConstraint("max_initiated_per_day >= 1", name="max_initiated_per_day"),
        CheckConstraint(f"kind IN {CREDITOR_KINDS}", name="kind"),
        CheckConstraint("send_spread_minutes >= 0", name="send_spread_minutes"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="first_party")
    # Shown to debtors in HELP answers and on the payment page.
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    country: Mapped[str] = mapped_column(String(2), default="US")
    default_language: Mapped[Language] = mapped_column(String(8), default="en")
    payment_scheme: Mapped[str] = mapped_column(String(16), default="reference")
    # Local wall-clock "HH:MM" bounds in the debtor's own zone.
    contact_window_start: Mapped[str] = mapped_column(String(5), default="08:00")
    contact_window_end: Mapped[str] = mapped_column(String(5), default="21:00")
    max_initiated_per_day: Mapped[int] = mapped_column(Integer, default=1)
    business_days_only: Mapped[bool] = mapped_column(Boolean, default=False)
    holiday_country: Mapped[str | None] = mapped_column(String(2))
    holiday_subdivision: Mapped[str | None] = mapped_column(String(8))
    mms_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Shown on payment pages: Brazil's CDC art. 42-A wants the creditor's legal name,
    # address and CNPJ/CPF on collection documents.
    legal_name: Mapped[str | None] = mapped_column(String(200))
    tax_id: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(300))
    # Collection agencies must say so in their messages (FDCPA 807(11)); follows `kind`.
    collector_disclosure: Mapped[bool] = mapped_column(Boolean, default=False)
    # This creditor's own sender, overriding PARLEY_TWILIO_FROM / _MESSAGING_SERVICE_SID.
    twilio_from: Mapped[str | None] = mapped_column(String(40))
    twilio_messaging_service_sid: Mapped[str | None] = mapped_column(String(64))
    # Initiated texts are spread over this many minutes from the moment they may first
    # go (the window's opening, usually), never released as one wave; 0 turns it off.
    send_spread_minutes: Mapped[int] = mapped_column(Integer, default=240)
    boleto_bank_code: Mapped[str | None] = mapped_column(String(3))
    boleto_agreement: Mapped[str | None] = mapped_column(String(20))
    pix_key: Mapped[str | None] = mapped_column(String(77))
    pix_merchant_city: Mapped[str | None] = mapped_column(String(15))
    reference_prefix: Mapped[str | None] = mapped_column(String(6))
    # Next number for payment codes (boleto "nosso numero", reference sequence);
    # taken under a row lock so two codes never share one.
    next_payment_sequence: Mapped[int] = mapped_column(Integer, default=1)
    # Automatic statements: before, on and after the due date (days relative to it),
    # then a re-bill every `rebill_every_days` while the debt stays open.
    cadence_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    cadence_offsets: Mapped[list[Any]] = mapped_column(default=lambda: [-3, 0, 7])
    rebill_every_days: Mapped[int] = mapped_column(Integer, default=30)
    # Unanswered statements before a person is asked to look, and (twice that) before
    # the debt is flagged for an agency or legal review.
    escalate_after_unanswered: Mapped[int] = mapped_column(Integer, default=3)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ApiKey(Base):
    """A bearer key of one creditor, stored only as a salted HMAC-SHA256 digest
    (app/api_keys.py), found by its clear prefix."""

    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint(f"role IN {ROLES}", name="role"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    creditor_id: Mapped[str] = mapped_column(ForeignKey("creditors.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    # admin, agent or viewer: what each may do is in app/access/roles.py.
    role: Mapped[RoleName] = mapped_column(String(8), default="admin")
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Random per key; NULL only for keys stored before salts (a bare SHA-256 digest).
    key_salt: Mapped[str | None] = mapped_column(String(32))
    key_prefix: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    # Never used when NULL; refreshed at most once a minute.
    last_used_at: Mapped[datetime | None]
    # The key stops working at this moment when set.
    expires_at: Mapped[datetime | None]
