"""Request and response bodies of the messaging endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class ReviewDecision(BaseModel):
    """A person's verdict on a message the worker could not account for
    (`needs_review`): `sent` (the provider has it: never send it again), `resend` (it
    did not go: send it now), or `cancel` (leave it unsent)."""

    outcome: Literal["sent", "resend", "cancel"]
    note: str | None = Field(default=None, max_length=500)


class ReviewedMessage(BaseModel):
    id: str
    status: str
    send_after: datetime | None
    error_message: str | None


class LaneOut(BaseModel):
    """A sending lane: `paused_until` is set while it paused itself after Twilio said
    it goes too fast (`pause_code` 429 / 20429, 30001, 63017)."""

    key: str
    paused: bool
    paused_until: datetime | None
    pause_code: int | None
    pause_reason: str | None
    messages_per_second: int = Field(description="0: no limit")
    segments_per_day: int | None = Field(default=None, description="0: no limit")
    segments_today: int


class DeliverabilityOut(BaseModel):
    """The deliverability guard over the creditor's last `sample` initiated texts."""

    paused: bool
    paused_since: datetime | None
    reason: str | None
    sample: int
    window: int
    opt_out_rate: float
    filtered_rate: float
    max_opt_out_rate: float
    max_filtered_rate: float
    resumed_at: datetime | None


class SendingOut(BaseModel):
    lane: LaneOut
    account: LaneOut
    deliverability: DeliverabilityOut
    # Texts waiting in the outbox, by held_reason.
    held: dict[str, int]


class ResumedOut(BaseModel):
    resumed: bool
    released: int
