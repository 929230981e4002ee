"""Offer rules (versioned), installment plans and their installments."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, get_args

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import ID, Base, new_id

# active: being paid; completed: every installment paid; broken: an installment stayed
# unpaid past the grace and break periods; canceled: replaced or withdrawn.
PlanStatus = Literal["active", "completed", "broken", "canceled"]
PLAN_STATUSES: tuple[PlanStatus, ...] = get_args(PlanStatus)
# pending: not yet due or due and within grace; late: past grace; paid; canceled.
InstallmentStatus = Literal["pending", "late", "paid", "canceled"]
INSTALLMENT_STATUSES: tuple[InstallmentStatus, ...] = get_args(InstallmentStatus)


class OfferRule(Base):
    """What the finance team allows for debts in a balance and days-past-due range.
    The current terms live here; every edit also writes an OfferRuleVersion."""

    __tablename__ = "offer_rules"
    __table_args__ = (
        UniqueConstraint("creditor_id", "name"),
        CheckConstraint(
            "lump_sum_discount_pct >= 0 AND lump_sum_discount_pct <= 100", name="discount_range"
        ),
        CheckConstraint("min_installment >= 0", name="min_installment"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    creditor_id: Mapped[str] = mapped_column(ForeignKey("creditors.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    priority: Mapped[int] = mapped_column(Integer)
    min_balance: Mapped[int | None] = mapped_column(BigInteger)
    max_balance: Mapped[int | None] = mapped_column(BigInteger)
    min_days_past_due: Mapped[int | None] = mapped_column(Integer)
    max_days_past_due: Mapped[int | None] = mapped_column(Integer)
    tags: Mapped[list[Any] | None]
    # Money limits are in this currency's minor units; None matches any currency.
    currency: Mapped[str | None] = mapped_column(String(3))
    lump_sum_discount_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    lump_sum_valid_days: Mapped[int] = mapped_column(Integer)
    installment_counts: Mapped[list[Any]]
    monthly_interest_pct: Mapped[Decimal] = mapped_column(Numeric(7, 4))
    min_installment: Mapped[int] = mapped_column(BigInteger)
    first_installment_in_days: Mapped[int] = mapped_column(Integer)
    grace_days: Mapped[int] = mapped_column(Integer, default=5)
    break_after_days: Mapped[int] = mapped_column(Integer, default=30)
    reminder_days_before: Mapped[int] = mapped_column(Integer, default=3)
    # Negotiation limits (issue 14). The defaults let a rule written to the original
    # contract negotiate unchanged: down payments of any share, monthly, any day.
    down_payment_allowed: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    down_payment_min_pct: Mapped[Decimal] = mapped_column(
        Numeric(5, 2), default=Decimal(0), server_default="0"
    )
    periodicities: Mapped[list[Any]] = mapped_column(
        default=lambda: ["monthly"], server_default=text("'[\"monthly\"]'")
    )
    # How many days a debtor may move the first due date; None: any day of the month.
    due_day_max_shift_days: Mapped[int | None] = mapped_column(Integer)
    # Hardship settings: longer plans and a pause before the first installment.
    hardship_installment_counts: Mapped[list[Any] | None]
    hardship_pause_days: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class OfferRuleVersion(Base):
    """An immutable snapshot of a rule's terms; offers and plans point at one."""

    __tablename__ = "offer_rule_versions"
    __table_args__ = (UniqueConstraint("rule_id", "version"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    rule_id: Mapped[str] = mapped_column(ForeignKey("offer_rules.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    terms: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class Plan(Base):
    """An agreed installment plan for one debt."""

    __tablename__ = "plans"
    __table_args__ = (CheckConstraint(f"status IN {PLAN_STATUSES}", name="status"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    creditor_id: Mapped[str] = mapped_column(ForeignKey("creditors.id"), index=True)
    debt_id: Mapped[str] = mapped_column(ForeignKey("debts.id"), index=True)
    debtor_id: Mapped[str] = mapped_column(ForeignKey("debtors.id"))
    rule_version_id: Mapped[str] = mapped_column(ForeignKey("offer_rule_versions.id"))
    status: Mapped[PlanStatus] = mapped_column(String(16), default="active")
    principal: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    installment_count: Mapped[int] = mapped_column(Integer)
    monthly_interest_pct: Mapped[Decimal] = mapped_column(Numeric(7, 4))
    grace_days: Mapped[int] = mapped_column(Integer)
    break_after_days: Mapped[int] = mapped_column(Integer)
    reminder_days_before: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class Installment(Base):
    """One scheduled payment of a plan, with what has been paid towards it."""

    __tablename__ = "installments"
    __table_args__ = (
        UniqueConstraint("plan_id", "number"),
        CheckConstraint(f"status IN {INSTALLMENT_STATUSES}", name="status"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("paid_amount >= 0 AND paid_amount <= amount", name="paid_amount_range"),
        # The plan job reads the installments still to be paid on every tick.
        Index(
            "ix_installments_open",
            "due_date",
            postgresql_where=text("status IN ('pending', 'late')"),
            sqlite_where=text("status IN ('pending', 'late')"),
        ),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"), index=True)
    debt_id: Mapped[str] = mapped_column(ForeignKey("debts.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)
    paid_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    due_date: Mapped[date] = mapped_column(Date)
    status: Mapped[InstallmentStatus] = mapped_column(String(16), default="pending")
    paid_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    late_notice_at: Mapped[datetime | None]

    @property
    def outstanding(self) -> int:
        return self.amount - self.paid_amount
