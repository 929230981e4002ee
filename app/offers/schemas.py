"""Offer rules, offers and plans as the API shows and accepts them."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.money import is_known_currency

# The most days before a due date a plan reminds (plan jobs read no installment due later).
MAX_REMINDER_DAYS_BEFORE = 30
MAX_INSTALLMENTS = 60
PERIODICITIES = ("monthly", "biweekly", "weekly")
# The largest amount the debts table takes (amounts are capped at 10^15 on import).
MAX_MONEY = 10**15


def pct_text(value: Decimal) -> str:
    """A percentage as the API writes it: "10", "1.99" (never "1E+1")."""
    return format(value.normalize(), "f")


def _percentage(value: Any, places: int) -> Decimal:
    """Percentages travel as decimal strings ("12.5"); floats are refused because they
    cannot say exactly what the finance team meant."""
    if isinstance(value, bool | float):
        raise ValueError('must be a decimal string such as "12.5", not a JSON number')
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValueError('must be a decimal string such as "12.5"') from exc
    if not number.is_finite() or not 0 <= number <= 100:
        raise ValueError("must be between 0 and 100")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        raise ValueError(f"at most {places} decimal places")
    return number


class OfferRuleFields(BaseModel):
    """Fields shared by create and update; every limit is checked here."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=120)
    priority: int = Field(ge=0, le=10_000, description="higher wins when several rules match")
    min_balance: int | None = Field(default=None, ge=0, le=MAX_MONEY, description="minor units")
    max_balance: int | None = Field(default=None, ge=0, le=MAX_MONEY, description="minor units")
    min_days_past_due: int | None = Field(default=None, ge=0, le=36_500)
    max_days_past_due: int | None = Field(default=None, ge=0, le=36_500)
    tags: list[str] | None = Field(default=None, max_length=20)
    currency: str | None = Field(default=None, description="ISO 4217; None matches any")
    lump_sum_discount_pct: Decimal = Field(description='decimal string, 0-100, e.g. "15"')
    lump_sum_valid_days: int = Field(ge=0, le=365)
    installment_counts: list[int] = Field(max_length=MAX_INSTALLMENTS)
    monthly_interest_pct: Decimal = Field(description='decimal string, 0-100, e.g. "1.99"')
    min_installment: int = Field(ge=1, le=MAX_MONEY, description="minor units")
    first_installment_in_days: int = Field(ge=0, le=120)
    grace_days: int = Field(default=5, ge=0, le=60)
    break_after_days: int = Field(default=30, ge=1, le=365)
    reminder_days_before: int = Field(default=3, ge=0, le=MAX_REMINDER_DAYS_BEFORE)
    down_payment_allowed: bool = Field(
        default=True, description="whether a debtor may propose a down payment"
    )
    down_payment_min_pct: Decimal = Field(
        default=Decimal(0), description='minimum down payment share of the balance, e.g. "20"'
    )
    periodicities: list[str] = Field(
        default_factory=lambda: ["monthly"],
        min_length=1,
        description="installment periods a plan may use: monthly, biweekly, weekly",
    )
    due_day_max_shift_days: int | None = Field(
        default=None,
        ge=0,
        le=365,
        description="how many days a debtor may move the first due date; null: any day",
    )
    hardship_installment_counts: list[int] | None = Field(
        default=None,
        max_length=MAX_INSTALLMENTS,
        description="extra (longer) installment counts offered to a debtor in hardship",
    )
    hardship_pause_days: int = Field(
        default=0, ge=0, le=120, description="extra days before the first installment in hardship"
    )

    @field_validator("down_payment_min_pct", mode="before")
    @classmethod
    def _down_payment(cls, value: Any) -> Decimal:
        return _percentage(value, 2)

    @field_validator("periodicities")
    @classmethod
    def _periodicities(cls, value: list[str]) -> list[str]:
        unknown = [p for p in value if p not in PERIODICITIES]
        if unknown:
            raise ValueError(f"each periodicity must be one of {', '.join(PERIODICITIES)}")
        return [p for p in PERIODICITIES if p in value]

    @field_validator("lump_sum_discount_pct", mode="before")
    @classmethod
    def _discount(cls, value: Any) -> Decimal:
        return _percentage(value, 2)

    @field_validator("monthly_interest_pct", mode="before")
    @classmethod
    def _interest(cls, value: Any) -> Decimal:
        return _percentage(value, 4)

    @field_validator("installment_counts", "hardship_installment_counts", mode="before")
    @classmethod
    def _counts(cls, value: Any) -> Any:
        if isinstance(value, list):
            for count in value:
                if isinstance(count, bool) or not isinstance(count, int):
                    raise ValueError("must be a list of whole numbers")
                if not 1 <= count <= MAX_INSTALLMENTS:
                    raise ValueError(f"each count must be between 1 and {MAX_INSTALLMENTS}")
            if len(set(value)) != len(value):
                raise ValueError("counts must not repeat")
            return sorted(value)
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        if value is not None and not is_known_currency(value.upper()):
            raise ValueError("unknown ISO 4217 currency code")
        return value.upper() if value else value

    @model_validator(mode="after")
    def _ranges(self) -> OfferRuleFields:
        if (
            self.min_balance is not None
            and self.max_balance is not None
            and self.min_balance > self.max_balance
        ):
            raise ValueError("min_balance must not exceed max_balance")
        if (
            self.min_days_past_due is not None
            and self.max_days_past_due is not None
            and self.min_days_past_due > self.max_days_past_due
        ):
            raise ValueError("min_days_past_due must not exceed max_days_past_due")
        if self.break_after_days <= self.grace_days:
            raise ValueError("break_after_days must be longer than grace_days")
        if self.lump_sum_discount_pct > 0 and self.lump_sum_valid_days < 1:
            raise ValueError("a lump-sum discount needs lump_sum_valid_days of at least 1")
        return self


