"""API shapes of the callback calendar and the agents' callback queue."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

from app.callbacks.models import CALLBACK_OUTCOMES, CALLBACK_STATUSES

CallbackStatus = Literal["booked", "claimed", "completed", "canceled"]
CallbackOutcome = Literal["reached", "no_answer", "promise_to_pay", "plan_agreed", "refused"]
# The API's literals must not drift from the models' check constraints.
assert set(get_args(CallbackStatus)) == set(CALLBACK_STATUSES)
assert set(get_args(CallbackOutcome)) == set(CALLBACK_OUTCOMES)


class CalendarIn(BaseModel):
    """`PUT /api/v1/callback-calendar`: the whole calendar (fields left out take their
    defaults). Types are checked here; values (zone, hours, ranges, holiday codes) by
    the slot module, which reports every wrong field at once."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "timezone": "America/New_York",
                "hours": {
                    "mon": ["09:00", "17:00"],
                    "tue": ["09:00", "17:00"],
                    "wed": ["09:00", "17:00"],
                    "thu": ["09:00", "17:00"],
                    "fri": ["09:00", "17:00"],
                },
                "slot_minutes": 30,
                "capacity": 2,
                "holiday_country": "US",
            }
        },
    )

    timezone: str | None = Field(default=None, description="IANA zone of the team")
    hours: dict[str, list[str] | None] | None = Field(
        default=None,
        description='weekday (mon..sun) -> ["HH:MM", "HH:MM"] local open and close; '
        "a weekday left out is closed",
    )
    slot_minutes: StrictInt | None = None
    capacity: StrictInt | None = Field(default=None, description="agents per slot")
    holiday_country: str | None = Field(default=None, description="ISO 3166 code, e.g. US")
    holiday_subdivision: str | None = Field(default=None, description="e.g. NY, SP")
    closed_dates: list[str] | None = Field(default=None, description="extra closed ISO dates")
    lead_minutes: StrictInt | None = Field(
        default=None, description="minimum notice before an offered slot (default 60)"
    )
    reminder_minutes_before: StrictInt | None = Field(
        default=None, description="reminder text this long before the call; 0 = none (default 60)"
    )


class CalendarOut(BaseModel):
    """The team's callback calendar."""

    timezone: str
    hours: dict[str, list[str]]
    slot_minutes: int
    capacity: int
    holiday_country: str | None
    holiday_subdivision: str | None
    closed_dates: list[date]
    lead_minutes: int
    reminder_minutes_before: int
    updated_at: datetime


class CallbackOut(BaseModel):
    """One callback in the agents' queue. `starts_at`/`ends_at` are UTC; the `*_local`
    fields show the same instants in the team's and in the debtor's zone."""

    id: str
    debt_id: str | None
    debtor_id: str
    debtor_name: str
    debtor_phone: str
    starts_at: datetime
    ends_at: datetime
    status: str
    agent: str | None
    outcome: str | None
    notes: str | None
    source: str
    seat: int | None
    reminder_sent_at: datetime | None
    team_timezone: str
    starts_at_local: datetime
    ends_at_local: datetime
    debtor_timezone: str
    debtor_starts_at_local: datetime
    debtor_ends_at_local: datetime
    created_at: datetime
    updated_at: datetime


class CallbackList(BaseModel):
    items: list[CallbackOut]


class ClaimIn(BaseModel):
    """Who takes the call; the API key's name when left out."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    agent: str | None = Field(default=None, min_length=1, max_length=120)


class CompleteIn(BaseModel):
    """How the call went. `no_answer` texts the debtor to pick a new time."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    outcome: CallbackOutcome
    notes: str | None = Field(default=None, max_length=5000)
    agent: str | None = Field(default=None, min_length=1, max_length=120)


class RescheduleIn(BaseModel):
    """Move the call to another open slot (a slot start of the calendar, with offset)."""

    model_config = ConfigDict(extra="forbid")

    starts_at: AwareDatetime
    notify_debtor: bool = Field(default=True, description="text the debtor the new time")


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str | None = Field(default=None, max_length=500)
    notify_debtor: bool = Field(default=True, description="text the debtor it was canceled")


class BriefDebtor(BaseModel):
    id: str
    name: str
    phone: str
    language: str
    timezone: str
    contact_status: str


class BriefDebt(BaseModel):
    id: str
    external_id: str
    description: str | None
    # null when the caller's role may not see amounts (agents)
    amount: int | None
    balance: int | None
    currency: str
    balance_display: str | None
    due_date: date
    days_past_due: int
    status: str
    needs_review: bool


class BriefMessage(BaseModel):
    id: str
    direction: str
    kind: str
    body: str
    status: str
    intent: str | None
    debt_id: str | None
    created_at: datetime


class CallbackBrief(BaseModel):
    """What an agent reads before calling: the call, the debtor, the debt in question and
    their other open debts, and every message exchanged with the debtor, oldest first."""

    callback: CallbackOut
    debtor: BriefDebtor
    debt: BriefDebt | None
    other_debts: list[BriefDebt]
    messages: list[BriefMessage]
