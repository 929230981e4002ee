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