class OfferRuleIn(OfferRuleFields):
    """`POST /api/v1/offer-rules`."""


class OfferRulePatch(BaseModel):
    """`PATCH /api/v1/offer-rules/{id}`: any subset of fields; `active` deactivates."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    priority: int | None = None
    min_balance: int | None = None
    max_balance: int | None = None
    min_days_past_due: int | None = None
    max_days_past_due: int | None = None
    tags: list[str] | None = None
    currency: str | None = None
    lump_sum_discount_pct: Any = None
    lump_sum_valid_days: int | None = None
    installment_counts: list[Any] | None = None
    monthly_interest_pct: Any = None
    min_installment: int | None = None
    first_installment_in_days: int | None = None
    grace_days: int | None = None
    break_after_days: int | None = None
    reminder_days_before: int | None = None
    down_payment_allowed: bool | None = None
    down_payment_min_pct: Any = None
    periodicities: list[Any] | None = None
    due_day_max_shift_days: int | None = None
    hardship_installment_counts: list[Any] | None = None
    hardship_pause_days: int | None = None
    active: bool | None = None


class OfferRuleOut(BaseModel):
    id: str
    name: str
    priority: int
    min_balance: int | None
    max_balance: int | None
    min_days_past_due: int | None
    max_days_past_due: int | None
    tags: list[str] | None
    currency: str | None
    lump_sum_discount_pct: str
    lump_sum_valid_days: int
    installment_counts: list[int]
    monthly_interest_pct: str
    min_installment: int
    first_installment_in_days: int
    grace_days: int
    break_after_days: int
    reminder_days_before: int
    down_payment_allowed: bool
    down_payment_min_pct: str
    periodicities: list[str]
    due_day_max_shift_days: int | None
    hardship_installment_counts: list[int] | None
    hardship_pause_days: int
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime


class PlanOptionOut(BaseModel):
    option: int
    count: int
    installment: int
    last_installment: int
    total: int
    amounts: list[int]


class LumpSumOut(BaseModel):
    amount: int
    discount: int
    discount_pct: str
    expires_on: date


class RuleVerdictOut(BaseModel):
    rule_id: str
    name: str
    priority: int
    applies: bool
    reason: str


class OffersOut(BaseModel):
    debt_id: str
    balance: int
    currency: str
    days_past_due: int
    rule: OfferRuleOut | None
    rule_version: int | None
    rule_version_id: str | None
    lump_sum: LumpSumOut | None
    plans: list[PlanOptionOut]
    rules: list[RuleVerdictOut] = Field(description="every rule, and why it did or did not apply")


class InstallmentOut(BaseModel):
    id: str
    number: int
    amount: int
    paid_amount: int
    due_date: date
    status: str
    payment_code: str | None = Field(description="reference of the installment's active code")
    payment_url: str | None


class PlanOut(BaseModel):
    id: str
    debt_id: str
    status: str
    principal: int
    total: int
    currency: str
    installment_count: int
    monthly_interest_pct: str
    rule_version_id: str
    created_at: datetime
    installments: list[InstallmentOut]
