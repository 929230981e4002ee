"""Payment codes Parley issues and payments the processor reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, get_args

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import ID, Base, new_id

PaymentCodeKind = Literal["balance", "lump_sum", "installment"]
PAYMENT_CODE_KINDS: tuple[PaymentCodeKind, ...] = get_args(PaymentCodeKind)
# active: payable; paid: fully paid; expired: past its due/expiry date (a new one is
# issued on demand); superseded: replaced by a code for a different amount; canceled.
PaymentCodeStatus = Literal["active", "paid", "expired", "superseded", "canceled"]
PAYMENT_CODE_STATUSES: tuple[PaymentCodeStatus, ...] = get_args(PaymentCodeStatus)
# applied: matched and applied to a debt; unmatched: unknown reference; currency_mismatch:
# matched but in another currency (not applied); both wait for a human.
PaymentStatus = Literal["applied", "unmatched", "currency_mismatch"]
PAYMENT_STATUSES: tuple[PaymentStatus, ...] = get_args(PaymentStatus)


@dataclass(frozen=True)
class PayTerms:
    """What a payment code asks the debtor to pay (offers decide it, payments issue it)."""

    kind: PaymentCodeKind
    amount: int
    due_date: date
    expires_on: date | None = None
    installment_id: str | None = None
    rule_version_id: str | None = None
    discount: int = 0


class PaymentCode(Base):
    """One amount Parley asked for, with the code the debtor pays it by."""

    __tablename__ = "payment_codes"
    __table_args__ = (
        UniqueConstraint("creditor_id", "scheme", "sequence"),
        CheckConstraint(f"kind IN {PAYMENT_CODE_KINDS}", name="kind"),
        CheckConstraint(f"status IN {PAYMENT_CODE_STATUSES}", name="status"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    creditor_id: Mapped[str] = mapped_column(ForeignKey("creditors.id"), index=True)
    debt_id: Mapped[str] = mapped_column(ForeignKey("debts.id"), index=True)
    installment_id: Mapped[str | None] = mapped_column(ForeignKey("installments.id"))
    rule_version_id: Mapped[str | None] = mapped_column(ForeignKey("offer_rule_versions.id"))
    kind: Mapped[PaymentCodeKind] = mapped_column(String(16))
    scheme: Mapped[str] = mapped_column(String(16))
    sequence: Mapped[int] = mapped_column(BigInteger)
    # What the payment webhook quotes back.
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    # What the debtor types or copies (typed line, PIX payload, reference).
    display: Mapped[str] = mapped_column(String(512))
    # What the barcode image encodes (44-digit boleto barcode, reference) or the QR text.
    barcode_data: Mapped[str] = mapped_column(String(512))
    amount: Mapped[int] = mapped_column(BigInteger)
    # For a lump-sum code: the discount the rule allowed when it was issued; paying the
    # code in full writes off at most this much.
    discount: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    due_date: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[PaymentCodeStatus] = mapped_column(String(16), default="active")
    # Unguessable (>= 128 bits) and URL-safe: the payment page and image links.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]


class Payment(Base):
    """A payment reported by the bank/processor, stored once per payment_id."""

    __tablename__ = "payments"
    __table_args__ = (CheckConstraint(f"status IN {PAYMENT_STATUSES}", name="status"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    payment_id: Mapped[str] = mapped_column(String(128), unique=True)
    creditor_id: Mapped[str | None] = mapped_column(ForeignKey("creditors.id"), index=True)
    payment_code_id: Mapped[str | None] = mapped_column(ForeignKey("payment_codes.id"))
    debt_id: Mapped[str | None] = mapped_column(ForeignKey("debts.id"), index=True)
    reference: Mapped[str] = mapped_column(String(128))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    paid_at: Mapped[datetime]
    status: Mapped[PaymentStatus] = mapped_column(String(24))
    applied_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    # More than the debt's balance: kept as a credit for a human to refund or apply.
    excess_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    raw: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
