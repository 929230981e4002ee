"""Conversation and reply-parsing API shapes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.debts.schemas import MessageOut


class ParseRequest(BaseModel):
    """`POST /api/v1/replies/parse`."""

    model_config = ConfigDict(extra="ignore")

    text: str = Field(max_length=1600)
    today: date | None = Field(
        default=None, description="the debtor's local date for relative dates (default: today)"
    )
    default_language: str = Field(default="en", pattern="^(en|es|pt)$")


class ParseResult(BaseModel):
    """What `parley classify` prints for one line."""

    text: str
    intent: str = Field(
        description="PAY PLAN CALL CHOICE PROMISE HARDSHIP STATEMENT PAID "
        "DISPUTE WRONG_NUMBER STOP START HELP PREFERENCE UNKNOWN"
    )
    language: str = Field(description="en | es | pt")
    confidence: float
    choice: str | None = Field(description="CHOICE: the menu key, '1'..'9' or 'A'..'Z'")
    promise_date: date | None = Field(description="PROMISE: the promised local date")
    requested_date: date | None = Field(description="CALL: the local date asked for")
    requested_time: str | None = Field(description="CALL: the local time asked for, HH:MM")
    terms: dict[str, Any] | None = Field(
        default=None,
        description="PLAN/HARDSHIP: the terms proposed (amount per period as a decimal "
        "string, periodicity, count, down_payment, down_payment_share, rest_in_months, day)",
    )
    affirmative: bool = Field(default=False, description="a bare yes (accepts a one-option menu)")
    courtesy: bool = Field(default=False, description="only thanks or goodbye")
    paid_on: date | None = Field(default=None, description="PAID: the local date of payment")
    contact_preference: dict[str, Any] | None = Field(
        default=None, description="PREFERENCE: local start/end HH:MM and weekdays_only"
    )


class ConversationOut(BaseModel):
    id: str
    debtor_id: str
    debtor_name: str
    debtor_phone: str
    contact_status: str
    focus_debt_id: str | None
    needs_attention: bool
    attention_reason: str | None
    last_intent: str | None
    last_inbound_at: datetime | None
    menu_kind: str | None
    menu_expires_at: datetime | None
    handled_at: datetime | None
    handled_by: str | None
    assigned_to: str | None = None
    updated_at: datetime


class ConversationList(BaseModel):
    items: list[ConversationOut]


class InboundTextOut(BaseModel):
    """A text as Twilio delivered it, and what the inbound queue made of it."""

    id: int
    provider_sid: str
    from_phone: str
    to_phone: str
    body: str
    received_at: datetime
    state: str = Field(description="pending, processed or failed (given up: a person's)")
    attempts: int
    last_error: str | None = Field(description="why the last try failed")
    processed_at: datetime | None
    message_id: str | None = Field(description="the stored inbound message it became")
    debtor_id: str | None
    conversation_id: str | None = Field(description="where a person takes it over")


class InboundTextList(BaseModel):
    items: list[InboundTextOut]


class ConversationDetail(ConversationOut):
    messages: list[MessageOut]


class AgentMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    body: str = Field(min_length=1, max_length=1600)
    debt_id: str | None = None


class SimulatedSms(BaseModel):
    """`POST /simulator/sms`: a debtor's text, as if Twilio had delivered it."""

    model_config = ConfigDict(extra="forbid")

    from_: str = Field(alias="from", min_length=3, max_length=40)
    body: str = Field(max_length=1600)
    to: str = "+15005550006"


class SimulatedResult(BaseModel):
    message_id: str | None
    duplicate: bool
    intent: str | None
    replies: list[str]
