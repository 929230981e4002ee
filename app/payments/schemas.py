"""Payment webhook and payment-code API shapes."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator


class PaymentIn(BaseModel):
    """`POST /webhooks/payments`: one payment the processor received. `amount` is in
    minor units; `reference` is a payment code Parley issued."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    payment_id: str = Field(min_length=1, max_length=128)
    reference: str = Field(min_length=1, max_length=128)
    amount: StrictInt = Field(gt=0, le=10**15)
    currency: str = Field(pattern=r"^[A-Za-z]{3}$")
    paid_at: datetime

    @field_validator("payment_id", "reference")
    @classmethod
    def _printable(cls, value: str) -> str:
        if not value.isprintable():
            raise ValueError("must not contain control characters")
        return value

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @field_validator("paid_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        # A processor that omits the offset means UTC (ISO 8601 has no better default).
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        if not 1970 <= value.year <= 2099:
            raise ValueError("must be a date between 1970 and 2099")
        try:
            return value.astimezone(UTC)
        except OverflowError as exc:
            raise ValueError("is out of range") from exc


class DebtState(BaseModel):
    """The debt a payment went to, as it stands now."""

    id: str
    status: str
    balance: int
    currency: str


class PaymentResult(BaseModel):
    """What the webhook did with a payment. `status`: applied | unmatched |
    currency_mismatch; `replay` when this payment_id had been received before (the
    outcome is the original one)."""

    status: str
    payment_id: str
    reference: str
    amount: int
    currency: str
    applied_amount: int
    excess_amount: int
    written_off: int
    needs_review: bool
    replay: bool
    debt: DebtState | None


class PaymentCodeOut(BaseModel):
    """A payment code issued for a debt: `reference` is what the payment webhook quotes,
    `display` what the debtor types or copies, `url` the payment page."""

    id: str
    reference: str
    display: str
    amount: int
    currency: str
    due_date: date
    expires_on: date | None
    kind: str
    scheme: str
    status: str
    url: str
    image_url: str
    installment_id: str | None
    created_at: datetime
    paid_at: datetime | None


class PaymentCodeList(BaseModel):
    """The codes issued for a debt, oldest first."""

    items: list[PaymentCodeOut]


class PaymentOut(BaseModel):
    """A payment the processor reported, with the debt it was matched to."""

    id: str
    payment_id: str = Field(description="the processor's id (idempotency key)")
    reference: str
    amount: int
    currency: str
    paid_at: datetime
    status: str = Field(description="applied | unmatched | currency_mismatch")
    applied_amount: int
    excess_amount: int
    needs_review: bool
    debt_id: str | None
    debt_external_id: str | None
    debtor_name: str | None
    created_at: datetime


class PaymentList(BaseModel):
    items: list[PaymentOut]
    total: int


class PaymentReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=500)
