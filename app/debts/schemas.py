"""Debt import rows and API shapes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from app.messaging.models import Message
from app.money import is_known_currency

EARLIEST_DUE_DATE = date(1970, 1, 1)
LATEST_DUE_DATE = date(2099, 12, 31)


def _no_control_characters(value: Any) -> Any:
    # A NUL byte is refused by PostgreSQL, an unpaired surrogate cannot be encoded at all;
    # other control characters have no place in names, ids or descriptions either.
    if isinstance(value, str) and any(
        (ord(c) < 32 and c not in "\t") or "\ud800" <= c <= "\udfff" for c in value
    ):
        raise ValueError("must not contain control characters or unpaired surrogates")
    if isinstance(value, list):
        for item in value:
            _no_control_characters(item)
    return value


class DebtorIn(BaseModel):
    """The person who owes: name and mobile number; language and zone when known."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    phone: str = Field(min_length=3, max_length=40)
    language: str | None = None
    timezone: str | None = None
    # How consent to text the number was obtained ("signed form 2026-03-01"), kept in
    # the consent ledger.
    consent: str | None = Field(default=None, max_length=500)

    _clean = field_validator("name", "phone", "language", "timezone", "consent", mode="before")(
        _no_control_characters
    )


class DebtIn(BaseModel):
    """One row of an import. Amounts are integers in minor units (cents)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    external_id: str = Field(min_length=1, max_length=120)
    debtor: DebtorIn
    amount: StrictInt = Field(gt=0, le=10**15)
    currency: str
    due_date: date
    description: str | None = Field(default=None, max_length=500)
    tags: list[str] | None = Field(default=None, max_length=20)

    _clean = field_validator("external_id", "currency", "description", "tags", mode="before")(
        _no_control_characters
    )

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        code = value.upper()
        if not is_known_currency(code):
            raise ValueError("unknown ISO 4217 currency code")
        return code

    @field_validator("due_date", mode="before")
    @classmethod
    def _strict_date(cls, value: Any) -> Any:
        if isinstance(value, str) and len(value.strip()) != 10:
            raise ValueError("must be an ISO date YYYY-MM-DD")
        return value

    @field_validator("due_date")
    @classmethod
    def _plausible_date(cls, value: date) -> date:
        if not EARLIEST_DUE_DATE <= value <= LATEST_DUE_DATE:
            raise ValueError(
                f"must be between {EARLIEST_DUE_DATE.isoformat()} and {LATEST_DUE_DATE.isoformat()}"
            )
        return value


class ImportRequest(BaseModel):
    """`POST /api/v1/debts`: rows are validated one by one, so they arrive untyped."""

    items: list[Any] = Field(max_length=10_000)


class RowError(BaseModel):
    field: str
    message: str


class ImportResult(BaseModel):
    external_id: str | None
    status: str = Field(description="created | updated | error")
    id: str | None = None
    errors: list[RowError] | None = None


class ImportResponse(BaseModel):
    results: list[ImportResult]


class CsvImportSummary(BaseModel):
    total: int
    created: int
    updated: int
    failed: int
    errors: list[dict[str, Any]] = Field(
        description="The first 1,000 failed rows: line number, external_id and why"
    )


class ContactWindowOut(BaseModel):
    """What the debtor asked for, in their local time; the creditor's window still holds."""

    start: str | None = Field(description="local HH:MM, null when only the days are limited")
    end: str | None = Field(description="local HH:MM")
    weekdays_only: bool


class DebtorOut(BaseModel):
    id: str
    name: str
    phone: str
    language: str
    timezone: str
    contact_status: str
    contact_window: ContactWindowOut | None = None


AMOUNT_HIDDEN = "null when the caller's role may not see amounts (agents)"


class DebtOut(BaseModel):
    id: str
    external_id: str
    status: str
    amount: int | None = Field(description=AMOUNT_HIDDEN)
    balance: int | None = Field(description=AMOUNT_HIDDEN)
    currency: str
    due_date: date
    description: str | None
    needs_review: bool
    debtor: DebtorOut
    contact_window: ContactWindowOut | None = Field(
        default=None, description="the debtor's stated contact preference, if any"
    )
    created_at: datetime
    updated_at: datetime


class DebtList(BaseModel):
    items: list[DebtOut]
    total: int = Field(description="how many debts match, over all pages")


class EventOut(BaseModel):
    id: str
    type: str = Field(description="what changed, e.g. debt.status, payment.applied")
    at: datetime
    actor: str = Field(description='"api_key:<id>", "user:<id>", "debtor", "worker", ...')
    actor_name: str | None = Field(
        description="the API key's name or the user's email, when the actor is one"
    )
    debt_id: str | None
    from_value: str | None = Field(description=AMOUNT_HIDDEN + " on money events")
    to_value: str | None = Field(description=AMOUNT_HIDDEN + " on money events")
    data: dict[str, Any] | None = Field(description=AMOUNT_HIDDEN + " on money events")


class EventList(BaseModel):
    items: list[EventOut]
    total: int


class MessageOut(BaseModel):
    id: str
    direction: str
    kind: str
    body: str
    status: str
    created_at: datetime
    send_after: datetime | None
    # Why it is not sent now (outside_window, daily_cap, holiday, opted_out,
    # suppression, agency_rule, pacing, lane_budget, lane_paused ...); None otherwise.
    held_reason: str | None
    sent_at: datetime | None
    delivered_at: datetime | None
    segments: int
    encoding: str
    error_code: int | None
    # Why a text did not go (yet): the provider's error, or the reason it expired or
    # waits for a person (status needs_review).
    error_message: str | None = None
    intent: str | None


class MessageList(BaseModel):
    items: list[MessageOut]


class StatementQueued(BaseModel):
    message: MessageOut


class DebtReview(BaseModel):
    """`PATCH /api/v1/debts/{id}`: a person's decision on a flagged debt."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["open", "closed"] | None = Field(
        default=None, description="open: resume collection (back to its plan if one runs)"
    )
    needs_review: bool | None = None
    note: str | None = Field(default=None, max_length=500)


# The statuses of a text not (yet) sent: those carry why.
HOLDABLE = ("queued", "scheduled", "canceled")


def message_out(message: Message) -> MessageOut:
    """The API view of one message."""
    return MessageOut(
        id=message.id,
        direction=message.direction,
        kind=message.kind,
        body=message.body,
        status=message.status,
        created_at=message.created_at,
        send_after=message.send_after,
        held_reason=message.held_reason if message.status in HOLDABLE else None,
        sent_at=message.sent_at,
        delivered_at=message.delivered_at,
        segments=message.segments,
        encoding=message.encoding,
        error_code=message.error_code,
        error_message=message.error_message,
        intent=message.intent,
    )
